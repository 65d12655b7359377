"""Event-time order: hold each fact until every raw partition's event time has passed it.

Partitions are read at different speeds (by one worker or several, and a killed worker's
partitions wait for a new owner), so arrival order at the ledger says little. Releasing facts
in (event time, uid, partition, offset) order once the low watermark has passed them makes
every order-dependent count (a cluster's size when a post joined it, the n-th repost of an
original, media seen before) the same whatever the interleaving, the number of workers or a
redelivery. A fact that arrives after the watermark has passed it (a post far out of order
within its partition, a backfill) is released at once: it cannot be placed, only counted.

The watermark is the smallest mark over the raw partitions (the newest event time read there,
advanced by wall time while a partition is caught up and quiet), ignoring partitions that
are caught up and never had a post; when every partition is caught up and quiet, nothing is
on its way, and it is the largest mark, moved on by the time the log has gone on since
(batches carry when they were sent), so the last windows of a quiet campaign close too.
Every input comes from the facts log, so the ledger's decisions are a function of that log
alone.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable

from pipeline.enrich.facts import Fact, FactBatch


class EventTimeOrder:
    def __init__(self, partitions: int) -> None:
        self.partitions = partitions
        self.marks: dict[int, float] = {}
        self.quiet: set[int] = set()
        self.empty: set[int] = set()
        self.released = -math.inf  # event time up to which everything has been released
        self.late = 0  # facts that arrived after the watermark had passed them
        self._newest = -math.inf  # the largest mark, and when (sent_at) it was reported
        self._newest_at = 0.0
        self._last_sent = 0.0
        self._pending: list[tuple[float, str, int, int, Fact]] = []
        self._held_until = -math.inf  # no release before facts sent after this (wall time)

    def __len__(self) -> int:
        return len(self._pending)

    def add(self, batch: FactBatch) -> None:
        reported = set(batch.marks) | set(batch.quiet)
        self.quiet -= reported
        self.quiet |= set(batch.quiet)
        self._last_sent = max(self._last_sent, batch.sent_at)
        for partition, mark in batch.marks.items():
            self.marks[partition] = max(mark, self.marks.get(partition, -math.inf))
            self.empty.discard(partition)
            if mark > self._newest:
                self._newest, self._newest_at = mark, batch.sent_at
        for partition in batch.empty:
            if partition not in self.marks:
                self.empty.add(partition)
        for fact in batch.facts:
            self.late += fact.event_ts <= self.released
            heapq.heappush(
                self._pending, (fact.event_ts, fact.uid, fact.partition, fact.offset, fact)
            )

    def hold(self, seconds: float) -> None:
        """Move nothing on until facts sent ``seconds`` after the latest one arrive: after the
        broker lost what it had, collectors send it again, and those posts must still find
        their place instead of arriving behind the watermark."""
        self._held_until = self._last_sent + seconds

    def watermark(self) -> float:
        if self._last_sent < self._held_until:
            return self.released
        newest = self._newest
        if all(p in self.quiet for p in range(self.partitions)):
            return newest + max(0.0, self._last_sent - self._newest_at)
        holding = [
            self.marks.get(p, -math.inf) for p in range(self.partitions) if p not in self.empty
        ]
        return min(holding) if holding else newest

    def release(self, everything: bool = False) -> Iterable[Fact]:
        """Facts now due, in order; ``everything`` at the end of input."""
        until = math.inf if everything else self.watermark()
        self.released = max(self.released, until if until != math.inf else self._last())
        while self._pending and self._pending[0][0] <= until:
            yield heapq.heappop(self._pending)[-1]

    def _last(self) -> float:
        return max((entry[0] for entry in self._pending), default=self.released)
