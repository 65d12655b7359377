"""In-process counts of what each stage did: the run summary and drain detection use them.

They are not offsets: Tansu reports a latest offset that lags what is readable, so
"consumer lag is zero" cannot mean "drained"; counting what went in and what came out can.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class StageCounters:
    raw_consumed: int = 0
    reposts_consumed: int = 0
    reposts_forwarded: int = 0
    duplicates: int = 0
    dead_lettered: Counter[str] = field(default_factory=Counter)  # by reason
    originals: int = 0
    reposts: int = 0
    by_language: Counter[str] = field(default_factory=Counter)
    by_media_type: Counter[str] = field(default_factory=Counter)
    by_lang_backend: Counter[str] = field(default_factory=Counter)  # who decided each language
    enriched_sent: int = 0
    stored: int = 0  # enriched records the sink has written (a redelivery counts again)
    sink_errors: int = 0
    partials_sent: int = 0
    partials_consumed: int = 0
    late_dropped: int = 0
    metrics_sent: int = 0  # closed windows published to hashwatch.metrics
    alerts_sent: int = 0
    alerts_stored: int = 0

    @property
    def unique(self) -> int:
        return self.originals + self.reposts
