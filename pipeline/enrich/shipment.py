"""A batch of raw records enriched and made ready to publish, wherever the enriching ran.

The enrich stage may run in a child process (``pipeline.stages.enrich_process``): what it
hands back must be small to pickle and need no more work than a splice. So the facts come
encoded, cut into chunks that fit one record each (the ledger's record limit less room for a
batch's header), facts too large alone for a record are already dead letters, and what the
stage counted and logged travels with them to be applied where the worker's counters and
log handlers live.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from pipeline.core.counters import StageCounters
from pipeline.core.records import InRecord, OutRecord
from pipeline.enrich.enricher import Enricher
from pipeline.enrich.facts import Fact, encode_facts
from schemas.codec import encode
from schemas.deadletter import too_large

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Shipment:
    chunks: list[bytes] = field(default_factory=list)  # encoded facts, one record's worth each
    letters: list[OutRecord] = field(default_factory=list)  # dead letters
    marks: dict[int, float] = field(default_factory=dict)  # partition -> newest event time
    raw_consumed: int = 0
    facts_sent: int = 0
    dead_lettered: Counter[str] = field(default_factory=Counter)
    logs: list[logging.LogRecord] = field(default_factory=list)  # to re-emit where it lands

    def merged(self, other: Shipment) -> Shipment:
        """This batch and the one read after it, as one (a batch run in halves)."""
        marks = dict(self.marks)
        for partition, ts in other.marks.items():
            marks[partition] = max(ts, marks.get(partition, ts))
        return Shipment(
            chunks=[*self.chunks, *other.chunks],
            letters=[*self.letters, *other.letters],
            marks=marks,
            raw_consumed=self.raw_consumed + other.raw_consumed,
            facts_sent=self.facts_sent + other.facts_sent,
            dead_lettered=self.dead_lettered + other.dead_lettered,
            logs=[*self.logs, *other.logs],
        )

    def count_into(self, counters: StageCounters) -> None:
        counters.raw_consumed += self.raw_consumed
        counters.facts_sent += self.facts_sent
        counters.dead_lettered.update(self.dead_lettered)

    def relay_logs(self) -> None:
        for record in self.logs:
            logging.getLogger(record.name).handle(record)


def header_room(limit: int) -> int:
    """Bytes of a record kept for a batch's header (worker, marks, quiet and empty
    partitions: a few dozen bytes per partition), so a chunk of facts plus it fits."""
    return min(64 * 1024, limit // 2)


def ship(enricher: Enricher, records: Sequence[InRecord], limit: int) -> Shipment:
    """Enrich ``records`` and pack the result for publishing in records of ``limit`` bytes."""
    counters = enricher.counters = StageCounters()  # what this batch adds, for the worker's
    with _Captured() as captured:
        result = enricher.process(records)
        budget = limit - header_room(limit)
        chunks, oversized = _chunks(result.facts, budget)
        letters = [*result.out, *(_too_large(fact, limit, enricher) for fact in oversized)]
    return Shipment(
        chunks=chunks,
        letters=letters,
        marks=result.marks,
        raw_consumed=counters.raw_consumed,
        facts_sent=counters.facts_sent - len(oversized),
        dead_lettered=counters.dead_lettered,
        logs=captured.records,
    )


def _chunks(facts: list[Fact], budget: int) -> tuple[list[bytes], list[Fact]]:
    """Facts encoded in chunks of at most ``budget`` bytes, and the facts too large alone."""
    if not facts:
        return [], []
    whole = encode_facts(facts)
    if len(whole) <= budget:
        return [whole], []
    chunks: list[bytes] = []
    oversized: list[Fact] = []
    run: list[Fact] = []
    size = 0
    for fact in facts:
        one = len(encode_facts([fact]))
        if one > budget:
            oversized.append(fact)
            continue
        if run and size + one > budget:
            chunks.append(encode_facts(run))
            run, size = [], 0
        run.append(fact)
        size += one
    if run:
        chunks.append(encode_facts(run))
    return chunks, oversized


def _too_large(fact: Fact, limit: int, enricher: Enricher) -> OutRecord:
    """A fact too big for one record, dead-lettered with its reason, its first 64 KB and the
    SHA-256 of the whole."""
    log.warning(
        "dead-lettered %s: %d bytes, over the record limit of %d", fact.uid, len(fact.record), limit
    )
    enricher.counters.dead_lettered["too-large"] += 1
    topics = enricher.topics
    letter = too_large(
        fact.record, limit, what="post", stage="enrich",
        source=f"{topics.raw}/{fact.partition}@{fact.offset}", key=fact.uid,
    )  # fmt: skip
    return OutRecord(topics.deadletter, fact.uid.encode(), encode(letter))


class _Captured(logging.Handler):
    """What the enrich stage logs while it runs, kept to be re-emitted by the worker (so a
    child process's warnings reach the worker's handlers, in order, formatted alike)."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        record.msg, record.args = record.getMessage(), None  # picklable whatever the args were
        if record.exc_info:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
        self.records.append(record)

    def __enter__(self) -> _Captured:
        self._logger = logging.getLogger("pipeline.enrich")
        self._propagate = self._logger.propagate
        self._logger.addHandler(self)
        self._logger.propagate = False
        return self

    def __exit__(self, *exc: object) -> None:
        self._logger.removeHandler(self)
        self._logger.propagate = self._propagate
