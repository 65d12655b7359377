"""The storage sink: enriched posts and alerts into the store, committed only once written.

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

from aiokafka import AIOKafkaConsumer, ConsumerRecord

from pipeline.app import Worker
from pipeline.records import OutRecord
from schemas.alert import Alert
from schemas.codec import DecodeError, decode, encode
from schemas.deadletter import DeadLetter
from schemas.enriched import EnrichedPost

log = logging.getLogger(__name__)
RETRY_MAX_S = 30.0
T = TypeVar("T")


class StoreSink:
    def __init__(self, worker: Worker, bootstrap: str) -> None:
        self.worker = worker
        self.consumer = AIOKafkaConsumer(
            worker.topics.enriched,
            worker.topics.alerts,
            bootstrap_servers=bootstrap,
            group_id=f"{worker.settings.topic_prefix}-store",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=worker.settings.batch_size,
            session_timeout_ms=6000,
            heartbeat_interval_ms=1000,
        )
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.consumer.start()
        self._task = asyncio.create_task(self._run(), name="store-sink")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.consumer.stop()

    async def _run(self) -> None:
        topics, store, counters = self.worker.topics, self.worker.store, self.worker.counters
        timeout_ms = int(self.worker.settings.batch_seconds * 1000)
        while True:
            batch = await self.consumer.getmany(timeout_ms=timeout_ms)
            if not batch:
                continue
            records = [r for recs in batch.values() for r in recs]
            posts, rejected = decode_all(
                [r for r in records if r.topic == topics.enriched], EnrichedPost, topics.deadletter
            )
            alerts, rejected_alerts = decode_all(
                [r for r in records if r.topic == topics.alerts], Alert, topics.deadletter
            )
            await self.worker.send([*rejected, *rejected_alerts])
            await write_until_done(self.worker, store.write, posts)
            await write_until_done(self.worker, store.write_alerts, alerts)
            await self.consumer.commit({tp: recs[-1].offset + 1 for tp, recs in batch.items()})
            counters.stored += len(posts)
            counters.alerts_stored += len(alerts)


def decode_all(
    records: Sequence[ConsumerRecord[Any, Any]], record_type: type[T], deadletter: str
) -> tuple[list[T], list[OutRecord]]:
    """Anything on an output topic that is not its record type is dead-lettered, not fatal."""
    good: list[T] = []
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


async def write_until_done(
    worker: Worker, write: Callable[[list[T]], Awaitable[None]], batch: list[T]
) -> None:
    """Keep retrying: offsets are committed only once the batch is written.

    The worker keeps running through a database outage; ``sink_healthy`` and the error
    counter report it, and nothing is lost because nothing unwritten is committed.
    """
    if not batch:
        return
    delay = 0.5
    while True:
        began = time.perf_counter()
        try:
            await write(batch)
            worker.sink_latency.observe(time.perf_counter() - began)
        except Exception as exc:
            worker.counters.sink_errors += 1
            worker.sink_healthy.clear()
            log.error(
                "store write failed (%s: %s); retrying in %.1fs", type(exc).__name__, exc, delay
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX_S)
            continue
        if not worker.sink_healthy.is_set():
            log.warning("store is back; writing resumed")
            worker.sink_healthy.set()
        return
