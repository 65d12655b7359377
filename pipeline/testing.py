"""Test doubles for the pipeline side, kept with the package so every test uses the same ones."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from aiokafka.partitioner import murmur2

from pipeline.alerts.config import AlertConfig
from pipeline.core.records import InRecord, OutRecord
from pipeline.core.topics import Topics
from pipeline.enrich.enricher import Enricher
from pipeline.enrich.facts import FactBatch
from pipeline.enrich.langid import Detector
from pipeline.enrich.langid.base import Detection
from pipeline.ledger.ledger import Ledger, LedgerConfig
from schemas.codec import EnrichedEvent, decode, encode
from schemas.enriched import EnrichedPost
from schemas.post import Post, PostDeletion

T = TypeVar("T")


class ScriptedDetector:
    """Answers from a function of the text, and counts calls so tests can assert batching."""

    name = "scripted"

    def __init__(self, decide: Callable[[str], str] | None = None) -> None:
        self.decide = decide or (
            lambda text: "ar" if any("\u0600" <= c <= "\u06ff" for c in text) else "en"
        )
        self.batches: list[int] = []

    def detect(self, text: str) -> Detection:
        return self.detect_batch([text])[0]

    def detect_batch(self, texts: Sequence[str]) -> list[Detection]:
        self.batches.append(len(texts))
        return [Detection(self.decide(t), 0.99, self.name) for t in texts]


class InMemoryPipeline:
    """The enrich stage and the ledger wired in memory: what posts become, with no broker.

    Records go to raw partitions as Kafka's producer would put them (murmur2 of the uid);
    each ``publish`` is one batch of the enrich stage, reading every partition up to the
    newest post it carries. ``log`` is the facts log the ledger read.
    """

    def __init__(
        self,
        *,
        partitions: int = 4,
        detector: Detector | None = None,
        alerts: AlertConfig | None = None,
        window_s: float = 60.0,
        grace_s: float = 120.0,
        state_window_s: float = 6 * 3600.0,
    ) -> None:
        self.topics = Topics("mem")
        self.partitions = partitions
        alerts = alerts or AlertConfig()
        self.enricher = Enricher(
            self.topics, detector or ScriptedDetector(), watch=alerts.watch_terms()
        )
        self.config = LedgerConfig(
            partitions=partitions, window_s=window_s, grace_s=grace_s, state_window_s=state_window_s
        )
        self.alerts_config = alerts
        self.ledger = Ledger(self.topics, self.config, alerts)
        self.log: list[FactBatch] = []
        self.out: list[OutRecord] = []
        self._offsets = [0] * partitions
        self._newest = float("-inf")
        self.sent_at = 0.0  # the enrich stage's clock, as its batches carry it

    def partition_of(self, uid: str) -> int:
        return (murmur2(uid.encode()) & 0x7FFFFFFF) % self.partitions

    def records(self, events: Sequence[Post | PostDeletion | bytes]) -> list[InRecord]:
        """Raw records as the topic would hold them (bytes are published as they are)."""
        out = []
        for event in events:
            if isinstance(event, bytes):
                value, uid = event, "x:unknown"
            else:
                value, uid = encode(event), event.uid
            partition = self.partition_of(uid)
            out.append(
                InRecord(self.topics.raw, partition, self._offsets[partition], uid.encode(), value)
            )
            self._offsets[partition] += 1
        return out

    def publish(self, events: Sequence[Post | PostDeletion | bytes]) -> list[OutRecord]:
        return self.process(self.records(events))

    def process(self, records: Sequence[InRecord]) -> list[OutRecord]:
        """One enrich batch of these records, then the ledger; what both published."""
        result = self.enricher.process(records)
        self._newest = max([self._newest, *result.marks.values()])
        marks = {p: result.marks.get(p, self._newest) for p in range(self.partitions)}
        batch = FactBatch(worker="memory", sent_at=self.sent_at, marks=marks, facts=result.facts)
        return self.feed(batch, result.out)

    def feed(self, batch: FactBatch, extra: Sequence[OutRecord] = ()) -> list[OutRecord]:
        self.log.append(batch)
        out = [*extra, *self.ledger.add(batch)]
        self.out.extend(out)
        return out

    def end(self) -> list[OutRecord]:
        return self.feed(FactBatch(worker="memory", end=True))

    def rebuilt(self) -> Ledger:
        """A new ledger that read this log: what a restarted ledger would hold."""
        ledger = Ledger(self.topics, self.config, self.alerts_config)
        for batch in self.log:
            ledger.add(batch, replaying=True)
        return ledger

    def enriched(self) -> list[EnrichedPost]:
        return [
            e
            for o in self.out
            if o.topic == self.topics.enriched
            and isinstance(e := decode(o.value or b"", EnrichedEvent), EnrichedPost)
        ]

    def of(self, topic: str, record_type: type[T]) -> list[T]:
        return [decode(o.value or b"", record_type) for o in self.out if o.topic == topic]
