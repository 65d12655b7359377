"""Merge metric partials into event-time windows, close them by watermark, raise alerts.

Free of Faust like the enricher: its state is two mappings (Faust tables in the worker).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, MutableMapping
from typing import Any

from pipeline.alerts.rules import AlertConfig, History, evaluate
from pipeline.core.records import OutRecord
from pipeline.core.topics import Topics
from pipeline.windows.partials import Partial, empty, merge, record
from schemas.codec import encode

log = logging.getLogger(__name__)
MAX_REMEMBERED_ALERTS = 50_000


class Aggregator:
    def __init__(
        self,
        topics: Topics,
        size: float,
        grace: float,
        config: AlertConfig,
        windows: MutableMapping[str, Partial],
        meta: MutableMapping[str, Any],
        *,
        idle_s: float = 120.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``idle_s``: a worker silent for this long (wall clock) no longer holds windows open."""
        self.topics = topics
        self.size = size
        self.grace = grace
        self.config = config
        self.windows = windows
        self.meta = meta
        self.idle_s = idle_s
        self.clock = clock
        self.late_dropped = 0
        self.metrics_sent = 0
        self.alerts_sent = 0

    @property
    def watermark(self) -> float:
        return float(self.meta.get("watermark") or 0.0)

    def add(self, parts: list[Partial]) -> list[OutRecord]:
        closed_until = self.meta.get("closed_until")
        sources: dict[str, list[float]] = dict(self.meta.get("sources") or {})
        now = self.clock()
        for p in parts:
            # Each enrich worker reports its own low watermark; the windows may only close
            # as far as the slowest active worker has got.
            source = str(p.get("source", ""))
            mark = float(p.get("watermark") or p["max_ts"])
            sources[source] = [max(mark, sources.get(source, [mark])[0]), now]
            if closed_until is not None and p["start"] <= closed_until:
                self.late_dropped += p["posts"]  # its window closed after the grace period
                log.info("dropped %d posts for closed window %s", p["posts"], p["start"])
                continue
            key = repr(p["start"])
            self.windows[key] = merge(self.windows.get(key) or empty(p["start"]), p)
        active = [m for m, seen in sources.values() if now - seen <= self.idle_s]
        watermark = max(self.watermark, min(active) if active else 0.0)
        self.meta["sources"] = {k: v for k, v in sources.items() if now - v[1] <= self.idle_s}
        self.meta["watermark"] = watermark
        return self._close(lambda start: start + self.size + self.grace <= watermark)

    def flush(self) -> list[OutRecord]:
        """Close every open window: the end of an archive, or a stop."""
        return self._close(lambda start: True)

    def _close(self, due: Any) -> list[OutRecord]:
        out: list[OutRecord] = []
        ready = sorted(
            (w for w in self.windows.values() if due(w["start"])), key=lambda w: w["start"]
        )
        if not ready:
            return out
        history = History.from_json(self.meta.get("history"))
        alerted: list[str] = list(self.meta.get("alerted") or [])
        known = set(alerted)
        for w in ready:
            start_key = repr(w["start"])
            out.append(
                OutRecord(
                    self.topics.metrics,
                    start_key.encode(),
                    encode(record(w, self.size, final=True)),
                )
            )
            self.metrics_sent += 1
            for alert in evaluate(w, self.size, history, self.config):
                if alert.id in known:
                    continue  # already published, also before a restart
                known.add(alert.id)
                alerted.append(alert.id)
                out.append(OutRecord(self.topics.alerts, alert.id.encode(), encode(alert)))
                self.alerts_sent += 1
                log.warning("alert %s: %s", alert.id, alert.summary)
            del self.windows[start_key]
            self.meta["closed_until"] = max(w["start"], self.meta.get("closed_until") or w["start"])
        self.meta["history"] = history.to_json()
        self.meta["alerted"] = alerted[-MAX_REMEMBERED_ALERTS:]
        return out
