"""The storage sink: posts, alerts, gaps and collection runs into the store, committed only
once written.

A sink is not a stream processor: it needs no tables and no per-record processing, so it
runs as a plain aiokafka batch consumer (``getmany``) beside the Faust app rather than as a
Faust agent, paying the consumer cost per batch instead of Faust's per event.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from aiokafka import ConsumerRecord
from aiokafka.errors import KafkaError

from pipeline.core import kafka
from pipeline.core.backoff import ExponentialBackoff
from pipeline.core.counters import LatencyHistogram, StageCounters
from pipeline.core.records import OutRecord
from pipeline.core.settings import Settings
from pipeline.core.topics import Topics
from pipeline.sinks.base import Store
from schemas.alert import Alert
from schemas.codec import DecodeError, EnrichedEvent, decode, encode
from schemas.collection import Collection
from schemas.deadletter import DeadLetter
from schemas.enriched import EnrichedPost
from schemas.gap import Gap
from schemas.post import PostDeletion

log = logging.getLogger(__name__)
RETRY_FIRST_S = 0.5
RETRY_MAX_S = 5.0  # a store back from an outage is written to within seconds
T = TypeVar("T")


class StoreSink:
    """Consumes the output topics as the ``<prefix>-store`` group; ``healthy`` is clear while
    the store refuses writes, ``latency`` holds the write times."""

    def __init__(
        self,
        store: Store,
        bootstrap: str,
        settings: Settings,
        counters: StageCounters,
        send: Callable[[list[OutRecord]], Awaitable[None]],
    ) -> None:
        self.store = store
        self.settings = settings
        self.topics = Topics(settings.topic_prefix)
        self.counters = counters
        self.send = send  # dead letters go out through the worker's producer
        self.healthy = asyncio.Event()
        self.healthy.set()
        self.latency = LatencyHistogram()
        self.consumer = kafka.consumer(
            bootstrap,
            self.topics.enriched,
            self.topics.alerts,
            self.topics.gaps,
            self.topics.collections,
            group_id=f"{settings.topic_prefix}-store",
            max_poll_records=settings.batch_size,
        )
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.consumer.start()
        self._task = asyncio.create_task(self._run(), name="store-sink")
        self._task.add_done_callback(self._stopped)

    def _stopped(self, task: asyncio.Task[None]) -> None:
        """A sink that stops storing must say so, not fall silent: logged, and unhealthy."""
        error = None if task.cancelled() else task.exception()
        if error is not None:
            self.healthy.clear()
            log.critical("store sink stopped: nothing more is stored", exc_info=error)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.consumer.stop()

    async def _run(self) -> None:
        topics, store, counters = self.topics, self.store, self.counters
        timeout_ms = int(self.settings.batch_seconds * 1000)
        while True:
            batch = await self.consumer.getmany(timeout_ms=timeout_ms)
            if not batch:
                continue
            by_topic: dict[str, list[ConsumerRecord[Any, Any]]] = {}
            for tp, recs in batch.items():
                by_topic.setdefault(tp.topic, []).extend(recs)
            dead = topics.deadletter
            events, bad_posts = decode_all(by_topic.get(topics.enriched, []), EnrichedEvent, dead)
            posts = [e for e in events if isinstance(e, EnrichedPost)]
            deletions = [e for e in events if isinstance(e, PostDeletion)]
            alerts, bad_alerts = decode_all(by_topic.get(topics.alerts, []), Alert, dead)
            gaps, bad_gaps = decode_all(by_topic.get(topics.gaps, []), Gap, dead)
            runs, bad_runs = decode_all(by_topic.get(topics.collections, []), Collection, dead)
            await self.send([*bad_posts, *bad_alerts, *bad_gaps, *bad_runs])
            await self.write_until_done(store.write_collections, runs)
            await self.write_until_done(store.write, posts)
            await self.write_until_done(store.write_deletions, deletions)
            await self.write_until_done(store.write_alerts, alerts)
            await self.write_until_done(store.write_gaps, gaps)
            await self._commit({tp: recs[-1].offset + 1 for tp, recs in batch.items()})
            counters.stored += len(events)
            counters.alerts_stored += len(alerts)
            counters.gaps_stored += len(gaps)
            counters.collections_stored += len(runs)

    async def _commit(self, offsets: dict[Any, int]) -> None:
        """Commit what was stored. A group that rebalanced while the batch was being written
        refuses the commit (the partitions are another member's now, or the generation is
        old): their new owner reads the batch again and stores it again, which the store
        takes as a no-op, so that is logged and reading goes on (the refusal used to end the
        sink's task, and with it all storing: tests/test_store_sink_rebalance.py)."""
        try:
            await self.consumer.commit(offsets)
        except KafkaError as exc:
            log.warning(
                "stored batch not committed (%s: %s); it will be read and stored again",
                type(exc).__name__,
                exc,
            )

    async def write_until_done(
        self, write: Callable[[list[T]], Awaitable[None]], batch: list[T]
    ) -> None:
        """Keep retrying: offsets are committed only once the batch is written.

        The worker keeps running through a database outage; ``healthy`` and the error counter
        report it, and nothing is lost because nothing unwritten is committed.
        """
        if not batch:
            return
        backoff = ExponentialBackoff(RETRY_FIRST_S, RETRY_MAX_S)
        while True:
            began = time.perf_counter()
            try:
                await write(batch)
            except Exception as exc:
                self.counters.sink_errors += 1
                self.healthy.clear()
                delay = backoff.next()
                log.error(
                    "store write failed (%s: %s); retrying in %.1fs", type(exc).__name__, exc, delay
                )
                await asyncio.sleep(delay)
                continue
            self.latency.observe(time.perf_counter() - began)
            if not self.healthy.is_set():
                log.warning("store is back; writing resumed")
                self.healthy.set()
            return


def decode_all(
    records: Sequence[ConsumerRecord[Any, Any]], record_type: Any, deadletter: str
) -> tuple[list[Any], list[OutRecord]]:
    """Anything on an output topic that is not its record type is dead-lettered, not fatal."""
    good: list[Any] = []
    rejected: list[OutRecord] = []
    for rec in records:
        value = rec.value or b""
        try:
            good.append(decode(value, record_type))
        except DecodeError as exc:
            where = f"{rec.topic}/{rec.partition}@{rec.offset}"
            log.warning("dead-lettered a bad record at %s: %s", where, exc)
            letter = DeadLetter(
                reason="schema",
                detail=str(exc),
                stage="store",
                source=where,
                original=value,
                at=datetime.now(UTC),
            )
            rejected.append(OutRecord(deadletter, rec.key, encode(letter)))
    return good, rejected
