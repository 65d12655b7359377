"""Everything one hashwatch process runs, started and stopped in the right order."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry

from pipeline.app import Worker, create_worker
from pipeline.broker import broker_url
from pipeline.langid import make_detector
from pipeline.prometheus import attach_faust_sensor, worker_registry
from pipeline.settings import Settings, redact_url
from pipeline.sinks import Store, open_store
from pipeline.stages.storage import StoreSink
from pipeline.topics import Topics, create_topics

log = logging.getLogger(__name__)


@dataclass
class Session:
    settings: Settings
    bootstrap: str
    topics: Topics
    worker: Worker | None
    store: Store | None


@contextlib.asynccontextmanager
async def session(
    settings: Settings,
    *,
    with_worker: bool = True,
    with_store: bool = True,
    metrics: CollectorRegistry | None = None,
) -> AsyncIterator[Session]:
    """Broker (embedded unless HASHWATCH_BROKER is set), topics, store, and the Faust worker."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    async with broker_url(settings.broker, log_path=settings.data_dir / "broker.log") as url:
        bootstrap = url.removeprefix("kafka://")
        topics = Topics(settings.topic_prefix)
        await create_topics(bootstrap, topics, settings.partitions)
        store = open_store(settings.store_url()) if with_store else None
        if store is not None:
            await store.open()
            log.info("store: %s", redact_url(store.url))
        worker = None
        sink = None
        try:
            if with_worker:
                detector = make_detector(settings.lang_backend)
                worker = create_worker(settings, url, detector, store)
                if metrics is not None:  # Faust's sensor must be attached before start
                    attach_faust_sensor(worker.app, metrics)
                    worker_registry(worker, metrics)
                worker.app.in_worker = True
                await worker.sender.start()
                sink = StoreSink(worker, bootstrap) if store is not None else None
                # Both join a consumer group, which takes seconds on Tansu: join at once.
                await asyncio.gather(
                    worker.app.start(), *([sink.start()] if sink is not None else [])
                )
            yield Session(settings, bootstrap, topics, worker, store)
        finally:
            if sink is not None:
                await sink.stop()
            if worker is not None:
                await worker.app.stop()
                await worker.sender.stop()
            if store is not None:
                await store.close()
