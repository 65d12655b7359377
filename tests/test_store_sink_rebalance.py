"""The store sink through a rebalance that moves the partitions of the batch it holds."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from urllib.parse import urlsplit

from pipeline.core import kafka
from pipeline.core.counters import StageCounters
from pipeline.core.records import OutRecord
from pipeline.core.settings import Settings
from pipeline.core.topics import Topics, create_topics
from pipeline.sinks import open_store
from pipeline.sinks.store_sink import StoreSink
from schemas.codec import encode
from tests.fakes.tcp_proxy import TcpProxy
from tests.records import enriched_post

PARTITIONS = 4


async def test_a_commit_refused_by_a_rebalance_does_not_stop_the_sink(
    settings: Settings, pg_base: str, schema: str
) -> None:
    # The sink holds a batch from every partition while the database is away; another member
    # joins its group and takes half the partitions; the database comes back, the batch is
    # stored and its commit is refused (those partitions are not the sink's any more). The
    # sink must read on: its task once ended there, silently, and nothing more was stored.
    bootstrap = settings.broker.removeprefix("kafka://")
    topics = Topics(settings.topic_prefix)
    await create_topics(bootstrap, topics, PARTITIONS)
    parts = urlsplit(pg_base)
    proxy = TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5432)
    await proxy.start()
    via_proxy = parts._replace(netloc=f"{parts.username}@127.0.0.1:{proxy.port}").geturl()
    store = open_store(f"{via_proxy}?schema={schema}")
    await store.open()
    counters = StageCounters()
    dead: list[OutRecord] = []

    async def send(records: list[OutRecord]) -> None:
        dead.extend(records)

    sink = StoreSink(store, bootstrap, settings, counters, send)
    producer = kafka.producer(bootstrap)
    await producer.start()
    intruder = kafka.consumer(
        bootstrap,
        topics.enriched,
        topics.alerts,
        topics.gaps,
        topics.collections,
        group_id=f"{settings.topic_prefix}-store",
    )

    async def publish(first: int, count: int) -> None:
        for i in range(first, first + count):
            post = enriched_post(str(i))
            await producer.send(topics.enriched, encode(post), partition=i % PARTITIONS)
        await producer.flush()

    try:
        await proxy.stop()
        await publish(0, 40)  # ten on each partition, before the sink reads
        await sink.start()
        await until(lambda: counters.sink_errors >= 1)  # the batch in hand, not written
        await intruder.start()
        await until(lambda: bool(intruder.assignment()))  # it took partitions
        await proxy.start()  # the batch is stored; its commit is refused
        await until(sink.healthy.is_set)
        await intruder.stop()  # the sink gets every partition back
        await publish(40, 40)
        for _ in range(600):  # the second wave, on every partition, once the group settles
            if await store.query("SELECT count(*) FROM posts") == [(80,)]:
                break
            await asyncio.sleep(0.05)
        assert await store.query("SELECT count(*) FROM posts") == [(80,)]
        assert sink._task is not None and not sink._task.done() and sink.healthy.is_set()
        assert not dead
    finally:
        await producer.stop()
        await sink.stop()
        await store.close()
        await proxy.stop()


async def until(check: Callable[[], bool], timeout: float = 30.0) -> None:
    for _ in range(int(timeout / 0.05)):
        if check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"not reached within {timeout:.0f}s")
