"""Everything one hashwatch process runs, started and stopped in the right order."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry

from pipeline.alerts.config import alert_config
from pipeline.core import heap
from pipeline.core.broker import broker_url
from pipeline.core.settings import Settings, redact_url
from pipeline.core.topics import Topics, create_topics, keep_topics
from pipeline.ops.prometheus import attach_faust_sensor, worker_registry
from pipeline.sinks import Store, open_store
from pipeline.sinks.store_sink import StoreSink
from pipeline.stages.app import create_worker
from pipeline.stages.enrich_process import EnrichProcess, EnrichSpec
from pipeline.stages.worker import Worker

log = logging.getLogger(__name__)


@dataclass
class Session:
    settings: Settings
    bootstrap: str
    topics: Topics
    worker: Worker
    sink: StoreSink
    store: Store


@contextlib.asynccontextmanager
async def session(
    settings: Settings, *, metrics: CollectorRegistry | None = None
) -> AsyncIterator[Session]:
    """Broker (embedded unless HASHWATCH_BROKER is set), topics, store, the Faust worker and
    the storage sink; ``metrics`` receives Faust's sensor and hashwatch's counters."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    async with broker_url(settings.broker, log_path=settings.data_dir / "broker.log") as url:
        bootstrap = url.removeprefix("kafka://")
        topics = Topics(settings.topic_prefix)
        await create_topics(bootstrap, topics, settings.partitions)
        store = open_store(settings.store_url())
        await store.open()
        log.info("store: %s", redact_url(store.url))
        config = alert_config(settings.config)  # the campaign config, read once
        enrich = EnrichProcess(EnrichSpec.of(settings, config), settings.enrich_processes)
        worker = create_worker(settings, url, enrich, config)
        sink = StoreSink(store, bootstrap, settings, worker.counters, worker.sender.send)
        if metrics is not None:  # Faust's sensor must be attached before start
            attach_faust_sensor(worker.app, metrics)
            worker_registry(worker.counters, sink, metrics)
        worker.app.in_worker = True
        try:
            await worker.sender.start()
            # Both join a consumer group, which takes seconds on Tansu: join at once, and
            # start the enrich process (it loads the language models) meanwhile.
            await asyncio.gather(worker.app.start(), sink.start(), enrich.start())
            thresholds = heap.settle()
            keeper = asyncio.create_task(keep_topics(bootstrap, topics, settings.partitions))
            try:
                yield Session(settings, bootstrap, topics, worker, sink, store)
            finally:
                keeper.cancel()
                heap.unsettle(thresholds)
        finally:
            await sink.stop()
            await worker.app.stop()
            await worker.settled()
            await worker.sender.stop()
            await enrich.close()
            await store.close()
