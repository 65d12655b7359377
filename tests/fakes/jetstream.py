"""A fake Jetstream v1 on 127.0.0.1 for tests: a real websocket server with Jetstream's events
and cursor semantics, fed from the recorded payloads in shared/data/bluesky.

The network. Each campaign post is a recorded post record (its text, facets, external and quote
embeds, replies, the recordWithMedia one) under a new record key, CID and creation time, given
one of the campaign's hashtags: as a ``#tag`` facet at its UTF-8 byte offsets (the tags are
Arabic: bytes are not characters), or every fourth post in the record's ``tags`` array only;
some get images (alt text, aspect ratio) or a video in the lexicon's shapes. A background of
other posts (some with other hashtags), likes and identity events runs all the time, as on the
real firehose: ``wantedCollections`` filters likes out, identity events pass as in v1.

Cursor semantics (v1). ``cursor`` is a ``time_us``: the server replays every retained event
with ``time_us >= cursor`` in the order it received them, then the live tail. A cursor older
than the oldest retained event is silently moved up to it (``expire`` makes everything before
a connection too old: an outage longer than the replay window). No cursor, or one in the
future, is the live tail. ``time_us`` is not strictly ordered: every third campaign post made
while a client is connected gets one a little before the event received just before it.

Faults come from a schedule: one ``Plan`` per connection attempt — a healthy stream that then
breaks (cut without a close frame, silence, a close frame), a connection reset before the
handshake, an HTTP error (503, 429), a slow answer; ``actions`` run while the collector is
away (an update, a delete, a repost). Everything the server did is logged in ``conns``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import hashlib
import itertools
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import orjson
from aiohttp import web

POST = "app.bsky.feed.post"
REPOST = "app.bsky.feed.repost"
LIKE = "app.bsky.feed.like"
_TID_ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"

Json = dict[str, Any]


def now_us() -> int:
    return time.time_ns() // 1000


def iso(time_us: int) -> str:
    when = datetime.fromtimestamp(time_us / 1_000_000, UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def tid(time_us: int, clock: int) -> str:
    """A record key as atproto makes them: 13 base32-sortable characters of time and clock."""
    value = (time_us << 10) | (clock & 0x3FF)
    out = []
    for _ in range(13):
        out.append(_TID_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(out))


def cid_of(record: Json) -> str:
    digest = hashlib.sha256(orjson.dumps(record, option=orjson.OPT_SORT_KEYS)).digest()
    return "bafyrei" + base64.b32encode(digest).decode().lower().rstrip("=")[:52]


def load_records(data: Path) -> list[Json]:
    """The recorded post records (``{uri, cid, value}``), the recordWithMedia one included."""
    records = []
    for name in (
        "indigo-automod-atprotocom-post-records.jsonl",
        "indigo-automod-spam-post-records.jsonl",
        "marshalx-getRecord-posts.jsonl",
    ):
        for line in (data / name).read_bytes().splitlines():
            if line.strip():
                records.append(orjson.loads(line))
    thread = orjson.loads((data / "marshalx-getPostThread-recordWithMedia.json").read_bytes())
    post = thread["thread"]["post"]
    records.append({"uri": post["uri"], "cid": post["cid"], "value": post["record"]})
    return records


@dataclass
class Plan:
    """What the server does with one connection attempt."""

    kind: Literal["ok", "reset", "http"] = "ok"
    posts: int = 0  # ok: campaign posts made (and sent) while connected, before ``then``
    then: Literal["keep", "cut", "stall", "close"] = "keep"
    offline: int = 0  # campaign posts made during the outage this attempt causes or prolongs
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # answer the handshake this much later
    before: int = 0  # campaign posts made during the delay
    expire: bool = False  # everything before this connection is beyond the replay window
    actions: list[Callable[[FakeJetstream], object]] = field(default_factory=list)  # offline


@dataclass
class Conn:
    plan: Plan
    at: float
    params: dict[str, list[str]]
    cursor: int | None = None  # as asked
    start: int | None = None  # where the replay began (None: live tail)
    first_us: int | None = None  # time_us of the first event sent
    ok_at: float | None = None  # handshake done
    last_sent: float | None = None
    sent: list[str] = field(default_factory=list)  # uris of campaign records sent
    ended: str = ""


@dataclass
class FakePost:
    uri: str
    did: str
    rkey: str
    cid: str
    record: Json
    tag: str  # the campaign hashtag it carries
    time_us: int  # when the network saw it
    handle: str
    offline: bool = False  # made while the collector was away
    search_only: bool = False  # exists only for search (made before the stream's history)
    deleted: bool = False
    versions: list[str] = field(default_factory=list)  # every cid it had


@dataclass
class Event:
    time_us: int
    collection: str | None
    line: bytes
    uri: str | None = None  # a campaign record's


class FakeJetstream:
    def __init__(
        self,
        records: list[Json],
        hashtags: list[str],
        *,
        tick: float = 0.02,
        post_interval: float = 0.005,
    ) -> None:
        self.templates = records
        self.hashtags = hashtags
        self.tick = tick
        self.post_interval = post_interval
        self.plans: deque[Plan] = deque()
        self.conns: list[Conn] = []
        self.log: list[Event] = []
        self.posts: dict[str, FakePost] = {}  # campaign posts by uri
        self.reposts: dict[str, str] = {}  # repost uri -> subject uri
        self.lines: dict[str, list[bytes]] = {}  # campaign record uri -> its event lines
        self.floor_us = 0  # the oldest time_us still replayable
        self._clock = itertools.count()
        self._appended = asyncio.Event()
        self._closing = False
        self._runner: web.AppRunner | None = None
        self._background: asyncio.Task[None] | None = None
        self.url = ""

    # --- lifecycle -------------------------------------------------------------------------

    async def start(self) -> str:
        app = web.Application()
        app.router.add_get("/subscribe", self._subscribe)
        self._runner = web.AppRunner(app, shutdown_timeout=0.5, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"ws://127.0.0.1:{port}/subscribe"
        self._background = asyncio.create_task(self._firehose())
        return self.url

    async def close(self) -> None:
        self._closing = True
        self._appended.set()
        if self._background is not None:
            self._background.cancel()
        if self._runner is not None:
            await self._runner.cleanup()

    # --- the network -----------------------------------------------------------------------

    def _append(self, time_us: int, line: Json, collection: str | None, uri: str | None) -> None:
        raw = orjson.dumps(line)
        self.log.append(Event(time_us, collection, raw, uri))
        if uri is not None:
            self.lines.setdefault(uri, []).append(raw)
        self._appended.set()

    def _time(self, disorder: bool = False) -> int:
        t = now_us()
        if self.log:
            t = max(t, self.log[-1].time_us + 1)
            if disorder:
                t = self.log[-1].time_us - 2000  # a little before the previous event
        return t

    def _commit(
        self, did: str, time_us: int, operation: str, collection: str, rkey: str, **rest: Any
    ) -> Json:
        commit: Json = {"rev": tid(time_us, 1), "operation": operation, "collection": collection}
        commit["rkey"] = rkey
        commit.update(rest)
        return {"did": did, "time_us": time_us, "kind": "commit", "commit": commit}

    def post(
        self,
        tag: str | None = None,
        *,
        offline: bool = False,
        at_us: int | None = None,
        search_only: bool = False,
        disorder: bool = False,
    ) -> FakePost:
        """A campaign post; ``search_only`` ones exist for search only, at ``at_us``;
        ``disorder`` gives it a time_us a little before the event received before it."""
        n = len(self.posts)
        template = self.templates[n % len(self.templates)]
        tag = tag or self.hashtags[n % len(self.hashtags)]
        time_us = at_us if at_us is not None else self._time(disorder=disorder)
        did = template["uri"].split("/")[2]
        rkey = tid(time_us, next(self._clock))
        record = copy.deepcopy(template["value"])
        record["createdAt"] = iso(time_us - 1500)
        if n % 4 == 3:  # a tag not shown in the text
            record["tags"] = [*record.get("tags", []), tag]
        else:
            text = f"{record.get('text', '')} #{tag}"
            start = len(text.encode()) - len(tag.encode()) - 1
            facet = {
                "index": {"byteStart": start, "byteEnd": len(text.encode())},
                "features": [{"$type": "app.bsky.richtext.facet#tag", "tag": tag}],
            }
            record["text"] = text
            record["facets"] = [*record.get("facets", []), facet]
        if "embed" not in record and n % 5 == 1:
            record["embed"] = _images(n)
        elif "embed" not in record and n % 5 == 3:
            record["embed"] = _video(n)
        uri = f"at://{did}/{POST}/{rkey}"
        cid = cid_of(record)
        post = FakePost(
            uri, did, rkey, cid, record, tag, time_us, _handle(did), offline, search_only
        )
        post.versions.append(cid)
        self.posts[uri] = post
        if not search_only:
            line = self._commit(did, time_us, "create", POST, rkey, record=record, cid=cid)
            self._append(time_us, line, POST, uri)
        return post

    def update(self, post: FakePost, text: str, *, keep_tag: bool = True) -> FakePost:
        """An edit: new text, the campaign hashtag kept where it was (facet or tags), or not."""
        time_us = self._time()
        record = copy.deepcopy(post.record)
        if not keep_tag:
            record["text"] = text
            record.pop("facets", None)
            record.pop("tags", None)
        elif post.tag in record.get("tags", []):
            record["text"] = text
        else:
            record["text"] = f"{text} #{post.tag}"
            end = len(record["text"].encode())
            record["facets"] = [
                {
                    "index": {"byteStart": end - len(post.tag.encode()) - 1, "byteEnd": end},
                    "features": [{"$type": "app.bsky.richtext.facet#tag", "tag": post.tag}],
                }
            ]
        post.record, post.cid = record, cid_of(record)
        post.versions.append(post.cid)
        line = self._commit(
            post.did, time_us, "update", POST, post.rkey, record=record, cid=post.cid
        )
        self._append(time_us, line, POST, post.uri)
        return post

    def delete(self, uri: str) -> None:
        did, collection, rkey = uri.removeprefix("at://").split("/")
        time_us = self._time()
        if uri in self.posts:
            self.posts[uri].deleted = True
        self._append(
            time_us, self._commit(did, time_us, "delete", collection, rkey), collection, uri
        )

    def repost(self, subject: str, did: str = "did:plc:reposterfakexyz") -> str:
        time_us = self._time()
        rkey = tid(time_us, next(self._clock))
        record = {
            "$type": REPOST,
            "createdAt": iso(time_us - 800),
            "subject": {"cid": cid_of({"uri": subject}), "uri": subject},
        }
        uri = f"at://{did}/{REPOST}/{rkey}"
        self.reposts[uri] = subject
        line = self._commit(did, time_us, "create", REPOST, rkey, record=record, cid=cid_of(record))
        self._append(time_us, line, REPOST, uri)
        return uri

    def campaign_uris(self, *, search_only: bool = True) -> set[str]:
        return {u for u, p in self.posts.items() if search_only or not p.search_only}

    async def _firehose(self) -> None:
        """The rest of the network: other posts (some with other hashtags), likes, identity
        events, without pause."""
        for n in itertools.count():
            await asyncio.sleep(self.tick)
            time_us = self._time()
            did = f"did:plc:background{n % 7}"
            text = "another day on the network" + (" #unrelated" if n % 4 == 0 else "")
            record: Json = {"$type": POST, "createdAt": iso(time_us), "langs": ["en"], "text": text}
            if n % 4 == 0:
                start = len("another day on the network ")
                record["facets"] = [
                    {
                        "index": {"byteStart": start, "byteEnd": start + len("#unrelated")},
                        "features": [{"$type": "app.bsky.richtext.facet#tag", "tag": "unrelated"}],
                    }
                ]
            rkey = tid(time_us, next(self._clock))
            line = self._commit(
                did, time_us, "create", POST, rkey, record=record, cid=cid_of(record)
            )
            self._append(time_us, line, POST, None)
            like = {
                "$type": LIKE,
                "createdAt": iso(time_us),
                "subject": {"uri": "at://x", "cid": "y"},
            }
            like_us = self._time()
            self._append(
                like_us,
                self._commit(did, like_us, "create", LIKE, tid(like_us, 0), record=like, cid="l"),
                LIKE,
                None,
            )
            if n % 10 == 0:
                ident_us = self._time()
                identity = {"did": did, "seq": n, "time": iso(ident_us)}
                self._append(
                    ident_us,
                    {"did": did, "time_us": ident_us, "kind": "identity", "identity": identity},
                    None,
                    None,
                )

    # --- the subscription ------------------------------------------------------------------

    async def _subscribe(self, request: web.Request) -> web.StreamResponse:
        plan = self.plans.popleft() if self.plans else Plan()
        params = {k: request.query.getall(k) for k in request.query}
        conn = Conn(plan=plan, at=time.time(), params=params)
        self.conns.append(conn)
        cursor = request.query.get("cursor")
        conn.cursor = int(cursor) if cursor else None
        for _ in range(plan.before):
            self.post(offline=True)
        if plan.delay:
            await asyncio.sleep(plan.delay)
        if plan.kind == "reset":
            self._outage(plan)
            conn.ended = "reset"
            assert request.transport is not None
            request.transport.close()
            return web.Response()
        if plan.kind == "http":
            self._outage(plan)
            conn.ended = f"http {plan.status}"
            body = {"error": "Unavailable", "message": f"status {plan.status}"}
            return web.json_response(body, status=plan.status, headers=plan.headers)
        if plan.expire:
            self.floor_us = now_us()
        wanted = set(params.get("wantedCollections", []))
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        conn.ok_at = time.time()
        live = conn.cursor is None or conn.cursor > now_us()
        conn.start = None if live else max(conn.cursor or 0, self.floor_us)
        index = len(self.log) if live else 0
        made = 0
        reader = asyncio.create_task(self._read_client(ws))  # answers pings and a close
        try:
            while not self._closing and not ws.closed:
                while index < len(self.log):
                    event = self.log[index]
                    index += 1
                    if not live and (conn.start is None or event.time_us < conn.start):
                        continue
                    if event.time_us < self.floor_us:
                        continue
                    if wanted and event.collection is not None and event.collection not in wanted:
                        continue
                    await ws.send_str(event.line.decode())
                    conn.last_sent = time.time()
                    if conn.first_us is None:
                        conn.first_us = event.time_us
                    if event.uri is not None:
                        conn.sent.append(event.uri)
                if made < plan.posts:
                    if made == 0:  # the client has noted when it connected: what follows is live
                        await asyncio.sleep(0.05)
                    self.post(disorder=made % 3 == 2)
                    made += 1
                    await asyncio.sleep(self.post_interval)
                    continue
                if plan.then != "keep" and index >= len(self.log):
                    await self._then(request, ws, conn)
                    break
                self._appended.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._appended.wait(), 0.2)
        except (ConnectionResetError, ConnectionError, asyncio.CancelledError):
            conn.ended = conn.ended or "client went away"
        finally:
            reader.cancel()
        conn.ended = conn.ended or "client went away"
        return ws

    @staticmethod
    async def _read_client(ws: web.WebSocketResponse) -> None:
        """What a client sends (v1 takes options updates; they are ignored here)."""
        async for _ in ws:
            pass

    def _outage(self, plan: Plan) -> None:
        for _ in range(plan.offline):
            self.post(offline=True)
        for action in plan.actions:
            action(self)

    async def _then(self, request: web.Request, ws: web.WebSocketResponse, conn: Conn) -> None:
        plan = conn.plan
        transport = request.transport
        assert transport is not None
        conn.ended = plan.then
        if plan.then == "cut":  # no close frame: the TCP connection just ends
            await asyncio.sleep(0.05)  # (once the client has read what was sent)
            transport.abort()
            self._outage(plan)
        elif plan.then == "stall":  # open, silent, until the client gives up (or 10 s)
            self._outage(plan)
            for _ in range(200):
                if ws.closed or transport.is_closing() or self._closing:
                    break
                await asyncio.sleep(0.05)
        elif plan.then == "close":
            await ws.close()
            self._outage(plan)


def _handle(did: str) -> str:
    return did.rsplit(":", 1)[-1][:12] + ".bsky.social"


def _blob(n: int, kind: str, mime: str) -> Json:
    link = cid_of({"blob": kind, "n": n}).replace("bafyrei", "bafkrei")
    return {"$type": "blob", "ref": {"$link": link}, "mimeType": mime, "size": 1000 + n}


def _images(n: int) -> Json:
    return {
        "$type": "app.bsky.embed.images",
        "images": [
            {
                "alt": "صورة من الوقفة" if i == 0 else "",
                "image": _blob(n * 10 + i, "image", "image/jpeg"),
                "aspectRatio": {"width": 1200, "height": 800},
            }
            for i in range(1 + n % 2)
        ],
    }


def _video(n: int) -> Json:
    return {
        "$type": "app.bsky.embed.video",
        "video": _blob(n, "video", "video/mp4"),
        "alt": "video of the vigil",
        "aspectRatio": {"width": 1080, "height": 1920},
    }
