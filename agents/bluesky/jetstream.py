"""The live Bluesky stream: Jetstream v1, its ``time_us`` cursor, replay on reconnect.

One websocket (aiohttp's client: aiohttp is already hashwatch's HTTP library, and its server
side runs the test double) to ``<jetstream>/subscribe?wantedCollections=app.bsky.feed.post&
wantedCollections=app.bsky.feed.repost``, uncompressed JSON. Every post and repost of the
network arrives; those that carry a campaign hashtag (or repost, update or delete a post this
collector published) are published.

Cursor and replay. Every connection asks for ``cursor`` = the last ``time_us`` made durable
minus ``rewind`` seconds (Jetstream's events are not strictly ordered by ``time_us``, and a
host switch needs the margin too), so a reconnect or a restart replays what it missed and a
little more; what was already published in those seconds is recognised (``Recent``) and not
published again. The cursor only advances once the publisher has flushed what came before it,
so a collector killed at any moment resumes before anything it had not delivered.

Outages. Each one is a gap (agents/live.py). Jetstream replays about 36 hours; an older cursor
is silently moved up to the oldest event it still has. So the first event after a reconnect
tells: starting within ``replay_tolerance`` of the cursor, the replay covers the outage and the
gap's ``recovered`` counts the posts it brought back; starting later, the window between the
cursor and that first event is lost to Jetstream and is searched through ``searchPosts`` (with
credentials; without them the gap says so). ``--backfill`` works the same way: the first
connection asks for that much history.

Stalls. With posts and reposts asked for, Jetstream sends tens of events per second; it sends
no keep-alive. ``stall_timeout`` (30 s) of silence is therefore a dead or stuck connection,
not a quiet network, and it is reconnected; short enough that the replay is small.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import aiohttp
import orjson

from agents.bluesky.aturi import POST, REPOST
from agents.bluesky.events import Event, deletion_of, parse_event, post_of, repost_of, subject_of
from agents.bluesky.search import BlueskySearch, Credentials
from agents.bluesky.seen import Recent, SeenPosts
from agents.bluesky.times import from_time_us, to_time_us
from agents.bluesky.views import posts_in_response
from agents.live import BackfillJob, Ended, Link, LiveConfig, LiveStream, StreamError
from agents.payloads import MappingError, NotAPost, too_deep
from pipeline.core.backoff import ReconnectPolicy
from pipeline.core.campaign import Campaign
from pipeline.core.hashtags import normalize_hashtag
from schemas.post import Post, PostDeletion

log = logging.getLogger(__name__)

DEFAULT_JETSTREAM = "wss://jetstream2.us-east.bsky.network/subscribe"
COLLECTIONS = (POST, REPOST)
INVALID = "not-a-valid-bluesky-record"
_HISTORY = "history"


@dataclass(frozen=True, slots=True)
class BlueskyConfig:
    jetstream_url: str = DEFAULT_JETSTREAM
    stall_timeout: float = 30.0  # no message for this long: reconnect (see the docstring)
    connect_timeout: float = 10.0
    close_timeout: float = 2.0  # a stop waits this long for the server's close frame
    rewind: float = 5.0  # resume this many seconds before the durable cursor
    replay_tolerance: float = 60.0  # a replay starting later than this was cut short
    bracket_timeout: float = 60.0  # wait this long for events after a reconnect
    start_margin: float = 10.0  # widen a gap's start when no cursor bounds it
    checkpoint_every: float = 1.0  # flush, advance the cursor, save the checkpoint
    max_message_bytes: int = 16 * 1024 * 1024
    seen_limit: int = 100_000  # campaign posts remembered for their reposts and deletes
    search_page_size: int = 100
    search_result_cap: int = 10_000
    backfill: timedelta | None = None  # history to fill at start (``--backfill 2d``)

    def live(self) -> LiveConfig:
        return LiveConfig(
            bracket_timeout=self.bracket_timeout,
            start_margin=self.start_margin,
            checkpoint_every=self.checkpoint_every,
            backfill=self.backfill,
        )


@dataclass(eq=False, slots=True)
class Replay:
    """One connection's replay: the cursor it asked for and where Jetstream began."""

    requested_us: int | None
    connected_us: int
    first_us: int | None = None
    replayed: int = 0  # campaign posts published from before the connection
    caught_up: asyncio.Event = field(default_factory=asyncio.Event)

    def missed(self, tolerance_us: int) -> tuple[int, int] | None:
        """The window Jetstream did not replay: its replay began too long after the cursor."""
        if self.requested_us is None or self.first_us is None:
            return None
        if self.first_us - self.requested_us <= tolerance_us:
            return None
        return self.requested_us, self.first_us


def subscribe_url(base: str, cursor: int | None) -> str:
    parts = urlsplit(base)
    query = [("wantedCollections", c) for c in COLLECTIONS]
    if cursor is not None:
        query.append(("cursor", str(cursor)))
    extra = f"{parts.query}&" if parts.query else ""
    return urlunsplit(parts._replace(query=extra + urlencode(query)))


def _us(seconds: float) -> int:
    return int(seconds * 1_000_000)


class JetstreamStream(LiveStream):
    key = "jetstream"

    def __init__(
        self,
        campaign: Campaign,
        config: BlueskyConfig,
        credentials: Credentials | None = None,
        seen: SeenPosts | None = None,
    ) -> None:
        self.config = config
        self.policy = ReconnectPolicy()
        self.source = config.jetstream_url
        self.tags = {normalize_hashtag(t) for t in campaign.hashtags}
        self.spellings = list(campaign.hashtags)
        self.credentials = credentials
        self.seen = seen if seen is not None else SeenPosts(limit=config.seen_limit)
        self.recent = Recent(keep_us=_us(2 * config.rewind + config.replay_tolerance))
        self.unseen_reposts = 0  # reposts of posts never seen: counted, not fetched
        self._pending: list[tuple[str, int]] = []  # published, not yet flushed
        self._newest_us: int | None = None  # the newest time_us read
        self._replays: dict[object, Replay] = {}
        self._history_us: int | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._search: BlueskySearch | None = None

    @property
    def search(self) -> BlueskySearch | None:
        if self._search is None and self.credentials is not None:
            self._search = BlueskySearch(
                self.credentials,
                self.owner.waiter,
                page_size=self.config.search_page_size,
                result_cap=self.config.search_result_cap,
            )
        return self._search

    async def prepare(self) -> None:
        self.seen.load()
        if self.config.backfill:
            start = datetime.fromtimestamp(self.owner.clock.time(), UTC) - self.config.backfill
            self._history_us = to_time_us(start)

    async def close(self) -> None:
        self.seen.close()
        if self._search is not None:
            await self._search.close()

    def disconnect(self) -> None:
        ws = self._ws
        if ws is not None and not ws.closed:
            asyncio.get_running_loop().create_task(ws.close())

    # --- checkpoint --------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        return {"recent": self.recent.dump()}

    def restore_state(self, state: dict[str, Any]) -> None:
        self.recent.restore(state.get("recent"))

    # --- one connection ----------------------------------------------------------------

    def _cursor(self, link: Link) -> int | None:
        """Where to ask Jetstream to start: a little before the durable cursor, or before
        the outage when nothing was read yet, or the start of ``--backfill`` history."""
        rewind = _us(self.config.rewind)
        asked: list[int] = []
        if link.cursor is not None:
            asked.append(int(link.cursor) - rewind)
        elif link.outage is not None:
            asked.append(_us(link.outage.start) - rewind)
        if self._history_us is not None:
            asked.append(self._history_us)
        return min(asked) if asked else None

    async def connect(self, link: Link, ended: Ended) -> None:
        requested = self._cursor(link)
        url = subscribe_url(self.config.jetstream_url, requested)
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=self.config.connect_timeout)
        try:
            async with (
                aiohttp.ClientSession(timeout=timeout) as session,
                session.ws_connect(
                    url,
                    compress=0,
                    autoping=True,
                    max_msg_size=self.config.max_message_bytes,
                    timeout=aiohttp.ClientWSTimeout(ws_close=self.config.close_timeout),
                ) as ws,
            ):
                self._ws = ws
                replay = Replay(requested, _us(link.clock.time()))
                if link.outage is not None:  # this connection ends that outage: its gap
                    self._replays[datetime.fromtimestamp(link.outage.start, UTC)] = replay
                if self._history_us is not None:
                    self._replays[_HISTORY] = replay
                    self._history_us = None
                await link.connected()
                flusher = asyncio.create_task(self._flush_every(link))
                try:
                    await self._read(ws, link, ended, replay)
                finally:
                    flusher.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await flusher
                    await self._make_durable(link)
        except aiohttp.WSServerHandshakeError as exc:
            self._refused(exc.status, ended)
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            name = type(exc).__name__
            ended.reason = f"stream network error: {name}: {str(exc)[:200]}"
            ended.cause = f"network error ({name})"
            ended.schedule = "network"
        finally:
            self._ws = None

    def _refused(self, status: int, ended: Ended) -> None:
        ended.reason = f"Jetstream answered HTTP {status}"
        ended.cause = f"HTTP {status}"
        if status == 429:
            ended.schedule = "http-429"
        elif status >= 500 or status in (408, 425):
            ended.schedule = "http"
        else:
            ended.schedule = None
            ended.fatal = (
                f"Jetstream refused the subscription (HTTP {status}): check BLUESKY_JETSTREAM_URL"
                f" ({self.config.jetstream_url})"
            )

    async def _read(
        self, ws: aiohttp.ClientWebSocketResponse, link: Link, ended: Ended, replay: Replay
    ) -> None:
        while True:
            try:
                message = await ws.receive(timeout=self.config.stall_timeout)
            except TimeoutError:
                ended.reason = f"stream stalled: no message for {self.config.stall_timeout:g} s"
                ended.cause = "stalled"
                return
            if link.stopping.is_set():
                ended.stopped = True
                return
            if message.type == aiohttp.WSMsgType.TEXT:
                await self.handle_message(str(message.data).encode("utf-8"), link, replay)
            elif message.type == aiohttp.WSMsgType.BINARY:
                await self.handle_message(bytes(message.data), link, replay)
            elif message.type == aiohttp.WSMsgType.ERROR:
                exc = ws.exception()
                name = type(exc).__name__ if exc else "error"
                ended.reason = f"stream network error: {name}: {str(exc)[:200]}"
                ended.cause = f"network error ({name})"
                return
            else:  # CLOSE, CLOSING, CLOSED: the server (or the network) ended it
                code = ws.close_code
                ended.reason = f"stream closed by the server (close code {code})"
                if code is None or code == aiohttp.WSCloseCode.ABNORMAL_CLOSURE:
                    ended.reason = "stream connection lost without a close frame"
                    ended.cause = "connection lost"
                return

    # --- durability --------------------------------------------------------------------

    async def _flush_every(self, link: Link) -> None:
        while True:
            await asyncio.sleep(self.config.checkpoint_every)
            await self._make_durable(link)

    async def _make_durable(self, link: Link) -> None:
        """Flush what was published, then advance the cursor past it and checkpoint."""
        newest, pending = self._newest_us, self._pending
        self._pending = []
        await self.owner.publisher.flush()
        for key, time_us in pending:
            self.recent.add(key, time_us)
        if newest is not None:
            # Keep what a pending backfill may find again: its search starts at the cursor
            # the reconnect asked for, however far the stream has moved on since.
            asked = [r.requested_us for r in self._replays.values() if r.requested_us is not None]
            self.recent.prune(min([newest, *asked]))
            link.advance(str(newest))
            self.owner.save_checkpoint()  # at most every checkpoint_every seconds

    # --- one event ---------------------------------------------------------------------

    async def handle_message(self, raw: bytes, link: Link, replay: Replay) -> None:
        """One message as Jetstream sent it: published, dead-lettered or counted as skipped."""
        owner = self.owner
        owner.stats.read += 1
        if link.cursor is not None:
            link.seen(link.cursor)  # a sign of life that bounds a gap; the cursor moves on flush
        else:
            link.alive()
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            await owner.reject("invalid-json", str(exc), self.source, raw)
            return
        if too_deep(obj):
            await owner.reject(INVALID, "JSON nested too deeply", self.source, raw)
            return
        time_us = obj.get("time_us") if isinstance(obj, dict) else None
        if from_time_us(time_us) is not None:
            assert isinstance(time_us, int)
            self._observe(time_us, replay)
        try:
            event = parse_event(obj)
            await self._event(event, raw, replay)
        except NotAPost as exc:
            owner.stats.skipped[str(exc)] += 1
        except MappingError as exc:
            await owner.reject(INVALID, str(exc), self.source, raw)

    def _observe(self, time_us: int, replay: Replay) -> None:
        if self._newest_us is None or time_us > self._newest_us:
            self._newest_us = time_us
        if replay.first_us is None:
            replay.first_us = time_us
            missed = replay.missed(_us(self.config.replay_tolerance))
            if missed is not None:
                log.warning(
                    "%s: Jetstream replayed from %s only; the cursor (%s) is beyond its "
                    "replay window",
                    self.owner.name,
                    from_time_us(missed[1]),
                    from_time_us(missed[0]),
                )
        if time_us >= replay.connected_us:
            replay.caught_up.set()

    async def _event(self, event: Event, raw: bytes, replay: Replay) -> None:
        owner = self.owner
        assert event.uri is not None
        provenance = owner.provenance(self.source)
        if event.operation == "delete":
            if event.uri.uid not in self.seen:
                owner.stats.skipped["delete-of-unseen-record"] += 1
                return
            await self._publish(deletion_of(event, raw, provenance), event.time_us, replay)
        elif event.is_repost:
            subject = subject_of(event)
            original = self.seen.get(subject.uid)
            if original is None or original.repost:
                self.unseen_reposts += 1
                owner.stats.skipped["repost-of-unseen-post"] += 1
                return
            repost = repost_of(event, raw, provenance, original)
            self.seen.add(repost)
            await self._publish(repost, event.time_us, replay)
        else:
            post = post_of(event, raw, provenance)
            followed = event.operation == "update" and post.uid in self.seen
            if not (followed or self.matches(post)):
                owner.stats.skipped["not-campaign"] += 1
                return
            self.seen.add(post)
            await self._publish(post, event.time_us, replay)

    def matches(self, post: Post) -> bool:
        return any(h.normalized in self.tags for h in post.hashtags)

    async def _publish(
        self, record: Post | PostDeletion, time_us: int, replay: Replay | None
    ) -> bool:
        """Publish unless published already (a replay); True if it was."""
        if isinstance(record, PostDeletion):
            key = f"{record.uid}#deleted"
        else:
            key = f"{record.uid}#{record.version_key()}"
        if key in self.recent or any(k == key for k, _ in self._pending):
            self.owner.stats.skipped["already-published"] += 1
            return False
        if isinstance(record, PostDeletion):
            await self.owner.emit_deletion(record)
        else:
            await self.owner.emit(record)
        self._pending.append((key, time_us))
        if isinstance(record, Post) and replay is not None and time_us < replay.connected_us:
            replay.replayed += 1  # a post (or repost, or edit) from before the reconnect
        return True

    # --- backfill ----------------------------------------------------------------------

    async def backfill(self, job: BackfillJob, link: Link) -> int | None:
        """What the replay recovered for the job's window, plus a search of whatever part of
        it Jetstream no longer had."""
        key = job.gap.start if job.gap is not None else _HISTORY
        replay = self._replays.get(key)
        if replay is None:
            return await self._unknown_replay(job, link)
        try:  # registered until the search is done: it keeps what the search may find again
            await self._wait(replay.caught_up, link.stopping)
            if link.stopping.is_set():
                return None
            missed = replay.missed(_us(self.config.replay_tolerance))
            if missed is None:
                return replay.replayed
            since, until = (from_time_us(t) for t in missed)
            assert since is not None and until is not None
            if self.search is None:
                raise StreamError(
                    f"Jetstream replayed {replay.replayed} posts from {until.isoformat()} only; "
                    f"posts from {since.isoformat()} on are beyond its replay window and were "
                    "not recovered: set BLUESKY_API_URL, BLUESKY_HANDLE and "
                    "BLUESKY_APP_PASSWORD to backfill them through searchPosts"
                )
            found = await self._search_window(since, until + timedelta(milliseconds=1), link)
            return None if found is None else replay.replayed + found
        finally:
            self._replays.pop(key, None)

    async def _unknown_replay(self, job: BackfillJob, link: Link) -> int | None:
        """A gap left pending by an earlier run: whether its replay covered it is unknown, so
        it is searched when search is possible (what is found twice is published once)."""
        if self.search is None or job.gap is None or job.gap.end is None:
            return 0
        since = from_time_us(int(job.since)) if job.since else None
        start = min(since or job.gap.start, job.gap.start) - timedelta(seconds=self.config.rewind)
        until = from_time_us(int(job.until)) if job.until else None
        return await self._search_window(start, max(until or job.gap.end, job.gap.end), link)

    async def _wait(self, event: asyncio.Event, stopping: asyncio.Event) -> None:
        done = asyncio.ensure_future(event.wait())
        stop = asyncio.ensure_future(stopping.wait())
        try:
            await asyncio.wait(
                {done, stop},
                timeout=self.config.bracket_timeout,
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            done.cancel()
            stop.cancel()

    async def _search_window(self, since: datetime, until: datetime, link: Link) -> int | None:
        """Publish the campaign's posts searchPosts finds from ``since`` to ``until``."""
        search = self.search
        assert search is not None
        owner = self.owner
        found = 0
        for tag in self.spellings:
            async for page in search.pages(tag, since, until, link.stopping):
                provenance = owner.provenance(page.source, collector="bluesky-search")
                try:
                    obj = orjson.loads(page.body)
                    results = list(posts_in_response(obj, page.body, provenance))
                except orjson.JSONDecodeError as exc:
                    await owner.reject("invalid-json", str(exc), page.source, page.body)
                    continue
                except NotAPost:
                    continue  # an empty page
                for result in results:
                    owner.stats.read += 1
                    if isinstance(result, MappingError):
                        await owner.reject(INVALID, str(result), page.source, page.body)
                    elif self.matches(result):
                        self.seen.add(result)
                        if await self._publish(result, to_time_us(result.created_at), None):
                            found += 1
            if link.stopping.is_set():
                return None
        await self._make_durable(link)
        return found
