"""``hashwatch status`` and the Prometheus endpoint, against the real broker and real HTTP."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import faust
import orjson
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import NewTopic
from click.testing import CliRunner
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from agents.publisher import KafkaPublisher
from agents.replay import ReplayCollector
from pipeline.core import kafka
from pipeline.core.broker import free_port
from pipeline.core.counters import LatencyHistogram, StageCounters
from pipeline.core.settings import Settings
from pipeline.core.topics import Topics
from pipeline.ops.prometheus import (
    HashwatchCollector,
    attach_faust_sensor,
    serve_metrics,
    worker_registry,
)
from pipeline.ops.status import collect_status, render, status_command
from pipeline.runner import run_archive
from pipeline.session import session
from pipeline.sinks import open_store
from pipeline.sinks.querying import open_existing
from schemas.alert import Alert
from schemas.codec import encode
from schemas.gap import Gap
from tests.conftest import shared_data

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def alert(n: int, summary: str) -> Alert:
    return Alert(
        id=f"surge:{n}",
        rule="surge",
        severity="warning",
        subject="#اين_المعتقلين",
        summary=summary,
        window_start=T0,
        window_end=T0 + timedelta(minutes=1),
        value=10.0 * n,
        threshold=5.0,
        raised_at=T0 + timedelta(minutes=n),
    )


def env_for(settings: Settings) -> dict[str, str]:
    return {
        "HASHWATCH_BROKER": settings.broker or "",
        "HASHWATCH_TOPIC_PREFIX": settings.topic_prefix,
        "HASHWATCH_STORE": settings.store_url(),
    }


@pytest.mark.slow
async def test_status_after_a_run_reports_topics_lag_rates_alert_gaps_and_store(
    settings: Settings, x_data: Path
) -> None:
    mastodon = shared_data() / "mastodon" / "mastodonpy-local-statuses.jsonl"
    summary = await run_archive(settings, [x_data / "kpop.jsonl", mastodon])
    topics = Topics(settings.topic_prefix)
    store = await open_existing(settings.store_url())
    try:
        await store.write_gaps(
            [Gap(id="x-stream@1", collector="x-stream", start=T0, reason="token revoked")]
        )
    finally:
        await store.close()
    assert settings.broker
    producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap_servers(), linger_ms=0)
    await producer.start()
    try:
        await producer.send_and_wait(topics.alerts, encode(alert(1, "older")), partition=0)
        await producer.send_and_wait(topics.alerts, encode(alert(2, "newest")), partition=3)

        drained = await collect_status(settings, sample_s=0)

        async def feed() -> None:  # posts arriving while status samples the rate
            for i in range(40):
                await producer.send_and_wait(topics.raw, b"{}", key=f"x:{i}".encode())
                await asyncio.sleep(0.03)

        feeding = asyncio.create_task(feed())
        await asyncio.sleep(0.1)
        busy = await collect_status(settings, sample_s=1.0)
        await feeding
    finally:
        await producer.stop()

    b = drained.broker
    assert drained.healthy and b.reachable and b.kind == "tansu" and b.lag_approximate
    by_name = {t.name: t for t in b.topics}
    for name in (topics.raw, topics.enriched, topics.alerts, topics.deadletter):
        assert by_name[name].partitions == settings.partitions
    assert by_name[topics.facts].partitions == 1  # the ledger's log
    worker = f"{settings.topic_prefix}-worker"
    raw_lag = {x.group: x for x in by_name[topics.raw].lag}
    assert raw_lag[worker].lag == 0  # drained (Tansu's short end offsets never go negative)
    assert all(x.lag >= 0 for t in b.topics for x in t.lag)
    assert drained.last_alert is not None and drained.last_alert.source == "topic"
    assert drained.last_alert.summary == "newest" and drained.last_alert.rule == "surge"
    s = drained.store
    assert s.reachable and s.rows["posts"] == summary.unique
    assert s.by_platform == summary.by_platform and s.by_platform["x"] == 100
    assert s.by_platform["mastodon"] > 0
    assert s.rows["gaps"] == 1 and [g.id for g in s.open_gaps] == ["x-stream@1"]
    assert s.size_bytes and s.size_bytes > 100_000
    text = render(drained)
    assert "Tansu" in text and "~0" in text and "OPEN since 2026-03-01 00:00:00Z" in text
    assert f"posts by platform: mastodon {s.by_platform['mastodon']:,}, x 100" in text

    assert busy.broker.rates is not None
    assert busy.broker.rates.posts_in_per_s > 0  # 40 posts over ~1.2 s, in batches
    assert busy.broker.rates.posts_out_per_s == 0  # no worker is running

    result = await asyncio.to_thread(
        CliRunner().invoke, status_command, ["--json", "--sample", "0"], env=env_for(settings)
    )
    assert result.exit_code == 0, result.output
    report = orjson.loads(result.stdout)
    assert report["healthy"] and report["broker"]["kind"] == "tansu"
    assert report["store"]["rows"]["posts"] == summary.unique
    assert report["store"]["by_platform"] == summary.by_platform


def test_without_a_broker_it_says_so_and_reports_the_store(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'hw.db'}"
    env: dict[str, str | None] = {"HASHWATCH_BROKER": None, "HASHWATCH_STORE": url}
    missing = CliRunner().invoke(status_command, ["--sample", "0"], env=env)
    assert missing.exit_code == 1 and "no store at" in missing.output
    assert not (tmp_path / "hw.db").exists()  # status never creates a store

    async def create() -> None:
        store = open_store(url)
        await store.open()
        await store.close()

    asyncio.run(create())
    ok = CliRunner().invoke(status_command, ["--sample", "0"], env=env)
    assert ok.exit_code == 0, ok.output
    assert "no broker configured" in ok.output and "0 posts" in ok.output
    assert "gaps     none open" in ok.output


def test_an_unreachable_broker_fails_the_health_check(tmp_path: Path) -> None:
    env = {
        "HASHWATCH_BROKER": f"kafka://127.0.0.1:{free_port()}",
        "HASHWATCH_STORE": f"sqlite:///{tmp_path / 'none.db'}",
    }
    result = CliRunner().invoke(status_command, ["--json"], env=env)
    assert result.exit_code == 1
    report = orjson.loads(result.stdout)
    assert not report["healthy"] and report["broker"]["configured"]
    assert not report["broker"]["reachable"] and report["broker"]["error"]


# -- Prometheus -------------------------------------------------------------------------------


async def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{port}/metrics") as response,
    ):
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        text = await response.text()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def test_metrics_endpoint_reads_the_counters_at_scrape_time() -> None:
    counters = StageCounters(raw_consumed=7, originals=5, reposts=2, stored=6, duplicates=1)
    counters.dead_lettered.update({"schema": 2, "invalid-json": 1})
    counters.by_language.update({"ar": 4, "en": 3})
    counters.by_platform.update({"bluesky": 5, "x": 2})
    healthy = asyncio.Event()
    latency = LatencyHistogram()
    for seconds in (0.003, 0.04, 0.04, 2.0):
        latency.observe(seconds)
    registry = CollectorRegistry()
    registry.register(HashwatchCollector(counters, sink_healthy=healthy, sink_latency=latency))
    server = await serve_metrics(registry, port=0)
    try:
        first = await scrape(server.port)
        counters.raw_consumed += 3  # the hot path only counts; the next scrape sees it
        healthy.set()
        second = await scrape(server.port)
    finally:
        await server.close()

    raw = ("hashwatch_stage_in_total", (("stage", "enrich"), ("topic", "posts.raw")))
    assert first[raw] == 7 and second[raw] == 10
    assert first[("hashwatch_stage_out_total", (("stage", "store"), ("to", "store.posts")))] == 6
    assert first[("hashwatch_stage_out_total", (("stage", "enrich"), ("to", "deadletter")))] == 3
    assert first[("hashwatch_dead_lettered_total", (("reason", "schema"),))] == 2
    assert first[("hashwatch_posts_total", (("kind", "repost"),))] == 2
    assert first[("hashwatch_posts_by_language_total", (("lang", "ar"),))] == 4
    assert first[("hashwatch_posts_by_platform_total", (("platform", "bluesky"),))] == 5
    assert (
        first[("hashwatch_store_outage", ())] == 1 and second[("hashwatch_store_outage", ())] == 0
    )
    h = "hashwatch_sink_write_seconds"
    assert first[(h + "_bucket", (("le", "0.005"),))] == 1
    assert first[(h + "_bucket", (("le", "0.05"),))] == 3
    assert first[(h + "_bucket", (("le", "+Inf"),))] == first[(h + "_count", ())] == 4
    assert first[(h + "_sum", ())] == pytest.approx(2.083)


@pytest.mark.slow
async def test_a_running_pipeline_is_scraped_with_its_counters(
    settings: Settings, x_data: Path
) -> None:
    async with session(settings) as s:
        c = s.worker.counters
        server = await serve_metrics(worker_registry(s.worker.counters, s.sink), port=0)
        try:
            publisher = KafkaPublisher(s.bootstrap, s.topics)
            await publisher.start()
            stats = await ReplayCollector(publisher, [x_data / "kpop.jsonl"]).run()
            await publisher.stop()
            for _ in range(600):
                if (
                    c.raw_consumed >= stats.posts
                    and c.facts_consumed >= c.facts_sent
                    and c.ledger_pending == 0
                    and c.stored >= c.enriched_sent == c.unique
                ):
                    break
                await asyncio.sleep(0.05)
            metrics = await scrape(server.port)
        finally:
            await server.close()

    stage_in, stage_out = "hashwatch_stage_in_total", "hashwatch_stage_out_total"
    assert metrics[(stage_in, (("stage", "enrich"), ("topic", "posts.raw")))] == stats.posts == 100
    assert metrics[(stage_in, (("stage", "ledger"), ("topic", "internal.facts")))] == stats.posts
    assert metrics[("hashwatch_posts_total", (("kind", "repost"),))] == c.reposts > 0
    assert metrics[(stage_out, (("stage", "store"), ("to", "store.posts")))] == c.stored == 100
    langs = {k[1][0][1]: v for k, v in metrics.items() if k[0].startswith("hashwatch_posts_by_l")}
    assert langs == dict(c.by_language) and sum(langs.values()) == 100
    assert metrics[("hashwatch_store_outage", ())] == 0


@pytest.mark.slow
async def test_faust_sensor_reports_into_the_served_registry(
    settings: Settings, tmp_path: Path
) -> None:
    assert settings.broker
    topic_name = f"{settings.topic_prefix}.sensor-test"
    admin = kafka.admin(settings.bootstrap_servers())  # hashwatch's clients never auto-create
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic_name, 1, 1)])
    finally:
        await admin.close()
    app = faust.App(
        f"{settings.topic_prefix}-sensor",
        broker=settings.broker,
        store="memory://",
        web_enabled=False,
        autodiscover=False,
        topic_partitions=1,
        broker_rebalance_timeout=3,
        broker_session_timeout=6,
        broker_heartbeat_interval=1,
        consumer_auto_offset_reset="earliest",
        datadir=str(tmp_path / "faust"),
    )
    seen: list[bytes] = []

    @app.agent(app.topic(topic_name, value_serializer="raw"))
    async def count(stream: faust.StreamT[bytes]) -> None:
        async for value in stream:
            seen.append(value)

    registry = CollectorRegistry()
    attach_faust_sensor(app, registry)
    app.in_worker = True
    await app.start()
    server = await serve_metrics(registry, port=0)
    producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap_servers())
    await producer.start()
    try:
        for i in range(20):
            await producer.send_and_wait(topic_name, b"%d" % i)
        for _ in range(400):
            if len(seen) >= 20:
                break
            await asyncio.sleep(0.05)
        metrics = await scrape(server.port)
    finally:
        await producer.stop()
        await server.close()
        await app.stop()
    assert len(seen) == 20
    assert metrics[("hashwatch_faust_messages_received_total", ())] >= 20
    assert (
        metrics[("hashwatch_faust_messages_received_per_topic_total", (("topic", topic_name),))]
        >= 20
    )
