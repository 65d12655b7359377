"""How far event time has got on each raw partition this worker reads, for the ledger.

A partition's mark is the newest event time read from it. While a partition is caught up and
quiet (nothing for ``idle_s`` after this worker has read from it), its mark advances with wall
time from there, so a quiet partition does not hold every window open, yet never jumps ahead
of what it has shown (an archive's event times are years behind the clock). A partition this
worker has read nothing from for ``empty_s`` since it was assigned is reported empty: it holds
nothing back until it has a post. The longer wait is what keeps a rebalance honest: a new
owner that has not fetched its backlog yet must not call the partition quiet. When every
partition is quiet, nothing is on its way, and the ledger releases all it holds.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable


class PartitionMarks:
    def __init__(
        self,
        idle_s: float = 2.0,
        empty_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.idle_s = idle_s
        self.empty_s = empty_s
        self.clock = clock
        self._newest: dict[int, tuple[float, float]] = {}  # partition -> (event ts, read at)
        self._assigned: dict[int, float] = {}  # partition -> since when

    def assigned(self, partitions: Iterable[int]) -> None:
        """A rebalance's new assignment: what was known of every partition is forgotten, since
        reading starts again from the last committed offset, behind what was read before."""
        now = self.clock()
        self._assigned = dict.fromkeys(partitions, now)
        self._newest = {}

    def observe(self, partition: int, ts: float) -> None:
        if partition not in self._assigned:
            return  # read before a rebalance took it away: its new owner reports it
        newest = self._newest.get(partition)
        self._newest[partition] = (max(ts, newest[0]) if newest else ts, self.clock())

    def marks(self, rebalancing: bool = False) -> tuple[dict[int, float], list[int], list[int]]:
        """``(marks, quiet, empty)`` for every partition this worker reads. While the group
        rebalances nothing is fetched, so silence says nothing: no partition is called quiet."""
        now = self.clock()
        marks: dict[int, float] = {}
        quiet: list[int] = []
        empty: list[int] = []
        for partition in sorted(self._assigned):
            newest = self._newest.get(partition)
            if newest is None:
                if not rebalancing and now - self._assigned.get(partition, now) >= self.empty_s:
                    quiet.append(partition)
                    empty.append(partition)
                continue
            ts, read_at = newest
            silent = now - read_at
            if silent >= self.idle_s and not rebalancing:
                quiet.append(partition)
                marks[partition] = ts + silent
            else:
                marks[partition] = ts
        return marks, quiet, empty
