"""The Faust app: the enrichment agent, the storage sink agent, and the tables they keep.

Delivery is at-least-once (faust-streaming's exactly_once has open duplicate/loss bugs, and
Tansu has no transactions): Faust commits an offset only after the producer has flushed what
that record caused, and the store is idempotent by uid, so a redelivery changes nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator, MutableMapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

import faust
import msgspec
from faust.types import EventT

from pipeline.clusters import ClusterTracker, MediaReuse
from pipeline.counters import StageCounters
from pipeline.enrich import Enricher, InRecord
from pipeline.langid import Detector
from pipeline.settings import Settings
from pipeline.sinks import Store
from pipeline.topics import Topics
from schemas.codec import decode, encode
from schemas.deadletter import DeadLetter
from schemas.enriched import EnrichedPost

log = logging.getLogger(__name__)

SINK_RETRY_MAX = 30.0


class BytesKeyedTable(MutableMapping[str, Any]):
    """A Faust table viewed with ``str`` keys.

    The table is keyed by the uid's bytes, exactly the Kafka key, so with
    ``use_partitioner=True`` a changelog record lands in the same partition as the records
    keyed by that uid (a JSON-encoded key would hash elsewhere).
    """

    def __init__(self, table: Any) -> None:
        self._table = table

    def __getitem__(self, key: str) -> Any:
        return self._table[key.encode()]

    def get(self, key: str, default: Any = None) -> Any:
        return self._table.get(key.encode(), default)

    def __setitem__(self, key: str, value: Any) -> None:
        self._table[key.encode()] = value

    def __delitem__(self, key: str) -> None:
        del self._table[key.encode()]

    def __iter__(self) -> Iterator[str]:
        return (k.decode() for k in self._table)

    def __len__(self) -> int:
        return len(self._table)


@dataclass
class Worker:
    """One process's share of the pipeline: a Faust app plus the objects its agents use."""

    app: faust.App
    topics: Topics
    counters: StageCounters
    store: Store | None
    sink_healthy: asyncio.Event = field(default_factory=asyncio.Event)


def _batches(
    stream: faust.StreamT[bytes], size: int, within: float
) -> AsyncIterator[Sequence[EventT]]:
    """Batches of events: the only way hashwatch consumes, so costs are paid per batch."""
    return cast(faust.Stream[bytes], stream).take_events(size, within=within)


def _decode_enriched(events: Sequence[EventT]) -> tuple[list[EnrichedPost], list[bytes]]:
    """Anything on the enriched topic that is not EnrichedPost v1 is dead-lettered, not fatal."""
    posts: list[EnrichedPost] = []
    rejected: list[bytes] = []
    for event in events:
        value = event.message.value or b""
        try:
            posts.append(decode(value, EnrichedPost))
        except msgspec.DecodeError as exc:
            log.warning("dead-lettered a bad enriched record at %s: %s", _source(event), exc)
            rejected.append(
                encode(
                    DeadLetter(
                        reason="schema",
                        detail=str(exc),
                        stage="store",
                        source=_source(event),
                        original=value,
                        at=datetime.now(UTC),
                    )
                )
            )
    return posts, rejected


def _source(event: EventT) -> str:
    m = event.message
    return f"{m.topic}/{m.partition}@{m.offset}"


def create_worker(
    settings: Settings,
    broker_url: str,
    detector: Detector,
    store: Store | None,
    *,
    counters: StageCounters | None = None,
    enrich: bool = True,
) -> Worker:
    """Build the app. ``store=None`` runs without the storage sink (e.g. a scaled-out enricher)."""
    topics = Topics(settings.topic_prefix)
    counters = counters or StageCounters()
    app = faust.App(
        f"{settings.topic_prefix}-worker",
        broker=broker_url,
        store="memory://",
        processing_guarantee="at_least_once",
        topic_partitions=settings.partitions,
        topic_replication_factor=1,
        # Tansu: with Faust's default timeouts a new worker waits ~30 s to join its group.
        broker_rebalance_timeout=3,
        broker_session_timeout=6,
        broker_heartbeat_interval=1,
        consumer_auto_offset_reset="earliest",
        producer_linger_ms=10,
        producer_max_batch_size=256 * 1024,
        web_enabled=False,
        autodiscover=False,
        stream_wait_empty=False,
        table_standby_replicas=0,
        datadir=str(settings.data_dir / "faust"),
    )
    worker = Worker(app=app, topics=topics, counters=counters, store=store)
    worker.sink_healthy.set()
    batch, within = settings.batch_size, settings.batch_seconds

    if enrich:

        def table(name: str) -> BytesKeyedTable:
            return BytesKeyedTable(
                app.Table(
                    name,
                    default=None,
                    partitions=settings.partitions,
                    use_partitioner=True,
                    key_type=bytes,
                )
            )

        clusters = ClusterTracker(table("clusters"), settings.cluster_window_s)
        media_reuse = MediaReuse(table("media-seen"), settings.cluster_window_s)
        enricher = Enricher(topics, detector, table("posts-state"), counters, clusters, media_reuse)

        @app.timer(interval=60.0)
        async def expire_state() -> None:
            dropped = clusters.expire() + media_reuse.expire()
            if dropped:
                log.info("expired %d cluster and media entries older than the window", dropped)

        source = app.topic(
            topics.raw,
            topics.reposts,
            key_type=bytes,
            value_type=bytes,
            key_serializer="raw",
            value_serializer="raw",
        )

        @app.agent(source, name="enrich")
        async def enrich_agent(stream: faust.StreamT[bytes]) -> None:
            async for events in _batches(stream, batch, within):
                records = [
                    InRecord(e.message.topic, e.message.key, e.message.value or b"", _source(e))
                    for e in events
                ]
                for out in enricher.process(records):
                    await app.producer.send(out.topic, out.key, out.value, None, None, None)

    if store is not None:
        enriched = app.topic(
            topics.enriched,
            key_type=bytes,
            value_type=bytes,
            key_serializer="raw",
            value_serializer="raw",
        )

        @app.agent(enriched, name="store")
        async def store_agent(stream: faust.StreamT[bytes]) -> None:
            async for events in _batches(stream, batch, within):
                posts, rejected = _decode_enriched(events)
                for letter in rejected:
                    await app.producer.send(topics.deadletter, None, letter, None, None, None)
                await _write_until_done(worker, posts)

    return worker


async def _write_until_done(worker: Worker, posts: list[EnrichedPost]) -> None:
    """Keep retrying: the batch is acked (and its offsets committed) only once it is written."""
    assert worker.store is not None
    delay = 0.5
    while True:
        try:
            await worker.store.write(posts)
        except Exception as exc:
            worker.counters.sink_errors += 1
            worker.sink_healthy.clear()
            log.error(
                "store write failed (%s: %s); retrying in %.1fs", type(exc).__name__, exc, delay
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, SINK_RETRY_MAX)
            continue
        if not worker.sink_healthy.is_set():
            log.warning("store is back; writing resumed")
            worker.sink_healthy.set()
        worker.counters.stored += len(posts)
        return
