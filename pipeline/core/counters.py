"""In-process counts of what each stage did: the run summary and drain detection use them.

They are not offsets: Tansu reports a latest offset that lags what is readable, so
"consumer lag is zero" cannot mean "drained"; counting what went in and what came out can.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass
class StageCounters:
    # the enrich stage
    raw_consumed: int = 0
    dead_lettered: Counter[str] = field(default_factory=Counter)  # by reason
    facts_sent: int = 0
    # the ledger
    facts_consumed: int = 0
    ledger_pending: int = 0  # facts waiting for the watermark
    out_of_order: int = 0  # facts that arrived after the watermark had passed them
    ends: int = 0  # end-of-input markers handled (hashwatch run)
    ledger_replays: int = 0  # times the ledger rebuilt itself from the facts log
    duplicates: int = 0
    edits: int = 0  # later versions of posts already published
    deletions: int = 0  # deletions passed on to the store
    originals: int = 0
    reposts: int = 0
    by_language: Counter[str] = field(default_factory=Counter)
    by_platform: Counter[str] = field(default_factory=Counter)  # unique posts: x, mastodon, bluesky
    by_media_type: Counter[str] = field(default_factory=Counter)
    by_lang_backend: Counter[str] = field(default_factory=Counter)  # who decided each language
    enriched_sent: int = 0
    late_dropped: int = 0
    metrics_sent: int = 0  # closed windows published to hashwatch.metrics
    alerts_sent: int = 0
    # the store sink
    stored: int = 0  # enriched records the sink has written (a redelivery counts again)
    sink_errors: int = 0
    alerts_stored: int = 0
    gaps_stored: int = 0  # gap records written (each version of a gap counts)
    collections_stored: int = 0  # collection-run records written

    @property
    def unique(self) -> int:
        return self.originals + self.reposts


# Sink write times, seconds: Prometheus histogram buckets.
SINK_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class LatencyHistogram:
    """Bucket counts of sink write times; ``observe`` costs one bisect, once per batch."""

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: Sequence[float] = SINK_BUCKETS) -> None:
        self.bounds = tuple(bounds)
        self.counts = [0] * (len(self.bounds) + 1)  # the last one is +Inf
        self.sum = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect_left(self.bounds, seconds)] += 1
        self.sum += seconds

    def buckets(self) -> list[tuple[str, float]]:
        """Cumulative ``(le, count)`` pairs as Prometheus expects them."""
        out: list[tuple[str, float]] = []
        running = 0
        for bound, count in zip((*map(str, self.bounds), "+Inf"), self.counts, strict=True):
            running += count
            out.append((bound, running))
        return out
