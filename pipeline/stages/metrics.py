"""Windowed aggregates and alerts: partials per batch, one aggregator for every window."""

from __future__ import annotations

from pathlib import Path

import faust
import orjson

from pipeline.aggregate import Aggregator
from pipeline.alert_rules import AlertConfig
from pipeline.app import Worker, batches
from pipeline.campaign import load_campaign
from pipeline.counters import StageCounters


def alert_config(path: Path | None) -> AlertConfig:
    """The campaign config's ``[alerts]`` (and ``languages``); defaults without a config."""
    if path is None:
        return AlertConfig()
    campaign = load_campaign(path)
    return AlertConfig.from_mapping(campaign.extra.get("alerts"), campaign.languages)


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
