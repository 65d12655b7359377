"""A database outage in a running pipeline: the sink waits it out and nothing is lost."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from agents.publisher import KafkaPublisher
from agents.replay import ReplayCollector
from pipeline.core.settings import Settings
from pipeline.runner import wait_drained
from pipeline.session import session
from tests.fakes.tcp_proxy import proxied

pytestmark = pytest.mark.slow


async def test_the_sink_waits_out_a_database_outage(
    settings: Settings, x_data: Path, pg_base: str, schema: str
) -> None:
    proxy, via_proxy = await proxied(pg_base)
    settings = settings.model_copy(update={"store": f"{via_proxy}?schema={schema}"})
    async with session(settings) as s:
        c = s.worker.counters
        await proxy.stop()  # the database goes away while posts keep coming
        publisher = KafkaPublisher(s.bootstrap, s.topics)
        await publisher.start()
        stats = await ReplayCollector(publisher, [x_data / "kpop.jsonl"]).run()
        await publisher.stop()
        for _ in range(300):
            if c.sink_errors >= 2 and c.enriched_sent == 100:
                break
            await asyncio.sleep(0.05)
        assert c.sink_errors >= 2 and c.stored == 0  # retrying, not committing, not crashing
        assert not s.sink.healthy.is_set() and c.enriched_sent == 100
        await proxy.start()  # same port: the database is back
        await wait_drained(s.worker, stats.posts)
        assert s.sink.healthy.is_set()
        assert await s.store.query("SELECT count(*) FROM posts") == [(100,)]
    await proxy.stop()
