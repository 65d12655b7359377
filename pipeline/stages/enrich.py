"""Stage 1: raw posts and re-keyed reposts in, enriched posts out (see pipeline.enrich)."""

from __future__ import annotations

import logging

import faust

from pipeline.app import Worker, batches, source
from pipeline.clusters import ClusterTracker, MediaReuse
from pipeline.enrich import Enricher, InRecord
from pipeline.langid import Detector

log = logging.getLogger(__name__)


def install(worker: Worker, detector: Detector) -> None:
    app, topics, settings = worker.app, worker.topics, worker.settings
    clusters = ClusterTracker(worker.table("clusters"), settings.cluster_window_s)
    media_reuse = MediaReuse(worker.table("media-seen"), settings.cluster_window_s)
    enricher = Enricher(
        topics, detector, worker.table("posts-state"), worker.counters, clusters, media_reuse
    )

    @app.agent(worker.topic(topics.raw, topics.reposts), name="enrich")
    async def enrich_agent(stream: faust.StreamT[bytes]) -> None:
        async for events in batches(stream, settings):
            records = [
                InRecord(e.message.topic, e.message.key, e.message.value or b"", source(e))
                for e in events
            ]
            await worker.send(enricher.process(records))

    @app.timer(interval=60.0)
    async def expire_state() -> None:
        dropped = clusters.expire() + media_reuse.expire()
        if dropped:
            log.info("expired %d cluster and media entries older than the window", dropped)
