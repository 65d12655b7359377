"""Windowed aggregates and alerts: partials per batch, one aggregator for every window."""

from __future__ import annotations

import faust
import orjson

from pipeline.alerts.rules import AlertConfig
from pipeline.core.counters import StageCounters
from pipeline.stages.worker import Worker, batches
from pipeline.windows.aggregator import Aggregator


def install(worker: Worker, config: AlertConfig) -> None:
    app, topics, settings, counters = worker.app, worker.topics, worker.settings, worker.counters
    aggregator = Aggregator(
        topics,
        settings.metrics_window_s,
        settings.metrics_grace_s,
        config,
        worker.table("metrics-windows", partitions=1),
        worker.table("aggregator-meta", 1),
    )

    @app.agent(worker.topic(topics.metrics_partials), name="aggregate")
    async def aggregate(stream: faust.StreamT[bytes]) -> None:
        async for events in batches(stream, settings):
            parts = [orjson.loads(e.message.value or b"{}") for e in events]
            await worker.send(aggregator.add(parts))
            counters.partials_consumed += len(events)
            _report(aggregator, counters)

    async def flush() -> None:
        await worker.send(aggregator.flush())
        _report(aggregator, counters)

    worker.flushers.append(flush)


def _report(aggregator: Aggregator, counters: StageCounters) -> None:
    counters.late_dropped = aggregator.late_dropped
    counters.metrics_sent = aggregator.metrics_sent
    counters.alerts_sent = aggregator.alerts_sent
