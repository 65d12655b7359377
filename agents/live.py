"""What every live collector shares: reconnects, outages as gaps, backfill, checkpoints.

A live collector follows one or more *streams* (X's filtered stream; a Mastodon hashtag
stream on one instance; Jetstream). A stream implements one connection (``connect``) and,
if the platform can, a search of the past (``backfill``); everything else is here, once:

- One connection ends in a network error, a stall, an HTTP error, an error the platform
  sends in the stream, or the server closing it (``Ended``). The collector waits as the
  stream's reconnect policy says for that kind, logs why, and reconnects; a fatal end stops
  it with a clear message.
- The stream is down from its last sign of life (a post, a keep-alive, a heartbeat) until
  the next successful connection: that window is a gap, published on ``hashwatch.gaps`` when
  it opens and again when it closes, then backfilled between the cursor before it (the last
  post id seen) and the first cursor after it (exact bounds, since ids grow with time), and
  published once more with the number of posts recovered.
- Each stream's cursor, coverage, open outage and unfilled gaps are checkpointed, so a
  restarted collector fills what it missed while it was down ("collector not running"). A
  checkpoint is written only once the publisher has flushed everything published before it,
  so it never claims a post the broker does not have, even if the collector is killed.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from agents.base import Collector
from agents.checkpoint import (
    Checkpoint,
    CheckpointFile,
    PendingGap,
    StreamCheckpoint,
)
from agents.publisher import Publisher
from pipeline.core.backoff import Clock, Delay, ReconnectPolicy, Schedule, SystemClock, Waiter
from pipeline.core.campaign import Campaign
from schemas.gap import Gap

log = logging.getLogger(__name__)


class StreamError(RuntimeError):
    """A stream cannot be used and reconnecting will not help (bad token, no access...)."""


def http_schedule(status: int) -> Schedule | None:
    """The reconnect schedule for an HTTP error, or None when retrying cannot help (a client
    error other than a timeout or "too early")."""
    if status in (420, 429):
        return "http-429"
    if 400 <= status < 500 and status not in (408, 425):
        return None
    return "http"


@dataclass(slots=True)
class Ended:
    """How one connection ended; ``connect`` fills it in as it learns."""

    started_at: float
    connected_at: float | None = None
    last_activity: float | None = None
    schedule: Schedule | None = "network"
    reason: str = "stream closed by the server"
    cause: str = "closed by the server"  # short, for gap reasons
    fatal: str | None = None
    exception: BaseException | None = None
    stopped: bool = False


@dataclass(frozen=True, slots=True)
class LiveConfig:
    bracket_timeout: float = 60.0  # wait this long for a post after a reconnect to bound a gap
    start_margin: float = 10.0  # widen a gap's start when no cursor bounds it
    checkpoint_every: float = 1.0
    backfill: timedelta | None = None  # history to fill at start (``--backfill 2d``)


@dataclass(eq=False, slots=True)
class BackfillJob:
    """One backfill: a gap (published on the gaps topic) or history (``--backfill``)."""

    gap: Gap | None
    since: str | None = None  # the cursor before the window
    until: str | None = None  # the first cursor after it
    start_time: datetime | None = None  # history, or a gap with no cursor before it
    bracket: asyncio.Event = field(default_factory=asyncio.Event)


class LiveStream(abc.ABC):
    """One live feed. ``connect`` runs one connection and reports through ``link``."""

    key: str = "stream"  # names the stream in checkpoints and gap ids
    source: str = ""  # the URL it reads, for provenance and gaps (never holds a secret)
    policy: ReconnectPolicy
    owner: LiveCollector  # set by the collector that follows it

    @abc.abstractmethod
    async def connect(self, link: Link, ended: Ended) -> None:
        """Connect and read until the connection ends or ``link.stopping``; say how in
        ``ended``. Call ``link.connected()`` once the platform accepts the connection,
        ``link.alive()`` on any sign of life, ``link.seen(cursor)`` after each post."""

    def disconnect(self) -> None:  # noqa: B027 - most streams notice ``link.stopping``
        """Make a running ``connect`` return soon (a stop)."""

    async def prepare(self) -> None:  # noqa: B027 - most streams need nothing first
        """Once before the first connection (e.g. X's rule sync)."""

    async def backfill(self, job: BackfillJob, link: Link) -> int | None:
        """Publish what the stream missed in ``job``'s window; the number of posts, or None
        if a stop interrupted it. Streams whose platform cannot search the past return 0."""
        return 0

    def state(self) -> dict[str, Any]:
        """What this stream keeps in the checkpoint besides its cursor (JSON-able)."""
        return {}

    def restore_state(self, state: dict[str, Any]) -> None:  # noqa: B027 - most keep none
        """The ``state`` a previous run checkpointed."""

    def newer(self, a: str, b: str) -> bool:
        """Whether cursor ``a`` is past ``b``; numeric ids by default."""
        try:
            return int(a) > int(b)
        except ValueError:
            return a > b


@dataclass(slots=True)
class _Outage:
    start: float
    since: str | None
    causes: Counter[str] = field(default_factory=Counter)

    def reason(self) -> str:
        return "; ".join(f"{c} x{n}" if n > 1 else c for c, n in self.causes.items())


def utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


class Link:
    """One stream's state inside its collector: what ``connect`` and ``backfill`` report to."""

    def __init__(self, owner: LiveCollector, stream: LiveStream) -> None:
        self.owner = owner
        self.stream = stream
        self.cursor: str | None = None
        self.covered_until: float | None = None
        self.current: Ended | None = None
        self.outage: _Outage | None = None
        self.bracketing: list[BackfillJob] = []
        self.jobs: asyncio.Queue[BackfillJob] = asyncio.Queue()
        self.pending: list[BackfillJob] = []

    @property
    def stopping(self) -> asyncio.Event:
        return self.owner.stopping

    @property
    def clock(self) -> Clock:
        return self.owner.clock

    # --- what a connection reports ---------------------------------------------------------

    async def connected(self) -> None:
        now = self.clock.time()
        if self.current is not None:
            self.current.connected_at = self.current.last_activity = now
        self.stream.policy.reset()
        log.info("%s: connected to %s", self.owner.name, self.stream.source)
        if self.outage is None:
            return
        outage, self.outage = self.outage, None
        gap = self._gap(outage, end=now)
        job = BackfillJob(gap=gap, since=outage.since)
        if outage.since is None:
            job.start_time = utc(outage.start - self.owner.config.start_margin)
        await self.owner.publish_gap(gap)
        self.bracketing.append(job)
        self.enqueue(job)

    def advance(self, cursor: str) -> None:
        """Move the cursor to ``cursor`` if it is newer, and nothing else: for a stream whose
        cursor becomes durable later than it is read (Jetstream's, once flushed)."""
        if self.cursor is None or self.stream.newer(cursor, self.cursor):
            self.cursor = cursor

    def alive(self) -> None:
        if self.current is not None:
            self.current.last_activity = self.clock.time()
        self.owner.save_checkpoint()

    def seen(self, cursor: str) -> None:
        """A post was read at ``cursor``: it bounds any gap waiting for its end."""
        self.advance(cursor)
        for job in self.bracketing:
            job.until = cursor
            job.bracket.set()
        self.bracketing.clear()
        self.alive()

    # --- outages ---------------------------------------------------------------------------

    async def outage_begins(self, ended: Ended) -> None:
        if self.outage is None:
            up = ended.connected_at is not None
            start = ended.last_activity if up and ended.last_activity else None
            self.outage = _Outage(start or ended.started_at, self.cursor)
        self.outage.causes[ended.cause] += 1
        await self.owner.publish_gap(self._gap(self.outage, end=None))
        self.owner.save_checkpoint(force=True)

    def _gap(self, outage: _Outage, end: float | None) -> Gap:
        start = utc(outage.start)
        return Gap(
            id=f"{self.owner.gap_prefix(self.stream)}:{start.isoformat()}",
            collector=self.owner.name,
            start=start,
            end=utc(end) if end is not None else None,
            reason=outage.reason(),
            source=self.stream.source,
            collection=self.owner.collection_id,
        )

    # --- backfill --------------------------------------------------------------------------

    def enqueue(self, job: BackfillJob) -> None:
        self.pending.append(job)
        self.jobs.put_nowait(job)

    async def backfill_worker(self) -> None:
        while True:
            job = await self.jobs.get()
            try:
                if await self._backfill(job):
                    self.pending.remove(job)
            except Exception as exc:  # a failed backfill must not end the others
                if isinstance(exc, StreamError):
                    log.error("%s: backfill failed: %s", self.owner.name, exc)
                else:
                    log.exception("%s: backfill failed", self.owner.name)
                if job.gap is not None:
                    failed = msgspec.structs.replace(
                        job.gap, reason=f"{job.gap.reason}; backfill failed: {exc}"[:500]
                    )
                    await self.owner.publish_gap(failed)
                self.pending.remove(job)
            self.owner.save_checkpoint(force=True)

    async def _backfill(self, job: BackfillJob) -> bool:
        if job in self.bracketing:
            await self._await_bracket(job)
        if self.stopping.is_set():
            return False
        recovered = await self.stream.backfill(job, self)
        if recovered is None:
            return False
        what = "history" if job.gap is None else f"gap from {job.gap.start.isoformat()}"
        log.info("%s: backfilled %d posts (%s)", self.owner.name, recovered, what)
        if job.gap is not None:
            await self.owner.publish_gap(msgspec.structs.replace(job.gap, recovered=recovered))
        return True

    async def _await_bracket(self, job: BackfillJob) -> None:
        """Wait for the first post after the reconnect: its cursor is the window's exact end."""
        bracket = asyncio.ensure_future(job.bracket.wait())
        stopping = asyncio.ensure_future(self.stopping.wait())
        try:
            await asyncio.wait(
                {bracket, stopping},
                timeout=self.owner.config.bracket_timeout,
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            bracket.cancel()
            stopping.cancel()
        if job in self.bracketing:
            self.bracketing.remove(job)  # no post yet: bound the window by time instead

    # --- checkpoint ------------------------------------------------------------------------

    def restore(self, saved: StreamCheckpoint) -> None:
        self.cursor = saved.cursor
        self.stream.restore_state(saved.state)
        for pending in saved.pending:
            self.enqueue(BackfillJob(gap=pending.gap, since=pending.since, until=pending.until))
        if saved.covered_until is not None:
            self.outage = _Outage(saved.covered_until.timestamp(), saved.cursor)
            if saved.outage:  # stopped during an outage: the restart closes that same gap
                self.outage.causes[saved.outage] += 1
            self.outage.causes["collector not running"] += 1

    def snapshot(self) -> StreamCheckpoint:
        outage = None
        if self.outage is not None:
            covered: float | None = self.outage.start
            outage = self.outage.reason()
        else:
            live = self.current
            active = live.last_activity if live and live.connected_at else None
            covered = active or self.covered_until
        return StreamCheckpoint(
            cursor=self.cursor,
            covered_until=utc(covered) if covered is not None else None,
            outage=outage,
            pending=[
                PendingGap(gap=j.gap, since=j.since, until=j.until)
                for j in self.pending
                if j.gap is not None and j.gap.end is not None
            ],
            state=self.stream.state(),
        )


class LiveCollector(Collector):
    """Follows its streams until stopped; see the module docstring for what it guarantees."""

    def __init__(
        self,
        publisher: Publisher,
        streams: Sequence[LiveStream],
        *,
        campaign: Campaign | None = None,
        config: LiveConfig | None = None,
        checkpoint: CheckpointFile | None = None,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(publisher, campaign=campaign)
        self.streams = list(streams)
        for stream in self.streams:
            stream.owner = self
        self.config = config or LiveConfig()
        self.checkpoint = checkpoint
        self.clock: Clock = clock or SystemClock()
        self.waiter = Waiter(self.clock, self.name)
        self.stopping = asyncio.Event()
        self.gaps: dict[str, Gap] = {}  # every gap this run published, latest version
        self.connections = 0
        self.links = {s.key: Link(self, s) for s in self.streams}
        self._saved_at = -math.inf
        self._snapshot: Checkpoint | None = None  # the next checkpoint to write
        self._writer: asyncio.Future[None] | None = None

    @property
    def delays(self) -> list[Delay]:
        """Every wait so far (reconnects, rate limits), in order, with its reason."""
        return list(self.waiter.history)

    def backfills_pending(self) -> int:
        return sum(len(link.pending) for link in self.links.values())

    def gap_prefix(self, stream: LiveStream) -> str:
        """Gap ids are ``<prefix>:<start>``: the collector, and the stream when it has several."""
        return self.name if len(self.streams) == 1 else f"{self.name}:{stream.key}"

    def stop(self) -> None:
        super().stop()
        self.stopping.set()
        for stream in self.streams:
            stream.disconnect()

    async def publish_gap(self, gap: Gap) -> None:
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
        await self.publisher.gap(gap)

    async def collect(self) -> None:
        self.stopping.clear()
        saved = self.checkpoint.load() if self.checkpoint else Checkpoint()
        for stream in self.streams:
            await stream.prepare()
        await self.announce()  # the record of this run now names what was asked for
        for key, link in self.links.items():
            link.restore(saved.stream(key))
        if self.config.backfill:
            start = utc(self.clock.time()) - self.config.backfill
            for link in self.links.values():
                history = BackfillJob(gap=None, start_time=start)
                link.bracketing.append(history)
                link.enqueue(history)
        workers = [asyncio.create_task(link.backfill_worker()) for link in self.links.values()]
        follows = [asyncio.create_task(self._follow(link)) for link in self.links.values()]
        try:
            done, _ = await asyncio.wait(follows, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                task.result()  # a fatal end of one stream stops the collector, loudly
        finally:
            self.stopping.set()
            for stream in self.streams:
                stream.disconnect()
            for task in [*follows, *workers]:
                task.cancel()
            for task in [*follows, *workers]:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            self.save_checkpoint(force=True)
            if self._writer is not None:
                await self._writer

    async def _follow(self, link: Link) -> None:
        stream = link.stream
        while self.running and not self.stopping.is_set():
            ended = Ended(started_at=self.clock.time())
            link.current = ended
            self.connections += 1
            await stream.connect(link, ended)
            if ended.connected_at is not None and ended.last_activity is not None:
                link.covered_until = ended.last_activity
            if ended.stopped or self.stopping.is_set() or not self.running:
                break
            if ended.exception is not None:
                raise ended.exception
            if ended.fatal is not None or ended.schedule is None:
                raise StreamError(ended.fatal or ended.reason)
            await link.outage_begins(ended)
            delay = stream.policy.next(ended.schedule)
            await self.waiter.wait(
                delay, ended.schedule, f"{ended.reason}; reconnecting", self.stopping
            )

    def save_checkpoint(self, force: bool = False) -> None:
        """Checkpoint every stream (at most every ``checkpoint_every`` unless ``force``): the
        state is taken now and written once the publisher has flushed what came before it."""
        if self.checkpoint is None:
            return
        now = self.clock.time()
        if not force and now - self._saved_at < self.config.checkpoint_every:
            return
        self._saved_at = now
        self._snapshot = Checkpoint(
            streams={key: link.snapshot() for key, link in self.links.items()}
        )
        if self._writer is None or self._writer.done():
            self._writer = asyncio.ensure_future(self._write_checkpoints())

    async def _write_checkpoints(self) -> None:
        assert self.checkpoint is not None
        while self._snapshot is not None:
            snapshot, self._snapshot = self._snapshot, None
            try:
                await self.publisher.flush()
                self.checkpoint.save(snapshot)
                self.checkpointed()
            except Exception:  # the next checkpoint tries again; the collector goes on
                log.exception("%s: checkpoint not written", self.name)

    def checkpointed(self) -> None:
        """After each checkpoint is written: persist whatever else a restart needs."""
