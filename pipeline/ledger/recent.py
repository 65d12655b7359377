"""What the ledger published lately, to publish again after a broker lost it.

The ledger remembers every post it counted, so a post sent again is a duplicate and publishes
nothing. If the broker loses its data (the embedded broker restarted), what the ledger
published just before (enriched posts, windows, alerts the store sink had not read yet) is
gone, and the collector's resent posts no longer bring it back. Keeping the last ``keep_s``
seconds of output (at most ``max_bytes``) and publishing it again when the facts log started
over closes that hole; every record is keyed, so downstream takes a repeat as a no-op. On
Kafka, which keeps what it acknowledged, this never fires.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable

from pipeline.core.records import OutRecord


class RecentOutput:
    def __init__(
        self,
        keep_s: float = 60.0,
        max_bytes: int = 128 * 1024 * 1024,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.keep_s = keep_s
        self.max_bytes = max_bytes
        self.clock = clock
        self._records: deque[tuple[float, OutRecord]] = deque()
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._records)

    def add(self, records: Iterable[OutRecord]) -> None:
        now = self.clock()
        for rec in records:
            self._records.append((now, rec))
            self._bytes += len(rec.value or b"")
        horizon = now - self.keep_s
        while self._records and (self._records[0][0] < horizon or self._bytes > self.max_bytes):
            _, old = self._records.popleft()
            self._bytes -= len(old.value or b"")

    def all(self) -> list[OutRecord]:
        return [rec for _, rec in self._records]
