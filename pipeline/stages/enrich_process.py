"""Where the enrich stage's CPU work runs: child processes, or the worker's own.

A worker's event loop already carries Faust's per-event plumbing, the ledger, the store sink
and every Kafka client; language ID, validation and near-dup signing on top made it the one
busy core while the other sat half idle (py-spy: the loop's thread 94 % busy). In a child
process the enrich work gets a core of its own and the loop only splices its results. Batches
go out in order and come back in order (``Outbox``); the child keeps no state that matters
(only caches), so any batch can run in any child, and a child that dies is replaced.

Children are spawned, not forked: a worker has Faust's and aiokafka's threads running.
``processes=0`` runs the same code in the worker's own process.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import threading
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from multiprocessing.synchronize import Event as EventType

from pipeline.alerts.config import AlertConfig
from pipeline.core.records import InRecord, OutRecord
from pipeline.core.settings import Settings
from pipeline.core.topics import Topics
from pipeline.enrich.enricher import Enricher
from pipeline.enrich.langid import make_detector, warm_up
from pipeline.enrich.shipment import Shipment, ship
from schemas.codec import encode
from schemas.deadletter import with_head

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EnrichSpec:
    """Everything a process needs to build the enrich stage (picklable)."""

    topic_prefix: str
    backend: str
    languages: tuple[str, ...]  # the campaign's: their models load at start
    watch: tuple[str, ...]
    max_clock_skew_s: float
    max_record_bytes: int
    log_level: int = logging.WARNING

    @classmethod
    def of(cls, settings: Settings, config: AlertConfig) -> EnrichSpec:
        return cls(
            topic_prefix=settings.topic_prefix,
            backend=settings.lang_backend,
            languages=config.languages,
            watch=config.watch_terms(),
            max_clock_skew_s=settings.max_clock_skew_s,
            max_record_bytes=settings.max_record_bytes,
            log_level=logging.getLogger().getEffectiveLevel(),
        )

    def build(self) -> Enricher:
        return Enricher(
            Topics(self.topic_prefix),
            make_detector(self.backend),
            watch=self.watch,
            max_clock_skew_s=self.max_clock_skew_s,
        )


_enricher: Enricher | None = None  # a child's, built by _start
_spec: EnrichSpec | None = None


def _start(spec: EnrichSpec, busy: EventType) -> None:
    """A child's start: its stage built and its models loaded before the first batch."""
    global _enricher, _spec, _busy
    threading.Thread(target=_exit_with, args=(os.getppid(),), daemon=True).start()
    logging.getLogger().setLevel(spec.log_level)  # what is logged is relayed (Shipment.logs)
    _spec, _enricher, _busy = spec, spec.build(), busy
    warm_up(_enricher.detector, spec.languages)
    if _enricher.detector.name == "cascade":
        threading.Thread(target=_preload_until_busy, args=(spec.languages,), daemon=True).start()


_busy: EventType | None = None  # set by the worker when it has the first batch
PRELOAD_CHUNK = 4  # models loaded together: the first batch may wait for one chunk (~0.3 s)


def _preload_until_busy(campaign: tuple[str, ...]) -> None:
    """While the worker joins its group (seconds on any broker) the child has nothing to do:
    load the models a campaign's first posts are likely to need then (``preload_order``)
    rather than when a post needs them (~0.1 s each, a backlog in its first seconds), four
    at a time (lingua loads a detector's models in parallel: 0.08 s a language against
    0.1-0.2 s one by one). Stops at the first batch: from then on, a model loads when a post
    needs it (lingua holds the GIL while it loads, so loading on in the background stalled
    batches as much: tried, the first 6 s of a 1,000 posts/s run were a backlog)."""
    from pipeline.enrich.langid import lingua_backend

    order = lingua_backend.preload_order(campaign)
    for i in range(0, len(order), PRELOAD_CHUNK):
        if _busy is None or _busy.is_set():
            return
        lingua_backend.preload_high_accuracy(order[i : i + PRELOAD_CHUNK])


def _exit_with(parent: int) -> None:
    """End this child when the worker is gone: a worker killed with -9 cannot stop its pool,
    and an orphan would hold its models' memory for good."""
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(0)


Row = tuple[str, int, int, bytes | None, bytes]  # an InRecord as it is pickled


def _ship(records: Sequence[Row]) -> Shipment:
    assert _enricher is not None and _spec is not None, "the child was not started"
    return ship(_enricher, [InRecord(*r) for r in records], _spec.max_record_bytes)


def _ready() -> bool:
    return _enricher is not None


class EnrichProcess:
    def __init__(self, spec: EnrichSpec, processes: int = 1) -> None:
        self.spec = spec
        self.processes = processes
        self._pool: Executor | None = None
        self._local: Enricher | None = None
        self._alone = asyncio.Lock()  # held while a batch runs alone in the pool
        self._running = 0  # calls in the pool that are not alone
        self._idle = asyncio.Event()  # set while _running is 0
        self._idle.set()
        # Set with the first batch, so a child stops loading models it may not need: set by
        # the child itself, it would wait for the GIL, which lingua holds while it loads. Set
        # once: its lock is shared with the children, and one killed holding it would block
        # every later set() on the event loop.
        self._busy = multiprocessing.get_context("spawn").Event()
        self._told_busy = False

    async def start(self) -> None:
        """Spawn the children and wait until their models are loaded (or load them here)."""
        if self.processes == 0:
            self._local = self.spec.build()
            await asyncio.to_thread(warm_up, self._local.detector, self.spec.languages)
            return
        self._pool = self._new_pool()
        await asyncio.get_running_loop().run_in_executor(self._pool, _ready)

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            self.processes,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start,
            initargs=(self.spec, self._busy),
        )

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await asyncio.to_thread(pool.shutdown, wait=True, cancel_futures=True)

    async def run(self, records: Sequence[InRecord]) -> Shipment:
        """The batch enriched. A child that dies under it is replaced and the batch run again,
        alone in the pool, so that a second death is its own; then its halves, and theirs,
        until the one post the child dies on is dead-lettered (``enrich-crashed``) and
        the others are enriched: a post that kills the process costs a few restarts, not
        the worker."""
        if not records:
            return Shipment()
        if self._local is not None:
            return ship(self._local, records, self.spec.max_record_bytes)
        return await self._run(records, alone=False)

    async def _run(self, records: Sequence[InRecord], *, alone: bool) -> Shipment:
        where = f"{records[0].source}..{records[-1].offset}"
        try:
            return await self._call(records, alone=alone)
        except BrokenProcessPool:
            pass
        if not alone:
            log.error("the enrich process died during the batch %s: running it alone", where)
            return await self._run(records, alone=True)
        if len(records) == 1:
            return _crashed(records[0], Topics(self.spec.topic_prefix))
        log.error("the enrich process died on the batch %s alone: halving it", where)
        half = len(records) // 2
        first = await self._run(records[:half], alone=True)
        return first.merged(await self._run(records[half:], alone=True))

    async def _call(self, records: Sequence[InRecord], *, alone: bool) -> Shipment:
        """One call in the pool; ``alone``: with nothing else running there. A dead child
        is replaced before ``BrokenProcessPool`` is raised."""
        rows = [(r.topic, r.partition, r.offset, r.key, r.value) for r in records]
        loop = asyncio.get_running_loop()
        if not self._told_busy:
            self._busy.set()
            self._told_busy = True
        if alone:
            async with self._alone:
                await self._idle.wait()  # the calls already in the pool finish first
                return await self._in_pool(loop, rows)
        while self._alone.locked():  # a batch is being run alone: wait
            async with self._alone:
                pass
        self._running += 1
        self._idle.clear()
        try:
            return await self._in_pool(loop, rows)
        finally:
            self._running -= 1
            if self._running == 0:
                self._idle.set()

    async def _in_pool(self, loop: asyncio.AbstractEventLoop, rows: list[Row]) -> Shipment:
        pool = self._pool
        if pool is None:
            raise RuntimeError("the enrich process is not running")
        try:
            return await loop.run_in_executor(pool, _ship, rows)
        except BrokenProcessPool:
            if self._pool is pool:  # the first call to see it dead replaces it
                self._pool = self._new_pool()
                pool.shutdown(wait=False, cancel_futures=True)
            raise


def _crashed(record: InRecord, topics: Topics) -> Shipment:
    """A post the enrich process died on, alone, twice: dead-lettered, and the stage goes on."""
    log.error("dead-lettered %s: the enrich process dies on it", record.source)
    letter = with_head(
        "enrich-crashed",
        f"the enrich process died on this record, alone, twice; {len(record.value):,} bytes",
        record.value,
        stage="enrich",
        source=record.source,
        key=record.key.decode("utf-8", "replace") if record.key else None,
    )
    return Shipment(
        letters=[OutRecord(topics.deadletter, record.key, encode(letter))],
        raw_consumed=1,
        dead_lettered=Counter({"enrich-crashed": 1}),
    )
