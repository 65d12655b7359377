"""How commands run: until done or signalled, and how collectors are wired to a broker."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

import click

from pipeline.progress import Progress
from pipeline.settings import Settings

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from agents.base import Collector
    from agents.publisher import Publisher
    from pipeline.sinks.base import Store


def run_until_signal(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run until done; SIGINT and SIGTERM cancel it so every stop is graceful."""

    async def main() -> Any:
        task = asyncio.ensure_future(coro)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)
        try:
            return await task
        except asyncio.CancelledError:
            return None

    return asyncio.run(main())


def run_collector(
    settings: Settings,
    make: Callable[[Publisher, Store | None], Collector],
    *,
    with_store: bool = False,
) -> None:
    """Publish what a collector collects to HASHWATCH_BROKER; ``with_store`` opens the store
    too (the X collector records its gaps there)."""
    from agents.publisher import KafkaPublisher
    from pipeline.sinks import open_store
    from pipeline.topics import Topics, create_topics

    if not settings.broker:
        raise click.UsageError(
            "collect needs a running broker: set HASHWATCH_BROKER=kafka://host:port "
            "(e.g. from `hashwatch broker`), or use `hashwatch run` / `hashwatch demo`."
        )

    async def go() -> None:
        bootstrap = settings.bootstrap_servers()
        topics = Topics(settings.topic_prefix)
        await create_topics(bootstrap, topics, settings.partitions)
        publisher = KafkaPublisher(bootstrap, topics)
        await publisher.start()
        store = open_store(settings.store_url()) if with_store else None
        try:
            if store is not None:
                await store.open()
            collector = make(publisher, store)
            collector.progress = Progress(None, collector.name, unit="posts", log=log)
            try:
                stats = await collector.run()
            except asyncio.CancelledError:
                collector.stop()
                raise
            click.echo(stats.line(collector.name))
        finally:
            await publisher.stop()
            if store is not None:
                await store.close()

    run_until_signal(go())
