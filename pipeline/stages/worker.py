"""What every Faust agent of a worker shares: the app, settings, topics, counters, producer.

Delivery is at-least-once (faust-streaming's exactly_once has open duplicate/loss bugs, and
Tansu has no transactions): Faust commits an offset only after the producer has flushed what
that record caused, and everything downstream is idempotent (the ledger counts a uid once,
the store is keyed by uid), so a redelivery changes nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import cast

import faust
from faust.types import EventT

from pipeline.core.counters import StageCounters
from pipeline.core.kafka import BatchSender
from pipeline.core.records import InRecord, OutRecord
from pipeline.core.settings import Settings
from pipeline.core.topics import Topics
from pipeline.enrich.facts import FactBatch, encoder

log = logging.getLogger(__name__)


@dataclass
class Worker:
    """One process's share of the pipeline: a Faust app plus the objects its agents use."""

    app: faust.App
    settings: Settings
    topics: Topics
    counters: StageCounters
    sender: BatchSender
    # what stages still have to publish after their agents stop (``Outbox.settled``)
    pending: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    def topic(self, *names: str) -> faust.TopicT:
        return self.app.topic(
            *names,
            key_type=bytes,
            value_type=bytes,
            key_serializer="raw",
            value_serializer="raw",
        )

    async def send(self, records: Iterable[OutRecord]) -> None:
        """Publish records and wait until the broker has them, so a batch's outputs are
        durable before its input is acked."""
        await self.sender.send(records)

    async def settled(self) -> None:
        """Wait for what the stopped agents handed over to be published (at stop: what is not
        was not acked either, so it is redone by the next worker)."""
        for settled in self.pending:
            try:
                await asyncio.wait_for(settled(), timeout=30.0)
            except Exception as exc:  # logged where it happened; stopping goes on
                log.warning("left unpublished at stop: %s", type(exc).__name__)

    async def flush(self) -> None:
        """End of input (``hashwatch run``): the ledger releases everything and closes every
        window. It travels through the facts log like everything the ledger acts on."""
        end = FactBatch(worker="run", end=True)
        await self.send([OutRecord(self.topics.facts, FACTS_KEY, encoder.encode(end))])


FACTS_KEY = b"facts"  # the facts topic has one partition: every fact goes to the one ledger


def batches(
    stream: faust.StreamT[bytes], size: int, within: float
) -> AsyncIterator[Sequence[EventT]]:
    """Batches of events: the only way hashwatch consumes, so costs are paid per batch."""
    return cast(faust.Stream[bytes], stream).take_events(size, within=within)


def in_record(event: EventT) -> InRecord:
    m = event.message
    return InRecord(m.topic, m.partition, m.offset, m.key, m.value or b"")
