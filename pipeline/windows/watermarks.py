"""How far event time has got: the low watermark over the input partitions of one worker."""

from __future__ import annotations

import time
from collections.abc import Callable


class Watermarks:
    """Largest event time per input partition; ``low()`` is the smallest of those among
    partitions heard from within ``idle_s`` (an idle partition must not hold windows open),
    and never past a repost still on its way to its original's partition."""

    def __init__(self, idle_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.idle_s = idle_s
        self.clock = clock
        self._latest: dict[str, tuple[float, float]] = {}  # partition -> (event ts, seen at)
        self._in_flight: dict[str, tuple[float, float]] = {}  # repost uid -> (event ts, sent at)

    def observe(self, partition: str, ts: float) -> None:
        best = self._latest.get(partition, (ts, 0.0))[0]
        self._latest[partition] = (max(best, ts), self.clock())

    def in_flight(self, uid: str, ts: float) -> None:
        self._in_flight[uid] = (ts, self.clock())

    def arrived(self, uid: str) -> None:
        self._in_flight.pop(uid, None)

    def low(self) -> float | None:
        now = self.clock()
        active = [ts for ts, seen in self._latest.values() if now - seen <= self.idle_s]
        # Oldest first (insertion order): one another worker consumes is forgotten after idle_s.
        while self._in_flight and now - next(iter(self._in_flight.values()))[1] > self.idle_s:
            del self._in_flight[next(iter(self._in_flight))]
        if self._in_flight:
            active.append(min(ts for ts, _ in self._in_flight.values()))
        return min(active) if active else None
