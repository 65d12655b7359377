"""Stage 1: raw posts in, one batch of facts out per batch (see pipeline.enrich).

Runs on every raw partition, on every worker. Each batch of facts also says how far event
time has got on the partitions this worker reads; a timer says it for quiet partitions, so
the ledger's watermark moves while nothing arrives. Marks are only ever sent after the facts
they cover, under one lock, so the ledger never releases past a fact still on its way.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time

import faust
import msgspec
from faust.types import TP

from pipeline.core.records import OutRecord
from pipeline.core.topics import Topics
from pipeline.enrich.enricher import Enricher
from pipeline.enrich.facts import Fact, FactBatch, encoder
from pipeline.enrich.langid import Detector
from pipeline.enrich.marks import PartitionMarks
from pipeline.stages.worker import FACTS_KEY, Worker, batches, in_record
from schemas.codec import encode
from schemas.deadletter import too_large

log = logging.getLogger(__name__)


def install(worker: Worker, detector: Detector, watch: tuple[str, ...]) -> None:
    app, topics, settings = worker.app, worker.topics, worker.settings
    name = f"{socket.gethostname()}:{os.getpid()}"
    enricher = Enricher(
        topics,
        detector,
        watch=watch,
        counters=worker.counters,
        max_clock_skew_s=settings.max_clock_skew_s,
    )
    marks = PartitionMarks(idle_s=settings.idle_s, empty_s=max(30.0, settings.idle_s))
    lock = asyncio.Lock()

    @app.on_partitions_assigned.connect  # type: ignore[arg-type]
    async def on_assigned(sender: object, assigned: set[TP], **kwargs: object) -> None:
        marks.assigned(tp.partition for tp in assigned if tp.topic == topics.raw)

    async def send_facts(facts: list[Fact], out: list[OutRecord]) -> None:
        now_marks, quiet, empty = marks.marks(rebalancing=app.rebalancing)
        batch = FactBatch(
            worker=name,
            sent_at=time.time(),
            marks=now_marks,
            quiet=quiet,
            empty=empty,
            facts=facts,
        )
        records = [*out, *_split(batch, settings.max_record_bytes, topics)]
        await worker.send(
            [OutRecord(topics.facts, FACTS_KEY, r) if isinstance(r, bytes) else r for r in records]
        )

    @app.agent(worker.topic(topics.raw), name="enrich")
    async def enrich_agent(stream: faust.StreamT[bytes]) -> None:
        async for events in batches(stream, settings.batch_size, settings.batch_seconds):
            async with lock:
                result = enricher.process([in_record(e) for e in events])
                for partition, ts in result.marks.items():
                    marks.observe(partition, ts)
                await send_facts(result.facts, result.out)

    @app.timer(interval=max(settings.idle_s / 4, 0.05))
    async def quiet_partitions() -> None:
        """Marks for partitions with nothing to read, so windows can close."""
        async with lock:
            await send_facts([], [])


def _split(batch: FactBatch, limit: int, topics: Topics) -> list[bytes | OutRecord]:
    """The batch as records no larger than the broker takes; a fact too big alone for one is
    dead-lettered with its reason, its first 64 KB and the SHA-256 of the whole."""
    encoded = encoder.encode(batch)
    if len(encoded) <= limit:
        return [encoded]
    if len(batch.facts) <= 1:
        marks_only = msgspec.structs.replace(batch, facts=[])
        return [_too_large(fact, limit, topics) for fact in batch.facts] + [
            encoder.encode(marks_only)
        ]
    half = len(batch.facts) // 2
    first = FactBatch(worker=batch.worker, facts=batch.facts[:half])
    rest = msgspec.structs.replace(batch, facts=batch.facts[half:])  # the marks go last
    return [*_split(first, limit, topics), *_split(rest, limit, topics)]


def _too_large(fact: Fact, limit: int, topics: Topics) -> OutRecord:
    log.warning(
        "dead-lettered %s: %d bytes, over the record limit of %d", fact.uid, len(fact.record), limit
    )
    letter = too_large(
        fact.record, limit, what="post", stage="enrich",
        source=f"{topics.raw}/{fact.partition}@{fact.offset}", key=fact.uid,
    )  # fmt: skip
    return OutRecord(topics.deadletter, fact.uid.encode(), encode(letter))
