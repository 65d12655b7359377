"""Prometheus metrics: hashwatch's stage counters, read at scrape time, served on ``/metrics``.

The hot path keeps counting in plain ints (``StageCounters``); a custom collector turns them
into metric families only when Prometheus scrapes, so nothing per post changes. Faust's own
sensor (messages, events, commit and send latencies, rebalances) can join the same registry
with ``attach_faust_sensor``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from pipeline.core.counters import LatencyHistogram, StageCounters

if TYPE_CHECKING:
    import faust

    from pipeline.sinks.store_sink import StoreSink

log = logging.getLogger(__name__)

DEFAULT_PORT = 9464

# Records into each stage: (stage, topic without the prefix, StageCounters attribute).
STAGE_IN = (
    ("enrich", "posts.raw", "raw_consumed"),
    ("ledger", "internal.facts", "facts_consumed"),
)
# Records out of each stage: (stage, where to, StageCounters attribute).
STAGE_OUT = (
    ("enrich", "internal.facts", "facts_sent"),
    ("ledger", "posts.enriched", "enriched_sent"),
    ("ledger", "metrics", "metrics_sent"),
    ("ledger", "alerts", "alerts_sent"),
    ("store", "store.posts", "stored"),
    ("store", "store.alerts", "alerts_stored"),
)


class HashwatchCollector(Collector):
    """Reads ``StageCounters`` (and the sink's health and latency) whenever it is scraped.

    Counters a given version of the worker does not keep are left out rather than shown as 0.
    """

    def __init__(
        self,
        counters: StageCounters,
        *,
        sink_healthy: asyncio.Event | None = None,
        sink_latency: LatencyHistogram | None = None,
    ) -> None:
        self.counters = counters
        self.sink_healthy = sink_healthy
        self.sink_latency = sink_latency

    def collect(self) -> Iterator[Metric]:
        c = self.counters

        def count(attr: str) -> int | None:
            value = getattr(c, attr, None)
            return value if isinstance(value, int) else None

        def by(attr: str) -> Mapping[str, int]:
            value = getattr(c, attr, None)
            return value if isinstance(value, Mapping) else {}

        into = CounterMetricFamily(
            "hashwatch_stage_in",
            "Records each stage consumed, by input topic.",
            labels=["stage", "topic"],
        )
        for stage, topic, attr in STAGE_IN:
            if (n := count(attr)) is not None:
                into.add_metric([stage, topic], n)
        yield into

        out = CounterMetricFamily(
            "hashwatch_stage_out",
            "Records each stage produced or wrote, by destination.",
            labels=["stage", "to"],
        )
        for stage, to, attr in STAGE_OUT:
            if (n := count(attr)) is not None:
                out.add_metric([stage, to], n)
        out.add_metric(["enrich", "deadletter"], sum(by("dead_lettered").values()))
        yield out

        yield _labelled(
            "hashwatch_dead_lettered",
            "Records sent to the dead-letter topic, by reason.",
            "reason",
            by("dead_lettered"),
        )
        posts = CounterMetricFamily(
            "hashwatch_posts", "Unique posts enriched, originals and reposts.", labels=["kind"]
        )
        posts.add_metric(["original"], c.originals)
        posts.add_metric(["repost"], c.reposts)
        yield posts
        yield CounterMetricFamily(
            "hashwatch_duplicates_dropped",
            "Posts dropped as already seen (by uid).",
            value=c.duplicates,
        )
        yield _labelled(
            "hashwatch_posts_by_language",
            "Enriched posts by detected language.",
            "lang",
            by("by_language"),
        )
        yield _labelled(
            "hashwatch_posts_by_platform",
            "Unique posts enriched, by platform (x, mastodon, bluesky).",
            "platform",
            by("by_platform"),
        )
        yield _labelled(
            "hashwatch_media",
            "Media items of enriched posts, by type.",
            "type",
            by("by_media_type"),
        )
        yield _labelled(
            "hashwatch_language_decisions",
            "Language decisions by the detector backend that made them ('inherited' for reposts).",
            "backend",
            by("by_lang_backend"),
        )
        if (late := count("late_dropped")) is not None:
            yield CounterMetricFamily(
                "hashwatch_late_dropped", "Posts too late for their metrics window.", value=late
            )
        if (out_of_order := count("out_of_order")) is not None:
            yield CounterMetricFamily(
                "hashwatch_out_of_order",
                "Posts that reached the ledger after event time had passed them: counted, but "
                "their order-dependent values (repost rank, cluster size) are not placed exactly.",
                value=out_of_order,
            )
        yield CounterMetricFamily(
            "hashwatch_sink_errors", "Failed store writes (each is retried).", value=c.sink_errors
        )
        if self.sink_healthy is not None:
            yield GaugeMetricFamily(
                "hashwatch_store_outage",
                "1 while the store refuses writes (the worker retries and commits nothing).",
                value=0 if self.sink_healthy.is_set() else 1,
            )
        if self.sink_latency is not None:
            h = HistogramMetricFamily(
                "hashwatch_sink_write_seconds", "Time to write one batch to the store.", unit=""
            )
            h.add_metric([], self.sink_latency.buckets(), self.sink_latency.sum)
            yield h


def _labelled(name: str, doc: str, label: str, values: Mapping[str, int]) -> CounterMetricFamily:
    family = CounterMetricFamily(name, doc, labels=[label])
    for key, n in sorted(values.items()):
        family.add_metric([str(key)], n)
    return family


def worker_registry(
    counters: StageCounters,
    sink: StoreSink | None = None,
    registry: CollectorRegistry | None = None,
) -> CollectorRegistry:
    """A registry (new unless given) that reports a worker's counters and its sink's health."""
    registry = registry or CollectorRegistry()
    registry.register(
        HashwatchCollector(
            counters,
            sink_healthy=sink.healthy if sink is not None else None,
            sink_latency=sink.latency if sink is not None else None,
        )
    )
    return registry


def attach_faust_sensor(
    app: faust.App, registry: CollectorRegistry, name_prefix: str = "hashwatch_faust"
) -> None:
    """Faust's Prometheus monitor, reporting into ``registry``; call before ``app.start()``.

    ``faust.sensors.prometheus.setup_prometheus_sensors`` does the same but also adds a page
    to Faust's web server, which hashwatch runs without (``web_enabled=False``); the metrics
    are served by ``serve_metrics`` instead. The prefix is fixed (not the app id) so
    dashboards do not depend on the topic prefix.
    """
    from faust.sensors.prometheus import FaustMetrics, PrometheusMonitor

    app.monitor = PrometheusMonitor(metrics=FaustMetrics.create(registry, name_prefix))


class MetricsServer:
    """``/metrics`` over HTTP; ``close()`` stops it."""

    def __init__(self, runner: web.AppRunner) -> None:
        self._runner = runner

    @property
    def addresses(self) -> list[Any]:
        return list(self._runner.addresses)

    @property
    def port(self) -> int:
        return int(self.addresses[0][1])

    async def close(self) -> None:
        await self._runner.cleanup()


async def serve_metrics(
    registries: CollectorRegistry | Iterable[CollectorRegistry],
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
) -> MetricsServer:
    """Serve ``/metrics`` on ``host:port`` (port 0: any free one, see ``server.port``).

    Loopback by default: the numbers describe a campaign being watched, so exposing them
    elsewhere is a deliberate choice.
    """
    regs = [registries] if isinstance(registries, CollectorRegistry) else list(registries)

    async def metrics(request: web.Request) -> web.Response:
        body = b"".join(generate_latest(r) for r in regs)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    server = MetricsServer(runner)
    log.info("Prometheus metrics on http://%s:%d/metrics", host, server.port)
    return server
