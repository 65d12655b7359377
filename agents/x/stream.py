"""The live X collector: the campaign's rules on the v2 filtered stream, gaps found and filled.

Why tweepy's *sync* ``StreamingClient`` in a thread, not ``AsyncStreamingClient``: the async
client would suit an asyncio collector best, but in tweepy 4.17 it hard-codes
``https://api.twitter.com`` inside methods that also create their own aiohttp session, so
pointing it at ``X_API_BASE_URL`` would mean overriding its private ``_connect`` (and copying
``AsyncBaseClient.request``) or rewriting aiohttp request objects in flight. The sync client
exposes a documented ``requests.Session``, where a transport adapter can send requests to
the base URL and set the read timeout that detects stalls (agents/x_search.py). Its
retry loop is switched off through documented hooks: every error hook records what happened
and calls ``disconnect()``, which tweepy checks before it would sleep, so reconnect policy
stays here (agents/backoff.py). Each connection runs on tweepy's daemon thread; each line is
handed to the event loop (``run_coroutine_threadsafe``) and the thread waits for it to be
published, so a slow publisher slows the reader instead of piling lines up in memory.

One connection ends in one of: a network error, a stall (no data or keep-alive newline for
``stall_timeout``: the stream's read timeout), an HTTP error, an error object in the stream
(``operational-disconnect`` and the like, handled by kind), or the server closing the stream.
The collector then waits as X's rules say for that kind and reconnects. The stream is down
from the last sign of life (a post or a keep-alive) until the next successful connection:
that window is a gap, written to the store's ``gaps`` table when it opens and again when it
closes, then backfilled through recent search between the last post id seen before it
(``since_id``) and the first post id seen after it (``until_id``) — exact bounds, since post
ids grow with time — and written once more with the number of posts recovered.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import sys
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import orjson
import requests
import tweepy
import urllib3

from agents.base import Collector
from agents.checkpoint import Checkpoint, CheckpointFile, PendingGap
from agents.publisher import Publisher
from agents.x.payload import MappingError, NotAPost, posts_from_object
from agents.x.rules import (
    Rule,
    RulesApi,
    TweepyRulesApi,
    build_rules,
    limits_for,
    owner_prefix,
    sync_rules,
)
from agents.x.search import (
    SearchError,
    SearchPage,
    SearchWindow,
    XSearch,
    point_session,
    protect,
    request_fields,
)
from pipeline import __version__
from pipeline.core.backoff import Clock, Delay, ReconnectPolicy, Schedule, SystemClock, Waiter
from pipeline.core.campaign import Campaign
from pipeline.sinks.base import Store
from schemas.gap import Gap
from schemas.post import MatchingRule, Provenance

log = logging.getLogger(__name__)

RECENT_SEARCH_REACH = timedelta(days=7) - timedelta(minutes=1)  # recent search: last 7 days


class XStreamError(RuntimeError):
    """The stream cannot be used and reconnecting will not help (bad token, no access...)."""


@dataclass(frozen=True, slots=True)
class XStreamConfig:
    base_url: str = "https://api.twitter.com"
    stall_timeout: float = 90.0  # no data and no keep-alive newline for this long: reconnect
    connect_timeout: float = 10.0
    bracket_timeout: float = 60.0  # wait this long for a post after a reconnect to bound a gap
    search_lag: float = 10.0  # X serves recent search up to 10 s before the request
    start_margin: float = 10.0  # widen a gap's start when no post id bounds it
    page_size: int = 100
    checkpoint_every: float = 1.0
    stop_grace: float = 2.0  # how long a stop waits for the stream thread to let go
    backfill: timedelta | None = None  # history to fill at start (``--backfill 2d``)


# --- what ended a connection ---------------------------------------------------------------

_FATAL_HTTP = {
    400: "X rejected the stream request (HTTP 400 Bad Request)",
    401: "X rejected the bearer token (HTTP 401 Unauthorized): check X_BEARER_TOKEN",
    403: "X refused the filtered stream (HTTP 403 Forbidden): does the account's access "
    "level include it?",
    404: "X has no filtered stream at this URL (HTTP 404): check X_API_BASE_URL",
    409: "X refused the stream (HTTP 409 Conflict)",
}


def http_schedule(status: int) -> Schedule | None:
    """The reconnect schedule for an HTTP error, or None when retrying cannot help."""
    if status in (420, 429):
        return "http-429"
    if status in _FATAL_HTTP or (400 <= status < 500 and status not in (408, 425)):
        return None
    return "http"


# Kinds of disconnect X names in its operational-disconnect problem objects. TooManyConnections
# means this app's connection slots are taken: treated like a 429. Every other kind, known or
# not, reconnects on the network schedule (X: "reconnect" for operational disconnects).
_DISCONNECT_429 = frozenset({"TooManyConnections"})


@dataclass(frozen=True, slots=True)
class StreamProblem:
    """An ``errors``-only object in the stream: reconnect on ``schedule``, or read on."""

    schedule: Schedule | None  # None: not a disconnect; log it and keep reading
    kind: str
    reason: str


def classify_stream_error(obj: dict[str, Any]) -> StreamProblem:
    errors = [e for e in obj.get("errors") or () if isinstance(e, dict)]
    for error in errors:
        title = str(error.get("title") or "")
        kind = error.get("disconnect_type") or error.get("connection_issue")
        if (
            title == "operational-disconnect"
            or str(error.get("type", "")).endswith("/operational-disconnect")
            or kind
        ):
            kind = str(kind or title)
            detail = str(error.get("detail") or "").strip()
            schedule: Schedule = "http-429" if kind in _DISCONNECT_429 else "network"
            return StreamProblem(schedule, kind, f"stream error {title or kind} ({kind}) {detail}")
    first = errors[0] if errors else {}
    title = str(first.get("title") or "error")
    return StreamProblem(None, title, f"stream error object: {title}: {first.get('detail', '')}")


@dataclass(slots=True)
class _Outcome:
    """How one connection went; written by the stream thread, read once it is over."""

    started_at: float
    connected_at: float | None = None
    last_activity: float | None = None
    schedule: Schedule | None = "network"
    reason: str = "stream closed by the server"
    cause: str = "closed by the server"  # short, for gap reasons
    fatal: str | None = None
    exception: BaseException | None = None
    stopped: bool = False


def _is_read_timeout(exc: BaseException | None) -> bool:
    if isinstance(exc, requests.ReadTimeout | urllib3.exceptions.ReadTimeoutError):
        return True
    return bool(
        isinstance(exc, requests.ConnectionError)
        and exc.args
        and isinstance(exc.args[0], urllib3.exceptions.ReadTimeoutError)
    )


class _StreamThread(tweepy.StreamingClient):
    """One connection. tweepy's hooks report to the collector and never let tweepy retry."""

    def __init__(self, token: str, owner: XStreamCollector, outcome: _Outcome) -> None:
        super().__init__(token, daemon=True)
        self.owner = owner
        self.outcome = outcome
        self.loop = asyncio.get_running_loop()
        self.done = asyncio.Event()

    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def on_connect(self) -> None:
        now = self.owner.clock.time()
        self.outcome.connected_at = self.outcome.last_activity = now
        if self.running:
            self._call(self.owner._connected(now))

    def on_data(self, raw_data: bytes) -> None:
        if not self.running:
            return  # stopping: whatever comes now is caught up after the restart
        now = self.owner.clock.time()
        self.outcome.last_activity = now
        problem = self._call(self.owner._line(raw_data))
        if problem is not None:
            self.outcome.schedule = problem.schedule
            self.outcome.reason = problem.reason
            self.outcome.cause = f"stream error {problem.kind}"
            self.disconnect()

    def on_keep_alive(self) -> None:
        if not self.running:
            return  # stopping: coverage ends with the last line handled
        self.outcome.last_activity = self.owner.clock.time()
        self.loop.call_soon_threadsafe(self.owner._save_checkpoint)

    def on_request_error(self, status_code: int) -> None:
        self.outcome.schedule = http_schedule(status_code)
        self.outcome.reason = f"stream answered HTTP {status_code}"
        self.outcome.cause = f"HTTP {status_code}"
        if self.outcome.schedule is None:
            self.outcome.fatal = _FATAL_HTTP.get(
                status_code, f"X refused the stream (HTTP {status_code}); retrying will not help"
            )
        self.disconnect()

    def on_connection_error(self) -> None:
        exc = sys.exc_info()[1]  # tweepy calls this hook from inside its except block
        if _is_read_timeout(exc):
            timeout = self.owner.config.stall_timeout
            self.outcome.reason = f"stream stalled: no data or keep-alive for {timeout:g} s"
            self.outcome.cause = "stalled"
        else:
            name = type(exc).__name__ if exc else "error"
            self.outcome.reason = f"stream network error: {name}: {str(exc)[:200]}"
            self.outcome.cause = f"network error ({name})"
        self.outcome.schedule = "network"
        self.disconnect()

    def on_closed(self, response: requests.Response) -> None:
        self.disconnect()  # the outcome says why, if a line said; else "closed by the server"

    def on_exception(self, exception: Exception) -> None:
        self.outcome.exception = exception
        self.outcome.schedule = None

    def on_disconnect(self) -> None:
        with contextlib.suppress(RuntimeError):  # the loop may be gone after a stop
            self.loop.call_soon_threadsafe(self.done.set)


# --- gaps and backfill ---------------------------------------------------------------------


@dataclass(slots=True)
class _Outage:
    start: float
    since_id: str | None
    causes: Counter[str] = field(default_factory=Counter)

    def reason(self) -> str:
        return "; ".join(f"{c} x{n}" if n > 1 else c for c, n in self.causes.items())


@dataclass(eq=False, slots=True)
class _Job:
    """One backfill: a gap (written to the store) or history (``--backfill``)."""

    gap: Gap | None
    since_id: str | None = None
    until_id: str | None = None
    start_time: datetime | None = None  # history, or a gap with no post id before it
    bracket: asyncio.Event = field(default_factory=asyncio.Event)


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


class XStreamCollector(Collector):
    name = "x-stream"

    def __init__(
        self,
        publisher: Publisher,
        campaign: Campaign,
        bearer_token: str,
        *,
        config: XStreamConfig | None = None,
        store: Store | None = None,
        checkpoint: CheckpointFile | None = None,
        clock: Clock | None = None,
        rules_api: RulesApi | None = None,
    ) -> None:
        super().__init__(publisher)
        protect(bearer_token)
        self.campaign = campaign
        self.config = config or XStreamConfig()
        self.store = store
        self.checkpoint = checkpoint
        self.clock: Clock = clock or SystemClock()
        self.waiter = Waiter(self.clock, self.name)
        self.policy = ReconnectPolicy()
        self.search = XSearch(
            bearer_token, self.config.base_url, self.waiter, page_size=self.config.page_size
        )
        self.rules_api: RulesApi = rules_api or TweepyRulesApi(bearer_token, self.config.base_url)
        self.rules: list[Rule] = []
        self.gaps: dict[str, Gap] = {}  # every gap this run recorded, latest version
        self.connections = 0
        self._token = bearer_token
        self._source = f"{self.config.base_url.rstrip('/')}/2/tweets/search/stream"
        self._stop = asyncio.Event()
        self._stream: _StreamThread | None = None
        self._outcome: _Outcome | None = None
        self._outage: _Outage | None = None
        self._last_id: str | None = None
        self._covered_until: float | None = None
        self._bracketing: list[_Job] = []
        self._jobs: asyncio.Queue[_Job] = asyncio.Queue()
        self._pending: list[_Job] = []
        self._saved_at = -math.inf

    @property
    def delays(self) -> list[Delay]:
        """Every wait so far (reconnects, rate limits), in order, with its reason."""
        return list(self.waiter.history)

    def backfills_pending(self) -> int:
        return len(self._pending)

    def stop(self) -> None:
        super().stop()
        self._stop.set()
        if self._stream is not None:
            self._stream.disconnect()

    # --- the loop --------------------------------------------------------------------------

    async def collect(self) -> None:
        self._stop.clear()
        saved = self.checkpoint.load() if self.checkpoint else Checkpoint()
        self._last_id = saved.last_id
        limits = limits_for(self.campaign.x)
        synced = await sync_rules(
            self.rules_api,
            build_rules(self.campaign, limits),
            owner_prefix(self.campaign.name),
            limits,
        )
        self.rules = synced.rules
        for pending in saved.pending:
            self._enqueue(
                _Job(gap=pending.gap, since_id=pending.since_id, until_id=pending.until_id)
            )
        if saved.covered_until is not None:
            self._outage = _Outage(saved.covered_until.timestamp(), saved.last_id)
            if saved.outage:  # stopped during an outage: the restart closes that same gap
                self._outage.causes[saved.outage] += 1
            self._outage.causes["collector not running"] += 1
        if self.config.backfill:
            start = _utc(self.clock.time()) - self.config.backfill
            history = _Job(gap=None, start_time=start)
            self._bracketing.append(history)
            self._enqueue(history)
        worker = asyncio.create_task(self._backfill_worker())
        try:
            while self.running and not self._stop.is_set():
                outcome = await self._connect_once()
                if outcome.stopped or not self.running:
                    break
                if outcome.exception is not None:
                    raise outcome.exception
                if outcome.fatal is not None or outcome.schedule is None:
                    raise XStreamError(outcome.fatal or outcome.reason)
                await self._outage_begins(outcome)
                delay = self.policy.next(outcome.schedule)
                await self.waiter.wait(
                    delay, outcome.schedule, f"{outcome.reason}; reconnecting", self._stop
                )
        finally:
            self._stop.set()
            if self._stream is not None:
                self._stream.disconnect()
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker
            self._save_checkpoint(force=True)

    async def _connect_once(self) -> _Outcome:
        outcome = _Outcome(started_at=self.clock.time())
        stream = _StreamThread(self._token, self, outcome)
        point_session(
            stream.session,
            self.config.base_url,
            connect_timeout=self.config.connect_timeout,
            read_timeout=self.config.stall_timeout,
        )
        self._stream, self._outcome = stream, outcome
        self.connections += 1
        stream.filter(threaded=True, **request_fields())
        done = asyncio.ensure_future(stream.done.wait())
        stopping = asyncio.ensure_future(self._stop.wait())
        try:
            await asyncio.wait({done, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if not stream.done.is_set():
                outcome.stopped = True
                stream.disconnect()
                with contextlib.suppress(TimeoutError):
                    # the thread notices at its next line or keep-alive; it is a daemon
                    await asyncio.wait_for(stream.done.wait(), self.config.stop_grace)
        finally:
            done.cancel()
            stopping.cancel()
            stream.disconnect()
        if outcome.connected_at is not None and outcome.last_activity is not None:
            self._covered_until = outcome.last_activity
        return outcome

    async def _connected(self, now: float) -> None:
        self.policy.reset()
        log.info("%s: connected to %s", self.name, self._source)
        if self._outage is None:
            return
        outage, self._outage = self._outage, None
        gap = self._gap(outage, end=now)
        job = _Job(gap=gap, since_id=outage.since_id)
        if outage.since_id is None:
            job.start_time = _utc(outage.start - self.config.start_margin)
        await self._write_gap(gap)
        self._bracketing.append(job)
        self._enqueue(job)

    async def _outage_begins(self, outcome: _Outcome) -> None:
        if self._outage is None:
            connected = outcome.connected_at is not None
            start = outcome.last_activity if connected and outcome.last_activity else None
            self._outage = _Outage(start or outcome.started_at, self._last_id)
        self._outage.causes[outcome.cause] += 1
        await self._write_gap(self._gap(self._outage, end=None))
        self._save_checkpoint(force=True)

    def _gap(self, outage: _Outage, end: float | None) -> Gap:
        start = _utc(outage.start)
        return Gap(
            id=f"{self.name}:{start.isoformat()}",
            collector=self.name,
            start=start,
            end=_utc(end) if end is not None else None,
            reason=outage.reason(),
        )

    async def _write_gap(self, gap: Gap) -> None:
        self.gaps[gap.id] = gap
        if gap.end is None:
            log.warning("%s: gap opened at %s: %s", self.name, gap.start.isoformat(), gap.reason)
        else:
            log.warning(
                "%s: gap %s .. %s (%s), %d posts recovered",
                self.name,
                gap.start.isoformat(),
                gap.end.isoformat(),
                gap.reason,
                gap.recovered,
            )
        if self.store is not None:
            try:
                await self.store.write_gaps([gap])
            except Exception:
                log.exception("%s: could not write gap %s to the store", self.name, gap.id)

    # --- lines -----------------------------------------------------------------------------

    async def _line(self, raw: bytes) -> StreamProblem | None:
        self.stats.read += 1
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            await self.reject("invalid-json", str(exc), self._source, raw)
            return None
        if isinstance(obj, dict) and "errors" in obj and "data" not in obj:
            problem = classify_stream_error(obj)
            if problem.schedule is not None:
                return problem
            log.warning("%s: %s", self.name, problem.reason)
            self.stats.skipped[f"stream-error:{problem.kind}"] += 1
            return None
        try:
            results = list(posts_from_object(obj, raw, self.provenance(self._source)))
        except NotAPost as exc:
            self.stats.skipped[str(exc)] += 1
            return None
        for result in results:
            if isinstance(result, MappingError):
                await self.reject("not-a-valid-tweet", str(result), self._source, raw)
                continue
            await self.emit(result)
            self._seen(result.id)
        return None

    def _seen(self, post_id: str) -> None:
        if self._last_id is None or int(post_id) > int(self._last_id):
            self._last_id = post_id
        for job in self._bracketing:
            job.until_id = post_id
            job.bracket.set()
        self._bracketing.clear()
        self._save_checkpoint()

    # --- backfill --------------------------------------------------------------------------

    def _enqueue(self, job: _Job) -> None:
        self._pending.append(job)
        self._jobs.put_nowait(job)

    async def _backfill_worker(self) -> None:
        while True:
            job = await self._jobs.get()
            try:
                if await self._backfill(job):
                    self._pending.remove(job)
            except Exception as exc:  # a failed backfill must not end the others
                if isinstance(exc, SearchError):
                    log.error("%s: backfill failed: %s", self.name, exc)
                else:
                    log.exception("%s: backfill failed", self.name)
                if job.gap is not None:
                    failed = msgspec.structs.replace(
                        job.gap, reason=f"{job.gap.reason}; backfill failed: {exc}"[:500]
                    )
                    await self._write_gap(failed)
                self._pending.remove(job)
            self._save_checkpoint(force=True)

    async def _backfill(self, job: _Job) -> bool:
        """Search the job's window under every rule; False if a stop interrupted it."""
        if job in self._bracketing:
            await self._await_bracket(job)
        if self._stop.is_set():
            return False
        window = await self._window(job)
        if window is None:
            return False
        seen: set[str] = set()
        for rule in self.rules:
            async for page in self.search.pages(rule.value, window, self._stop):
                await publish_page(self, page, seen, rule)
            if self._stop.is_set():
                return False
        what = "history" if job.gap is None else f"gap from {job.gap.start.isoformat()}"
        log.info("%s: backfilled %d posts (%s)", self.name, len(seen), what)
        if job.gap is not None:
            await self._write_gap(msgspec.structs.replace(job.gap, recovered=len(seen)))
        return True

    async def _await_bracket(self, job: _Job) -> None:
        """Wait for the first post after the reconnect: its id is the window's exact end."""
        bracket = asyncio.ensure_future(job.bracket.wait())
        stopping = asyncio.ensure_future(self._stop.wait())
        try:
            await asyncio.wait(
                {bracket, stopping},
                timeout=self.config.bracket_timeout,
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            bracket.cancel()
            stopping.cancel()
        if job in self._bracketing:
            self._bracketing.remove(job)  # no post yet: bound the window by time instead

    async def _window(self, job: _Job) -> SearchWindow | None:
        now = self.clock.time()
        oldest = _utc(now) - RECENT_SEARCH_REACH
        since_id, start_time = job.since_id, job.start_time
        begins = job.gap.start if job.gap is not None else start_time
        if begins is not None and begins < oldest:
            log.warning(
                "%s: recent search reaches back 7 days only; posts before %s are not recovered",
                self.name,
                oldest.isoformat(),
            )
            since_id, start_time = None, oldest
        if since_id is None and start_time is None and job.gap is not None:
            start_time = job.gap.start - timedelta(seconds=self.config.start_margin)
        if since_id is not None:
            start_time = None
        end_time: datetime | None = None
        if job.until_id is None:
            end = job.gap.end if job.gap is not None and job.gap.end else _utc(now)
            end_ts = math.ceil(end.timestamp())
            wait = end_ts + self.config.search_lag - self.clock.time()
            if wait > 0:
                await self.waiter.wait(
                    wait,
                    "search-lag",
                    f"recent search serves posts up to {self.config.search_lag:g} s "
                    "before the request",
                    self._stop,
                )
                if self._stop.is_set():
                    return None
            end_time = _utc(end_ts)
        return SearchWindow(
            since_id=since_id, until_id=job.until_id, start_time=start_time, end_time=end_time
        )

    # --- checkpoint ------------------------------------------------------------------------

    def _save_checkpoint(self, force: bool = False) -> None:
        if self.checkpoint is None:
            return
        now = self.clock.time()
        if not force and now - self._saved_at < self.config.checkpoint_every:
            return
        self._saved_at = now
        outage = None
        if self._outage is not None:
            covered: float | None = self._outage.start
            outage = self._outage.reason()
        else:
            live = self._outcome
            active = live.last_activity if live and live.connected_at else None
            covered = active or self._covered_until
        self.checkpoint.save(
            Checkpoint(
                last_id=self._last_id,
                covered_until=_utc(covered) if covered is not None else None,
                outage=outage,
                pending=[
                    PendingGap(gap=j.gap, since_id=j.since_id, until_id=j.until_id)
                    for j in self._pending
                    if j.gap is not None and j.gap.end is not None
                ],
            )
        )


async def publish_page(
    collector: Collector, page: SearchPage, seen: set[str], rule: Rule | None = None
) -> None:
    """Publish a search page's posts not in ``seen``, tagged with the rule that found them."""
    try:
        obj = orjson.loads(page.body)
    except orjson.JSONDecodeError as exc:
        await collector.reject("invalid-json", str(exc), page.source, page.body)
        return
    provenance = Provenance(
        collector="x-search",
        version=__version__,
        retrieved_at=datetime.now(UTC),
        source=page.source,
    )
    try:
        results = list(posts_from_object(obj, page.body, provenance))
    except NotAPost as exc:
        if str(exc) == "api-error":
            log.warning("%s: search page holds only errors: %s", collector.name, obj.get("errors"))
            collector.stats.skipped["search-error"] += 1
        return  # an empty page (no matches) holds no data: nothing to publish
    for result in results:
        collector.stats.read += 1
        if isinstance(result, MappingError):
            await collector.reject("not-a-valid-tweet", str(result), page.source, page.body)
            continue
        if result.id in seen:
            continue
        seen.add(result.id)
        if rule is not None:
            matched = [MatchingRule(id=rule.id, tag=rule.tag)]
            result = msgspec.structs.replace(result, rules=matched)
        await collector.emit(result)


class XSearchCollector(Collector):
    """``hashwatch collect x --search QUERY``: one recent-search query, then done."""

    name = "x-search"

    def __init__(
        self,
        publisher: Publisher,
        bearer_token: str,
        query: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        base_url: str = "https://api.twitter.com",
        clock: Clock | None = None,
        page_size: int = 100,
        search_lag: float = 10.0,
    ) -> None:
        super().__init__(publisher)
        self.clock: Clock = clock or SystemClock()
        self.waiter = Waiter(self.clock, self.name)
        self.search = XSearch(bearer_token, base_url, self.waiter, page_size=page_size)
        self.query = query
        self.since = since
        self.until = until
        self.search_lag = search_lag
        self._stop = asyncio.Event()

    def stop(self) -> None:
        super().stop()
        self._stop.set()

    def window(self) -> SearchWindow:
        now = _utc(self.clock.time())
        latest = now - timedelta(seconds=self.search_lag)
        until = min(self.until, latest) if self.until else latest
        oldest = now - RECENT_SEARCH_REACH
        since = self.since
        if since is not None and since < oldest:
            log.warning("%s: recent search reaches back 7 days; starting at %s", self.name, oldest)
            since = oldest
        return SearchWindow(start_time=since, end_time=until)

    async def collect(self) -> None:
        seen: set[str] = set()
        async for page in self.search.pages(self.query, self.window(), self._stop):
            await publish_page(self, page, seen)
            if not self.running:
                return
