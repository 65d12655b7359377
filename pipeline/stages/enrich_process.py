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
from collections.abc import Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

from pipeline.alerts.config import alert_config
from pipeline.core.campaign import load_campaign
from pipeline.core.records import InRecord
from pipeline.core.settings import Settings
from pipeline.core.topics import Topics
from pipeline.enrich.enricher import Enricher
from pipeline.enrich.langid import make_detector, warm_up
from pipeline.enrich.shipment import Shipment, ship

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
    def of(cls, settings: Settings) -> EnrichSpec:
        return cls(
            topic_prefix=settings.topic_prefix,
            backend=settings.lang_backend,
            languages=load_campaign(settings.config).languages if settings.config else (),
            watch=tuple(alert_config(settings.config).watch_terms()),
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


def _start(spec: EnrichSpec) -> None:
    """A child's start: its stage built and its models loaded before the first batch."""
    global _enricher, _spec
    threading.Thread(target=_exit_with, args=(os.getppid(),), daemon=True).start()
    logging.getLogger().setLevel(spec.log_level)  # what is logged is relayed (Shipment.logs)
    _spec, _enricher = spec, spec.build()
    warm_up(_enricher.detector, spec.languages)


def _exit_with(parent: int) -> None:
    """End this child when the worker is gone: a worker killed with -9 cannot stop its pool,
    and an orphan would hold its models' memory for good."""
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(0)


def _ship(records: Sequence[tuple[str, int, int, bytes | None, bytes]]) -> Shipment:
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
            initargs=(self.spec,),
        )

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await asyncio.to_thread(pool.shutdown, wait=True, cancel_futures=True)

    async def run(self, records: Sequence[InRecord]) -> Shipment:
        """The batch enriched; a child that died under it is replaced and the batch run once
        more (a second death is an error: the worker stops rather than skip posts)."""
        if not records:
            return Shipment()
        if self._local is not None:
            return ship(self._local, records, self.spec.max_record_bytes)
        rows = [(r.topic, r.partition, r.offset, r.key, r.value) for r in records]
        for attempt in (1, 2):
            pool = self._pool
            if pool is None:
                raise RuntimeError("the enrich process is not running")
            try:
                return await asyncio.get_running_loop().run_in_executor(pool, _ship, rows)
            except BrokenProcessPool:
                where = f"{records[0].source}..{records[-1].offset}"
                if attempt == 2:
                    raise RuntimeError(
                        f"the enrich process died twice on the batch {where}"
                    ) from None
                log.error("the enrich process died on the batch %s: starting another", where)
                if self._pool is pool:  # the first of the batches it took down replaces it
                    self._pool = self._new_pool()
                    pool.shutdown(wait=False, cancel_futures=True)
        raise AssertionError("unreachable")
