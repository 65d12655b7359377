"""A fake X API v2 on 127.0.0.1 for tests: filtered stream, stream rules, recent search.

Built from the recorded payloads in shared/data/x-v2: each post it makes is a real stream
line's tweet object (with its real includes) given a new, increasing id, a creation time of
"now" and one of the campaign's hashtags, so every post is distinct and matched by a rule.

Faults come from a schedule: one ``Plan`` per stream connection attempt — a healthy stream
that then breaks in the middle of a line, stalls in silence, or sends an operational-disconnect
object; a connection reset before any response; an HTTP error (503, 429 with a reset time...).
Posts made while the stream is down (``offline``) exist only for recent search, like the posts
a real outage misses. Search answers carry ``x-rate-limit-*`` headers and can be told to
answer 429 or to report the limit used up. Every request must carry ``Bearer <token>``.

Everything the server did is logged (``conns``, ``search_log``, ``stream_params``) with wall
times, so tests can check gap bounds, backfill windows and rate-limit waits against it.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
import re
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import orjson
from aiohttp import web

FIRST_POST_ID = 1_900_000_000_000_000_000
FIRST_RULE_ID = 1_800_000_000_000_000_000

OPERATIONAL_DISCONNECT = {
    "errors": [
        {
            "title": "operational-disconnect",
            "disconnect_type": "UpstreamOperationalDisconnect",
            "detail": "This stream has been disconnected upstream for operational reasons.",
            "type": "https://api.twitter.com/2/problems/operational-disconnect",
        }
    ]
}
TOO_MANY_CONNECTIONS = {
    "title": "ConnectionException",
    "detail": "This stream is currently at the maximum allowed connection limit.",
    "connection_issue": "TooManyConnections",
    "type": "https://api.twitter.com/2/problems/streaming-connection",
}
SERVICE_UNAVAILABLE = {
    "title": "Service Unavailable",
    "detail": "Service Unavailable",
    "type": "about:blank",
    "status": 503,
}


@dataclass
class Plan:
    """What the server does with one stream connection attempt."""

    kind: Literal["ok", "reset", "http"] = "ok"
    posts: int = 0  # ok: posts streamed before ``then``
    then: Literal["keep", "cut", "stall", "disconnect", "close"] = "keep"
    offline: int = 0  # posts made during the outage this attempt causes or prolongs
    status: int = 200
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Conn:
    plan: Plan
    at: float  # when the request arrived
    ok_at: float | None = None  # when the 200 and first bytes went out
    last_full_write: float | None = None  # last complete line or keep-alive written
    streamed: list[str] = field(default_factory=list)
    ended: str = ""


@dataclass
class FakePost:
    id: str
    created: float
    tag: str
    data: dict[str, Any]
    includes: dict[str, Any]
    offline: bool


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _parse_time(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def load_templates(x_data: Path) -> list[dict[str, Any]]:
    """The complete stream lines of the recording (its last line is cut short on purpose)."""
    out = []
    for line in (x_data / "streaming_output_with_error.jsonl").read_bytes().splitlines():
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        obj.pop("__twarc", None)
        out.append(obj)
    return out


class FakeX:
    def __init__(
        self,
        token: str,
        templates: list[dict[str, Any]],
        hashtags: list[str],
        *,
        keepalive: float = 0.05,
        post_interval: float = 0.003,
        max_rules: int = 1000,
        max_rule_length: int = 1024,
    ) -> None:
        self.token = token
        self.templates = templates
        self.hashtags = hashtags
        self.keepalive = keepalive
        self.post_interval = post_interval
        self.max_rules = max_rules
        self.max_rule_length = max_rule_length
        self.plans: deque[Plan] = deque()
        self.search_faults: deque[tuple[str, int]] = deque()  # ("429"|"exhaust", reset in s)
        self.posts: list[FakePost] = []
        self.lines: dict[str, bytes] = {}  # post id -> the stream line sent for it
        self.conns: list[Conn] = []
        self.rules: dict[str, dict[str, str]] = {}
        self.rule_requests: list[dict[str, Any]] = []
        self.search_log: list[dict[str, Any]] = []
        self.stream_params: list[dict[str, str]] = []
        self.unauthorized = 0
        self._ids = itertools.count(FIRST_POST_ID)
        self._rule_ids = itertools.count(FIRST_RULE_ID)
        self._tokens: dict[str, tuple[list[FakePost], int]] = {}
        self._closing = False
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    # --- lifecycle -------------------------------------------------------------------------

    async def start(self) -> str:
        app = web.Application()
        app.router.add_get("/2/tweets/search/stream", self._stream)
        app.router.add_get("/2/tweets/search/stream/rules", self._get_rules)
        app.router.add_post("/2/tweets/search/stream/rules", self._post_rules)
        app.router.add_get("/2/tweets/search/recent", self._search)
        self._runner = web.AppRunner(app, shutdown_timeout=0.5, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.base_url = f"http://127.0.0.1:{port}"
        return self.base_url

    async def close(self) -> None:
        self._closing = True
        if self._runner is not None:
            await self._runner.cleanup()

    # --- posts -----------------------------------------------------------------------------

    def create(
        self, n: int = 1, *, offline: bool = False, at: float | None = None
    ) -> list[FakePost]:
        made = []
        for _ in range(n):
            number = next(self._ids)
            template = self.templates[(number - FIRST_POST_ID) % len(self.templates)]
            tag = self.hashtags[(number - FIRST_POST_ID) % len(self.hashtags)]
            created = time.time() if at is None else at
            data = copy.deepcopy(template["data"])
            post_id = str(number)
            text = f"{data.get('text', '')} #{tag}"
            entities = data.setdefault("entities", {})
            entities.setdefault("hashtags", []).append(
                {"start": len(text) - len(tag) - 1, "end": len(text), "tag": tag}
            )
            data.update(
                id=post_id,
                conversation_id=post_id,
                created_at=_iso(created),
                text=text,
                edit_history_tweet_ids=[post_id],
            )
            post = FakePost(
                post_id, created, tag, data, copy.deepcopy(template.get("includes", {})), offline
            )
            self.posts.append(post)
            made.append(post)
        return made

    def ids(self) -> set[str]:
        return {p.id for p in self.posts}

    def _matching_rules(self, post: FakePost) -> list[dict[str, str]]:
        return [
            {"id": r["id"], "tag": r["tag"]}
            for r in self.rules.values()
            if _matches(r["value"], post)
        ]

    def _line(self, post: FakePost) -> bytes:
        line = orjson.dumps(
            {
                "data": post.data,
                "includes": post.includes,
                "matching_rules": self._matching_rules(post),
            }
        )
        self.lines[post.id] = line
        return line

    # --- auth ------------------------------------------------------------------------------

    def _authorized(self, request: web.Request) -> bool:
        ok = request.headers.get("Authorization") == f"Bearer {self.token}"
        if not ok:
            self.unauthorized += 1
        return ok

    @staticmethod
    def _unauthorized() -> web.Response:
        body = {"title": "Unauthorized", "type": "about:blank", "status": 401}
        return web.json_response(body, status=401)

    # --- stream ----------------------------------------------------------------------------

    async def _stream(self, request: web.Request) -> web.StreamResponse:
        if not self._authorized(request):
            return self._unauthorized()
        self.stream_params.append(dict(request.query))
        plan = self.plans.popleft() if self.plans else Plan()
        conn = Conn(plan=plan, at=time.time())
        self.conns.append(conn)
        if plan.kind == "reset":
            self.create(plan.offline, offline=True)
            conn.ended = "reset"
            assert request.transport is not None
            request.transport.close()
            return web.Response()
        if plan.kind == "http":
            self.create(plan.offline, offline=True)
            conn.ended = f"http {plan.status}"
            body = plan.body or SERVICE_UNAVAILABLE
            return web.json_response(body, status=plan.status, headers=plan.headers)
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        try:
            await response.write(b"\r\n")
            conn.ok_at = conn.last_full_write = time.time()
            for i in range(plan.posts):
                [post] = self.create()
                await response.write(self._line(post) + b"\r\n")
                conn.last_full_write = time.time()
                conn.streamed.append(post.id)
                if i % 3 == 2:
                    await response.write(b"\r\n")
                    conn.last_full_write = time.time()
                await asyncio.sleep(self.post_interval)
            await self._then(request, response, conn)
        except (ConnectionResetError, ConnectionError, asyncio.CancelledError):
            conn.ended = conn.ended or "client went away"
        return response

    async def _then(self, request: web.Request, response: web.StreamResponse, conn: Conn) -> None:
        plan = conn.plan
        transport = request.transport
        assert transport is not None
        if plan.then == "cut":
            [post] = self.create()
            line = self._line(post)
            await response.write(line[: len(line) // 2])
            await asyncio.sleep(0.01)
            conn.ended = "cut"
            transport.abort()
            self.create(plan.offline, offline=True)
        elif plan.then == "stall":
            conn.ended = "stall"
            self.create(plan.offline, offline=True)
            for _ in range(200):  # silent until the client gives up (or 10 s)
                if transport.is_closing() or self._closing:
                    break
                await asyncio.sleep(0.05)
        elif plan.then == "disconnect":
            await response.write(orjson.dumps(OPERATIONAL_DISCONNECT) + b"\r\n")
            conn.last_full_write = time.time()
            conn.ended = "operational-disconnect"
            self.create(plan.offline, offline=True)
            await response.write_eof()
        elif plan.then == "close":
            conn.ended = "closed"
            self.create(plan.offline, offline=True)
            await response.write_eof()
        else:
            conn.ended = "keep"
            while not self._closing and not transport.is_closing():
                await asyncio.sleep(self.keepalive)
                await response.write(b"\r\n")
                conn.last_full_write = time.time()

    # --- rules -----------------------------------------------------------------------------

    async def _get_rules(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._unauthorized()
        rules = list(self.rules.values())
        meta = {"sent": _iso(time.time()), "result_count": len(rules)}
        return web.json_response({"data": rules, "meta": meta} if rules else {"meta": meta})

    async def _post_rules(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._unauthorized()
        body = await request.json()
        dry_run = request.query.get("dry_run", "false").lower() == "true"
        self.rule_requests.append({"body": body, "dry_run": dry_run})
        sent = _iso(time.time())
        if "delete" in body:
            ids = [str(i) for i in body["delete"].get("ids", [])]
            found = [i for i in ids if i in self.rules]
            missing = [
                {"title": "Not Found", "value": i, "detail": "rule not found"}
                for i in ids
                if i not in self.rules
            ]
            if not dry_run:
                for i in found:
                    del self.rules[i]
            summary = {"deleted": len(found), "not_deleted": len(ids) - len(found)}
            out: dict[str, Any] = {"meta": {"sent": sent, "summary": summary}}
            if missing:
                out["errors"] = missing
            return web.json_response(out)
        created: list[dict[str, str]] = []
        errors: list[dict[str, str]] = []
        values = {r["value"] for r in self.rules.values()}
        for rule in body.get("add", []):
            value, tag = rule["value"], rule.get("tag")
            if len(value) > self.max_rule_length:
                errors.append(
                    {
                        "title": "Invalid Rule",
                        "value": value,
                        "detail": f"Rule is longer than {self.max_rule_length} characters",
                        "type": "https://api.twitter.com/2/problems/invalid-rules",
                    }
                )
            elif value in values:
                existing = next(r["id"] for r in self.rules.values() if r["value"] == value)
                errors.append(
                    {
                        "title": "DuplicateRule",
                        "value": value,
                        "id": existing,
                        "type": "https://api.twitter.com/2/problems/duplicate-rules",
                    }
                )
            elif len(self.rules) + len(created) >= self.max_rules:
                errors.append({"title": "RulesCapExceeded", "value": value})
            else:
                new = {"id": str(next(self._rule_ids)), "value": value}
                if tag is not None:
                    new["tag"] = tag
                created.append(new)
                values.add(value)
        if not dry_run:
            for rule in created:
                self.rules[rule["id"]] = rule
        summary = {
            "created": 0 if dry_run else len(created),
            "not_created": len(errors) + (len(created) if dry_run else 0),
            "valid": len(created),
            "invalid": len(errors),
        }
        out = {"meta": {"sent": sent, "summary": summary}}
        if created:
            out["data"] = created
        if errors:
            out["errors"] = errors
        return web.json_response(out)

    # --- recent search ---------------------------------------------------------------------

    async def _search(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._unauthorized()
        q = request.query
        now = time.time()
        entry: dict[str, Any] = {"params": dict(q), "at": now, "status": 200, "ids": []}
        self.search_log.append(entry)
        fault = self.search_faults.popleft() if self.search_faults else None
        if fault and fault[0] == "429":
            reset = int(now) + fault[1]
            entry.update(status=429, reset=reset)
            body = {"title": "Too Many Requests", "detail": "Too Many Requests", "status": 429}
            return web.json_response(body, status=429, headers=self._limits(0, reset))
        try:
            size = int(q.get("max_results", "10"))
        except ValueError:
            size = 0
        if not 10 <= size <= 100 or not q.get("query"):
            body = {"title": "Invalid Request", "detail": "bad query or max_results", "status": 400}
            return web.json_response({"errors": [body]}, status=400)
        token = q.get("next_token")
        if token:
            matched, offset = self._tokens.pop(token)
        else:
            matched, offset = self._find(q), 0
        page = matched[offset : offset + size]
        meta: dict[str, Any] = {"result_count": len(page)}
        if page:
            meta.update(newest_id=page[0].id, oldest_id=page[-1].id)
        if offset + size < len(matched):
            token = f"tok{len(self._tokens)}x{offset + size}"
            self._tokens[token] = (matched, offset + size)
            meta["next_token"] = token
        entry["ids"] = [p.id for p in page]
        remaining, reset = 449, int(now) + 900
        if fault and fault[0] == "exhaust":
            remaining, reset = 0, int(now) + fault[1]
            entry.update(exhausted=True, reset=reset)
        out: dict[str, Any] = {"meta": meta}
        if page:
            out["data"] = [p.data for p in page]
            out["includes"] = _merge([p.includes for p in page])
        body = json.dumps(out).encode()  # X's key order, json's spacing: not what orjson writes
        entry["body"] = body
        return web.Response(
            body=body, content_type="application/json", headers=self._limits(remaining, reset)
        )

    def _find(self, q: Any) -> list[FakePost]:
        since = int(q["since_id"]) if "since_id" in q else None
        until = int(q["until_id"]) if "until_id" in q else None
        start = _parse_time(q["start_time"]) if "start_time" in q else None
        end = _parse_time(q["end_time"]) if "end_time" in q else None
        found = [
            p
            for p in self.posts
            if _matches(q["query"], p)
            and (since is None or int(p.id) > since)
            and (until is None or int(p.id) < until)
            and (start is None or p.created >= start)
            and (end is None or p.created < end)
        ]
        return sorted(found, key=lambda p: int(p.id), reverse=True)

    @staticmethod
    def _limits(remaining: int, reset: int) -> dict[str, str]:
        return {
            "x-rate-limit-limit": "450",
            "x-rate-limit-remaining": str(remaining),
            "x-rate-limit-reset": str(reset),
        }


def _matches(query: str, post: FakePost) -> bool:
    """Enough of X's rule language for these tests: #hashtags, quoted phrases, words, OR."""
    tags = {t.casefold() for t in re.findall(r"#([^\s()\"]+)", query)}
    if post.tag.casefold() in tags:
        return True
    text = post.data.get("text", "").casefold()
    phrases = re.findall(r'"([^"]+)"', query)
    words = [
        w for w in re.sub(r'"[^"]*"|#[^\s()"]+|[()]', " ", query).split() if w not in ("OR", "AND")
    ]
    return any(p.casefold() in text for p in [*phrases, *words])


def _merge(includes: list[dict[str, Any]]) -> dict[str, Any]:
    keys = {"users": "id", "tweets": "id", "media": "media_key", "places": "id"}
    out: dict[str, dict[str, Any]] = {}
    for inc in includes:
        for kind, key in keys.items():
            for item in inc.get(kind, ()):
                out.setdefault(kind, {}).setdefault(item[key], item)
    return {kind: list(items.values()) for kind, items in out.items()}


def page_item_bytes(body: bytes) -> list[bytes]:
    """The ``data`` items of a page body, each exactly as the body holds it: cut with the
    standard library's JSON decoder, independently of the collectors' own cutting."""
    text = body.decode()
    decoder = json.JSONDecoder()
    at = text.index("[", text.index('"data"')) + 1
    items = []
    while True:
        while text[at] in " \t\r\n,":
            at += 1
        if text[at] == "]":
            return items
        _, end = decoder.raw_decode(text, at)
        items.append(text[at:end].encode())
        at = end
