"""Stage 1: raw posts and re-keyed reposts in, enriched posts out (see pipeline.enrich.enricher)."""

from __future__ import annotations

import logging
import os
import socket

import faust
import orjson

from pipeline.core.records import InRecord, OutRecord
from pipeline.enrich.clusters import ClusterTracker, MediaReuse
from pipeline.enrich.enricher import Enricher
from pipeline.enrich.langid import Detector
from pipeline.stages.worker import Worker, batches, source
from pipeline.windows.partials import PARTIAL_KEY, partials

log = logging.getLogger(__name__)


def install(worker: Worker, detector: Detector, watch: tuple[str, ...], cluster_alert: int) -> None:
    app, topics, settings = worker.app, worker.topics, worker.settings
    worker_id = f"{socket.gethostname()}:{os.getpid()}"  # whose watermark a partial carries
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
            out = enricher.process(records)
            # Metrics are summed here, from the objects at hand, not by re-reading the topic.
            parts = partials(
                enricher.emitted,
                settings.metrics_window_s,
                watch,
                cluster_alert,
                enricher.watermarks.low(),
                worker_id,
            )
            worker.counters.partials_sent += len(parts)
            out += [OutRecord(topics.metrics_partials, PARTIAL_KEY, orjson.dumps(p)) for p in parts]
            await worker.send(out)

    @app.timer(interval=60.0)
    async def expire_state() -> None:
        dropped = clusters.expire() + media_reuse.expire()
        await worker.send([])  # the expiry's tombstones
        if dropped:
            log.info("expired %d cluster and media entries older than the window", dropped)
