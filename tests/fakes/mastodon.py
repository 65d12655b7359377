"""Fake Mastodon instances on 127.0.0.1 for tests: hashtag streams (SSE), tag timelines, the
instance document, all speaking Mastodon's wire protocol.

Built from the recorded payloads in shared/data/mastodon: every status a fake instance serves
is a real recorded Status given a new uri, a creation time of "now", its own id on each
instance, and one of the campaign's hashtags (in ``tags`` and as a hashtag link in
``content``). Posts live in a ``Fediverse`` shared by the instances: a post federated to two
instances has one ``uri`` and a different local ``id`` on each (a remote copy's id is made from
its creation time, as Mastodon's are), so the same post reaches a collector twice.

Streams: ``GET /api/v1/streaming/hashtag?tag=…`` (on its own port when the instance names a
streaming URL in ``/api/v2/instance``) answers ``text/event-stream``: ``:)`` first, events as
``event: …`` / ``data: …`` lines, and a ``:thump`` comment every ``heartbeat`` seconds. What one
connection attempt does comes from the tag's schedule of ``Plan``s: stream some new posts,
then stay (with heartbeats, delivering what the test pushes: edits, deletes, federated posts),
be cut in the middle of an event, stall in silence, or be closed; or reset the connection, or
answer an HTTP error. Posts made while a tag's stream is down (``offline``) are only in the
timeline, like the posts a real outage misses.

Timelines: ``GET /api/v1/timelines/tag/:tag`` with ``max_id`` / ``since_id`` / ``min_id`` /
``limit`` (at most 40), newest first, ``Link`` headers as Mastodon writes them (``next`` with
``max_id`` when the page is full, ``prev`` with ``min_id``; neither keeps the other cursors),
``X-RateLimit-Limit`` / ``-Remaining`` / ``-Reset`` (ISO 8601) and a ``Date``; told to, it
answers 429 with a reset, or reports the limit used up. Every request must carry
``Authorization: Bearer <token>``.

Everything the servers did is logged with wall times (``conns``, ``timeline_log``), so tests
check gap bounds, backfill windows and rate-limit waits against it.
"""

from __future__ import annotations

import asyncio
import copy
import email.utils
import itertools
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote, unquote

import orjson
from aiohttp import web

from tests.conftest import shared_data

RATE_LIMIT = 300
RATE_WINDOW = 300  # seconds


def mastodon_data() -> Path:
    return shared_data() / "mastodon"


def load_templates(data: Path | None = None) -> list[dict[str, Any]]:
    """The recorded Statuses that are not reblogs (a hashtag stream never carries reblogs)."""
    path = (data or mastodon_data()) / "mastodonpy-local-statuses.jsonl"
    out = []
    for line in path.read_bytes().splitlines():
        status = orjson.loads(line)
        if status.get("reblog") is None:
            out.append(status)
    return out


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def snowflake(ts: float, sequence: int) -> int:
    return (int(ts * 1000) << 16) | (sequence & 0xFFFF)


@dataclass
class Plan:
    """What an instance does with one connection attempt to one tag's stream."""

    kind: Literal["ok", "reset", "http"] = "ok"
    posts: int = 0  # ok: new posts streamed before ``then``
    then: Literal["keep", "cut", "stall", "close"] = "keep"
    offline: int = 0  # posts made (on this instance, this tag) during the outage this causes
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Conn:
    tag: str
    plan: Plan
    at: float  # when the request arrived
    ok_at: float | None = None  # when the 200 and ``:)`` went out
    last_full_write: float | None = None  # last complete event or heartbeat written
    streamed: list[str] = field(default_factory=list)  # local ids of update events sent
    ended: str = ""


@dataclass
class FakePost:
    """One post in the fediverse: the same uri wherever it is."""

    number: int
    uri: str
    origin: FakeMastodon
    tag: str
    created: float
    template: dict[str, Any]
    edited: float | None = None
    text: str = ""


@dataclass
class Copy:
    """A post as one instance has it."""

    post: FakePost
    local_id: str
    deleted: bool = False


class Fediverse:
    def __init__(self, templates: list[dict[str, Any]]) -> None:
        self.templates = templates
        self.posts: list[FakePost] = []
        self.instances: list[FakeMastodon] = []  # the running instances
        self._numbers = itertools.count()

    def create(
        self,
        origin: FakeMastodon,
        tag: str,
        *,
        to: Iterable[FakeMastodon] = (),
        offline: bool = False,
        at: float | None = None,
    ) -> FakePost:
        """A new post on ``origin``, federated to ``to``; streamed live where a stream for
        its tag is connected and not ``offline``."""
        number = next(self._numbers)
        template = self.templates[number % len(self.templates)]
        local = origin.next_id(time.time() if at is None else at)
        post = FakePost(
            number=number,
            uri=f"{origin.base_url}/users/{template['account']['username']}/statuses/{local}",
            origin=origin,
            tag=tag,
            created=time.time() if at is None else at,
            template=template,
            text=f"post {number}",
        )
        self.posts.append(post)
        origin.receive(post, local, live=not offline)
        for instance in to:
            instance.receive(post, instance.next_id(post.created), live=not offline)
        return post

    def edit(self, post: FakePost, text: str) -> None:
        post.text = text
        post.edited = time.time()
        for instance in self.holders(post):
            instance.push(post.tag, "status.update", instance.status_bytes(post))

    def delete(self, post: FakePost) -> None:
        for instance in self.holders(post):
            copy_ = instance.copies[post.uri]
            copy_.deleted = True
            instance.push(post.tag, "delete", copy_.local_id.encode())

    def holders(self, post: FakePost) -> list[FakeMastodon]:
        return [i for i in self.instances if post.uri in i.copies]

    def uris(self) -> set[str]:
        return {p.uri for p in self.posts}


class FakeMastodon:
    def __init__(
        self,
        fediverse: Fediverse,
        token: str,
        *,
        streaming_host: bool = True,
        heartbeat: float = 0.05,
        post_interval: float = 0.003,
    ) -> None:
        self.fediverse = fediverse
        self.token = token
        self.streaming_host = streaming_host
        self.heartbeat = heartbeat
        self.post_interval = post_interval
        self.plans: dict[str, deque[Plan]] = {}
        self.timeline_faults: deque[tuple[str, int]] = deque()  # ("429"|"exhaust", reset in s)
        self.conns: list[Conn] = []
        self.timeline_log: list[dict[str, Any]] = []
        self.instance_requests = 0
        self.unauthorized = 0
        self.copies: dict[str, Copy] = {}  # uri -> this instance's copy
        self.by_id: dict[str, Copy] = {}
        self.served: dict[str, set[bytes]] = {}  # local id -> every version of it served
        self._subscribers: dict[str, list[asyncio.Queue[tuple[str, bytes]]]] = {}
        self._sequence = itertools.count()
        self._remaining = RATE_LIMIT
        self._closing = False
        self._runners: list[web.AppRunner] = []
        self.base_url = ""
        self.streaming_url = ""

    # --- lifecycle -------------------------------------------------------------------------

    async def start(self) -> str:
        web_app = web.Application()
        web_app.router.add_get("/api/v2/instance", self._instance)
        web_app.router.add_get("/api/v1/timelines/tag/{tag}", self._timeline)
        stream_app = web_app
        if self.streaming_host:
            stream_app = web.Application()
        stream_app.router.add_get("/api/v1/streaming/hashtag", self._stream)
        self.base_url = await self._serve(web_app)
        self.streaming_url = await self._serve(stream_app) if self.streaming_host else self.base_url
        self.fediverse.instances.append(self)
        return self.base_url

    async def _serve(self, app: web.Application) -> str:
        runner = web.AppRunner(app, shutdown_timeout=0.5, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self._runners.append(runner)
        return f"http://127.0.0.1:{runner.addresses[0][1]}"

    async def close(self) -> None:
        self._closing = True
        if self in self.fediverse.instances:
            self.fediverse.instances.remove(self)
        for runner in self._runners:
            await runner.cleanup()

    # --- statuses --------------------------------------------------------------------------

    def next_id(self, created: float) -> str:
        """Ids are creation times (Mastodon's snowflakes): a post made now gets a new id
        above the others, a back-dated or federated one an id from when it was written."""
        return str(snowflake(created, next(self._sequence)))

    def receive(self, post: FakePost, local_id: str, *, live: bool) -> None:
        copy_ = Copy(post, local_id)
        self.copies[post.uri] = copy_
        self.by_id[local_id] = copy_
        if live:
            self.push(post.tag, "update", self.status_bytes(post))

    def status(self, post: FakePost) -> dict[str, Any]:
        copy_ = self.copies[post.uri]
        status = copy.deepcopy(post.template)
        account = status["account"]
        username = account["username"]
        origin = post.origin
        local = origin is self
        account.update(
            acct=username if local else f"{username}@{origin.base_url.split('//')[1]}",
            url=f"{origin.base_url}/@{username}",
            uri=f"{origin.base_url}/users/{username}",
        )
        tag_url = f"{self.base_url}/tags/{quote(post.tag)}"
        status.update(
            id=copy_.local_id,
            uri=post.uri,
            url=f"{origin.base_url}/@{username}/{post.uri.rsplit('/', 1)[1]}",
            created_at=iso(post.created),
            edited_at=iso(post.edited) if post.edited else None,
            content=(
                f'<p>{post.text} <a href="{tag_url}" class="mention hashtag" rel="tag">'
                f"#<span>{post.tag}</span></a></p>"
            ),
            tags=[{"name": post.tag, "url": tag_url}],
            in_reply_to_id=None,
            in_reply_to_account_id=None,
            reblog=None,
        )
        return status

    def status_bytes(self, post: FakePost) -> bytes:
        raw = orjson.dumps(self.status(post))
        self.served.setdefault(self.copies[post.uri].local_id, set()).add(raw)
        return raw

    def local_posts(self, tag: str) -> list[Copy]:
        key = tag.lower()
        return [c for c in self.copies.values() if c.post.tag.lower() == key]

    def push(self, tag: str, event: str, data: bytes) -> None:
        for queue in self._subscribers.get(tag.lower(), ()):
            queue.put_nowait((event, data))

    # --- auth ------------------------------------------------------------------------------

    def _authorized(self, request: web.Request) -> bool:
        ok = request.headers.get("Authorization") == f"Bearer {self.token}"
        if not ok:
            self.unauthorized += 1
        return ok

    @staticmethod
    def _unauthorized() -> web.Response:
        return web.json_response({"error": "The access token is invalid"}, status=401)

    # --- instance --------------------------------------------------------------------------

    async def _instance(self, request: web.Request) -> web.Response:
        self.instance_requests += 1
        if not self.streaming_host:  # an older server: no v2 instance document
            return web.json_response({"error": "Record not found"}, status=404)
        streaming = "ws" + self.streaming_url.removeprefix("http")
        host = self.base_url.split("//")[1]
        return web.json_response(
            {
                "domain": host,
                "version": "4.5.0",
                "configuration": {"urls": {"streaming": streaming}},
            }
        )

    # --- streams ---------------------------------------------------------------------------

    async def _stream(self, request: web.Request) -> web.StreamResponse:
        if not self._authorized(request):
            return self._unauthorized()
        tag = request.query.get("tag", "")
        plans = self.plans.get(tag.lower())
        plan = plans.popleft() if plans else Plan()
        conn = Conn(tag=tag, plan=plan, at=time.time())
        self.conns.append(conn)
        if plan.kind == "reset":
            self._offline(tag, plan.offline)
            conn.ended = "reset"
            assert request.transport is not None
            request.transport.close()
            return web.Response()
        if plan.kind == "http":
            self._offline(tag, plan.offline)
            conn.ended = f"http {plan.status}"
            return web.json_response(
                {"error": "Too many requests" if plan.status == 429 else "Service unavailable"},
                status=plan.status,
                headers=plan.headers,
            )
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "private, no-store"}
        )
        response.enable_chunked_encoding()
        await response.prepare(request)
        queue: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()
        try:
            await response.write(b":)\n")
            conn.ok_at = conn.last_full_write = time.time()
            for _ in range(plan.posts):
                post = self.fediverse.create(self, tag, offline=True)
                local = self.copies[post.uri].local_id
                await response.write(_event("update", self.status_bytes(post)))
                conn.last_full_write = time.time()
                conn.streamed.append(local)
                await asyncio.sleep(self.post_interval)
            await self._then(request, response, conn, queue)
        except (ConnectionResetError, ConnectionError, asyncio.CancelledError):
            conn.ended = conn.ended or "client went away"
        finally:
            subscribers = self._subscribers.get(tag.lower(), [])
            if queue in subscribers:
                subscribers.remove(queue)
        return response

    def _offline(self, tag: str, n: int) -> None:
        for _ in range(n):
            self.fediverse.create(self, tag, offline=True)

    async def _then(
        self,
        request: web.Request,
        response: web.StreamResponse,
        conn: Conn,
        queue: asyncio.Queue[tuple[str, bytes]],
    ) -> None:
        plan = conn.plan
        transport = request.transport
        assert transport is not None
        if plan.then == "cut":
            post = self.fediverse.create(self, conn.tag, offline=True)
            event = _event("update", self.status_bytes(post))
            await response.write(event[: len(event) // 2])
            await asyncio.sleep(0.01)
            conn.ended = "cut"
            transport.abort()
            self._offline(conn.tag, plan.offline)
        elif plan.then == "stall":
            conn.ended = "stall"
            self._offline(conn.tag, plan.offline)
            for _ in range(400):  # silent until the client gives up (or 20 s)
                if transport.is_closing() or self._closing:
                    break
                await asyncio.sleep(0.05)
        elif plan.then == "close":
            conn.ended = "closed"
            self._offline(conn.tag, plan.offline)
            await response.write_eof()
        else:
            conn.ended = "keep"
            self._subscribers.setdefault(conn.tag.lower(), []).append(queue)
            while not self._closing and not transport.is_closing():
                try:
                    name, data = await asyncio.wait_for(queue.get(), self.heartbeat)
                except TimeoutError:
                    await response.write(b":thump\n\n")
                else:
                    await response.write(_event(name, data))
                    if name == "update":
                        conn.streamed.append(orjson.loads(data)["id"])
                conn.last_full_write = time.time()

    # --- timelines -------------------------------------------------------------------------

    async def _timeline(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._unauthorized()
        q = request.query
        tag = unquote(request.match_info["tag"])
        now = time.time()
        second = int(now)
        entry: dict[str, Any] = {"tag": tag, "params": dict(q), "at": now, "status": 200}
        self.timeline_log.append(entry)
        fault = self.timeline_faults.popleft() if self.timeline_faults else None
        if fault and fault[0] == "429":
            entry.update(status=429, wait=fault[1])
            return web.json_response(
                {"error": "Too many requests"},
                status=429,
                headers=self._limits(0, second + fault[1], second),
            )
        try:
            limit = min(max(int(q.get("limit", "20")), 1), 40)
        except ValueError:
            limit = 20
        found = [c for c in self.local_posts(tag) if not c.deleted]
        found.sort(key=lambda c: int(c.local_id))
        for name, keep in (("max_id", lambda i, b: i < b), ("since_id", lambda i, b: i > b)):
            if name in q:
                bound = int(q[name])
                found = [c for c in found if keep(int(c.local_id), bound)]
        if "min_id" in q:  # the page just above min_id
            found = [c for c in found if int(c.local_id) > int(q["min_id"])][:limit]
        page = list(reversed(found))[:limit]
        entry["ids"] = [c.local_id for c in page]
        self._remaining = max(self._remaining - 1, 0)
        remaining, reset = self._remaining, second + RATE_WINDOW
        if fault and fault[0] == "exhaust":
            remaining, reset = 0, second + fault[1]
            entry.update(exhausted=True, wait=fault[1])
        headers = self._limits(remaining, reset, second)
        links = []
        path = f"{self.base_url}/api/v1/timelines/tag/{quote(tag)}"
        if page and len(page) == limit:
            links.append(f'<{path}?limit={limit}&max_id={page[-1].local_id}>; rel="next"')
        if page:
            links.append(f'<{path}?limit={limit}&min_id={page[0].local_id}>; rel="prev"')
        if links:
            headers["Link"] = ", ".join(links)
        body = b"[" + b",".join(self.status_bytes(c.post) for c in page) + b"]"
        return web.Response(body=body, content_type="application/json", headers=headers)

    @staticmethod
    def _limits(remaining: int, reset: int, now: int) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(RATE_LIMIT),
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": iso(reset).replace("Z", "000Z"),  # microseconds, as Rails
            "Date": email.utils.formatdate(now, usegmt=True),
        }


def _event(name: str, data: bytes) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + data + b"\n\n"
