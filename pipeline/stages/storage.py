"""The storage sinks: enriched posts and alerts into the store, acked only once written."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import TypeVar

import faust
import msgspec
from faust.types import EventT

from pipeline.app import Worker, batches, source
from pipeline.enrich import OutRecord
from schemas.alert import Alert
from schemas.codec import decode, encode
from schemas.deadletter import DeadLetter
from schemas.enriched import EnrichedPost

log = logging.getLogger(__name__)
RETRY_MAX_S = 30.0
T = TypeVar("T")


def install(worker: Worker) -> None:
    app, topics, settings, store = worker.app, worker.topics, worker.settings, worker.store
    assert store is not None

    @app.agent(worker.topic(topics.enriched), name="store")
    async def store_posts(stream: faust.StreamT[bytes]) -> None:
        async for events in batches(stream, settings):
            posts, rejected = decode_all(events, EnrichedPost, topics.deadletter)
            await worker.send(rejected)
            await write_until_done(worker, store.write, posts)
            worker.counters.stored += len(posts)

    @app.agent(worker.topic(topics.alerts), name="store-alerts")
    async def store_alerts(stream: faust.StreamT[bytes]) -> None:
        async for events in batches(stream, settings):
            alerts, rejected = decode_all(events, Alert, topics.deadletter)
            await worker.send(rejected)
            await write_until_done(worker, store.write_alerts, alerts)
            worker.counters.alerts_stored += len(alerts)


def decode_all(
    events: Sequence[EventT], record_type: type[T], deadletter: str
) -> tuple[list[T], list[OutRecord]]:
    """Anything on an output topic that is not its record type is dead-lettered, not fatal."""
    good: list[T] = []
    rejected: list[OutRecord] = []
    for event in events:
        value = event.message.value or b""
        try:
            good.append(decode(value, record_type))
        except msgspec.DecodeError as exc:
            log.warning("dead-lettered a bad record at %s: %s", source(event), exc)
            letter = DeadLetter(
                reason="schema",
                detail=str(exc),
                stage="store",
                source=source(event),
                original=value,
                at=datetime.now(UTC),
            )
            rejected.append(OutRecord(deadletter, event.message.key, encode(letter)))
    return good, rejected


async def write_until_done(
    worker: Worker, write: Callable[[list[T]], Awaitable[None]], batch: list[T]
) -> None:
    """Keep retrying: the batch is acked (and its offsets committed) only once it is written.

    The worker keeps running through a database outage; ``sink_healthy`` and the error
    counter report it, and nothing is lost because nothing unwritten is committed.
    """
    if not batch:
        return
    delay = 0.5
    while True:
        try:
            await write(batch)
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
