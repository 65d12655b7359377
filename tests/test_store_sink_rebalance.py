"""The store sink through a rebalance that moves the partitions of the batch it holds."""

from __future__ import annotations

from pipeline.core import kafka
from pipeline.core.counters import StageCounters
from pipeline.core.records import OutRecord
from pipeline.core.settings import Settings
from pipeline.core.topics import Topics, create_topics
from pipeline.sinks import open_store
from pipeline.sinks.store_sink import StoreSink
from schemas.codec import encode
from tests.fakes.tcp_proxy import proxied
from tests.records import enriched_post
from tests.rig import wait_for

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
    proxy, via_proxy = await proxied(pg_base)
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
        await wait_for(
            lambda: counters.sink_errors >= 1, 30, 0.05
        )  # the batch in hand, not written
        await intruder.start()
        await wait_for(lambda: bool(intruder.assignment()), 30, 0.05)  # it took partitions
        await proxy.start()  # the batch is stored; its commit is refused
        await wait_for(sink.healthy.is_set, 30, 0.05)
        await intruder.stop()  # the sink gets every partition back
        await publish(40, 40)

        async def all_stored() -> bool:  # the second wave too, once the group settles
            return await store.query("SELECT count(*) FROM posts") == [(80,)]

        await wait_for(all_stored, 30, 0.05)
        assert sink._task is not None and not sink._task.done() and sink.healthy.is_set()
        assert not dead
    finally:
        await producer.stop()
        await sink.stop()
        await store.close()
        await proxy.stop()
