"""How far event time has got on each raw partition this worker reads, for the ledger.

A partition's mark is the newest event time read from it. While a partition is caught up and
quiet (nothing for ``idle_s``), its mark advances with wall time from there, so a quiet
partition does not hold every window open, yet never jumps ahead of what it has shown (an
archive's event times are years behind the clock). A partition assigned to this worker that
has had no post at all since is reported empty: it holds nothing back until it has one.
When every partition is quiet, nothing is on its way, and the ledger releases all it holds.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable


class PartitionMarks:
    def __init__(self, idle_s: float = 2.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.idle_s = idle_s
        self.clock = clock
        self._newest: dict[int, tuple[float, float]] = {}  # partition -> (event ts, read at)
        self._assigned: dict[int, float] = {}  # partition -> since when

    def assigned(self, partitions: Iterable[int]) -> None:
        now = self.clock()
        current = set(partitions)
        self._assigned = {p: self._assigned.get(p, now) for p in current}
        for p in [p for p in self._newest if p not in current]:
            del self._newest[p]  # another worker reads it now and reports its marks

    def observe(self, partition: int, ts: float) -> None:
        newest = self._newest.get(partition)
        self._newest[partition] = (max(ts, newest[0]) if newest else ts, self.clock())

    def marks(self) -> tuple[dict[int, float], list[int], list[int]]:
        """``(marks, quiet, empty)`` for every partition this worker reads."""
        now = self.clock()
        marks: dict[int, float] = {}
        quiet: list[int] = []
        empty: list[int] = []
        for partition in sorted(set(self._assigned) | set(self._newest)):
            newest = self._newest.get(partition)
            if newest is None:
                if now - self._assigned.get(partition, now) >= self.idle_s:
                    quiet.append(partition)
                    empty.append(partition)
                continue
            ts, read_at = newest
            silent = now - read_at
            if silent >= self.idle_s:
                quiet.append(partition)
                marks[partition] = ts + silent
            else:
                marks[partition] = ts
        return marks, quiet, empty
