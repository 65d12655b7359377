"""Issue 6's acceptance: a campaign with a quiet period and a surge, end to end.

Synthetic campaign -> broker -> worker -> store (PostgreSQL, and SQLite) with a real HTTP
webhook receiver on 127.0.0.1: exactly one surge alert, delivered once with a valid
signature, one metrics record per window with the store's counts, one row per post.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime

import pytest
from aiokafka import AIOKafkaConsumer

from agents.publisher import KafkaPublisher
from agents.synth.collector import SynthCollector, SynthConfig
from pipeline.alerts.webhooks import SIGNATURE_HEADER, RetryPolicy, deliver, verify
from pipeline.core.settings import Settings
from pipeline.runner import wait_drained
from pipeline.session import session
from schemas.alert import Alert
from schemas.codec import decode
from schemas.metrics import MetricsWindow
from tests.fakes.webhook_receiver import webhook_receiver

pytestmark = pytest.mark.slow
SECRET = b"campaign-team-secret"
# Four quiet windows of baseline, one surge window at 5x, then quiet again.
PHASES = (("quiet", 240.0, 1.0), ("surge", 60.0, 5.0), ("quiet-after", 120.0, 1.0))
RATE = 8.0


@pytest.fixture(params=["postgresql", "sqlite"])
def store_url(request: pytest.FixtureRequest) -> str | None:
    if request.param == "sqlite":
        return None  # the default store under the test's data dir
    pg_base: str = request.getfixturevalue("pg_base")
    schema: str = request.getfixturevalue("schema")
    return f"{pg_base}?schema={schema}"


async def read_all(bootstrap: str, topic: str) -> list[bytes]:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest"
    )
    await consumer.start()
    values: list[bytes] = []
    try:
        while batch := await consumer.getmany(timeout_ms=1500):
            values += [r.value for recs in batch.values() for r in recs if r.value]
    finally:
        await consumer.stop()
    return values


async def test_surge_campaign_alerts_once_with_metrics_per_window(
    settings: Settings, store_url: str | None
) -> None:
    settings = settings.model_copy(update={"store": store_url})
    posts = int(RATE * (240 + 5 * 60 + 120))
    async with webhook_receiver() as rx, session(settings) as s:
        stop = asyncio.Event()
        webhook = asyncio.create_task(
            deliver(
                s.bootstrap,
                s.topics.alerts,
                rx.url,
                SECRET,
                allow_private=True,
                policy=RetryPolicy(0.05, 0.2, 5),
                stop=stop,
            )
        )
        publisher = KafkaPublisher(s.bootstrap, s.topics)
        await publisher.start()
        config = SynthConfig(seed=21, rate=RATE, phases=PHASES, duplicate_rate=0.0)
        stats = await SynthCollector(publisher, config, count=posts, live=False).run()
        await publisher.stop()
        await wait_drained(s.worker, stats.posts)
        for _ in range(100):
            if rx.received:
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)  # a second delivery, if there were one, would arrive now
        stop.set()
        await webhook

        alerts = [decode(v, Alert) for v in await read_all(s.bootstrap, s.topics.alerts)]
        windows = [decode(v, MetricsWindow) for v in await read_all(s.bootstrap, s.topics.metrics)]
        rows = await s.store.query("SELECT created_at FROM posts")
        stored_alerts = await s.store.query("SELECT id, rule FROM alerts")
        c = s.worker.counters

    surges = [a for a in alerts if a.rule == "surge"]
    assert len(surges) == 1, [a.summary for a in alerts]
    [surge] = surges
    assert surge.window_start == datetime(2026, 1, 1, 0, 4, tzinfo=UTC)  # the fifth minute

    surge_deliveries = [r for r in rx.received if r.headers["X-Hashwatch-Alert-Id"] == surge.id]
    assert len(surge_deliveries) == 1
    assert verify(surge_deliveries[0].body, SECRET, surge_deliveries[0].headers[SIGNATURE_HEADER])
    assert decode(surge_deliveries[0].body, Alert).id == surge.id
    assert len(rx.received) == len(alerts)  # every alert, each once

    assert len(rows) == c.unique == stats.posts  # one row per post (no duplicates were sent)
    per_minute = Counter(_minute(r[0]) for r in rows)
    assert len(windows) == len({w.window_start for w in windows}) == len(per_minute)
    assert {w.window_start: w.posts for w in windows} == per_minute
    assert all(w.final and w.originals + w.reposts == w.posts for w in windows)
    assert sorted(a.id for a in alerts) == sorted(r[0] for r in stored_alerts)


def _minute(value: object) -> datetime:
    when = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return when.astimezone(UTC).replace(second=0, microsecond=0)
