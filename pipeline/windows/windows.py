"""Open event-time windows, closed by the ledger's watermark, with their alerts.

Posts arrive here in event-time order, each once (the ledger's doing), so a window closes as
soon as the watermark passes its end plus the grace period; a post later than that is
counted as dropped, never silently lost. Each closed window is one MetricsWindow record,
then the alert rules run on it. Alert ids are deterministic (rule + window + subject) and
remembered, so the same alert is never raised twice.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from datetime import UTC, datetime

from pipeline.alerts.config import AlertConfig
from pipeline.alerts.rules import History, evaluate
from pipeline.windows.window import Counted, Window, window_of
from schemas.alert import Alert
from schemas.metrics import MetricsWindow

log = logging.getLogger(__name__)
MAX_REMEMBERED_ALERTS = 50_000


class Windows:
    def __init__(self, size: float, grace: float, config: AlertConfig) -> None:
        self.size = size
        self.grace = grace
        self.config = config
        self.open: dict[float, Window] = {}
        self.closed_until = -math.inf  # start of the newest closed window
        self.history = History()
        self.alerted: dict[str, None] = {}  # ids raised, oldest first
        self.late_dropped = 0

    def remember_alerts(self, ids: list[str]) -> None:
        """Alerts already published (by an earlier owner of the ledger): never raised again."""
        for alert_id in ids:
            self.alerted.setdefault(alert_id, None)

    def add(self, ts: float, counted: Counted) -> None:
        start = window_of(ts, self.size)
        if start <= self.closed_until:
            self.late_dropped += 1
            log.info("dropped a post for closed window %s", start)
            return
        window = self.open.get(start)
        if window is None:
            window = self.open[start] = Window(start)
        window.add(counted)

    def close(
        self, watermark: float, everything: bool = False
    ) -> tuple[list[MetricsWindow], list[Alert]]:
        """Close the windows the watermark has passed (all of them at the end of input)."""
        due: Callable[[float], bool] = (
            (lambda s: True) if everything else (lambda s: s + self.size + self.grace <= watermark)
        )
        metrics: list[MetricsWindow] = []
        alerts: list[Alert] = []
        for start in sorted(s for s in self.open if due(s)):
            window = self.open.pop(start)
            self.closed_until = max(self.closed_until, start)
            metrics.append(window.record(self.size))
            # Raised when event time passed the window's end and grace: a time of the data,
            # not of the clock, so a replay raises the same alert, field for field.
            closed_at = datetime.fromtimestamp(start + self.size + self.grace, UTC)
            for alert in evaluate(window, self.size, self.history, self.config, closed_at):
                if alert.id in self.alerted:
                    continue
                self.alerted[alert.id] = None
                alerts.append(alert)
                log.warning("alert %s: %s", alert.id, alert.summary)
        while len(self.alerted) > MAX_REMEMBERED_ALERTS:
            del self.alerted[next(iter(self.alerted))]
        return metrics, alerts
