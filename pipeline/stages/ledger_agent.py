"""Stage 2: the facts log in, posts counted once, windows and alerts out (see pipeline.ledger).

One partition, so one worker runs the ledger at a time. Its state is a function of the facts
log, so it is never checkpointed: whenever the ledger finds itself somewhere other than the
next offset it expects (a new process, a rebalance, a redelivery), it reads the log again
from the start up to there with nothing published, and carries on. Reading up to an offset it
was given, rather than to the end offset the broker reports, is exact even on Tansu, whose
reported end offsets lag what is readable. What comes after that offset was handled by the
previous owner too, but not committed: it is handled again, and what it publishes again is
the same (idempotent downstream), except alerts, whose ids already on the alerts topic are
not raised a second time.
"""

from __future__ import annotations

import logging
import time

import faust

from pipeline.alerts.config import AlertConfig
from pipeline.core import kafka
from pipeline.core.topics import Topics
from pipeline.enrich.facts import decoder
from pipeline.ledger.ledger import Ledger, LedgerConfig
from pipeline.stages.worker import Worker, batches

log = logging.getLogger(__name__)


def install(worker: Worker, config: AlertConfig) -> None:
    app, topics, settings = worker.app, worker.topics, worker.settings

    def fresh() -> Ledger:
        return Ledger(
            topics,
            LedgerConfig(
                partitions=settings.partitions,
                window_s=settings.metrics_window_s,
                grace_s=settings.metrics_grace_s,
                state_window_s=settings.cluster_window_s,
                dedupe_capacity=settings.dedupe_capacity,
                max_record_bytes=settings.max_record_bytes,
            ),
            config,
            worker.counters,
        )

    holder = [fresh()]

    async def replay(upto: int) -> None:
        """Rebuild the ledger from the facts log's offsets [0, upto), publishing nothing."""
        ledger = holder[0] = fresh()
        if upto == 0:
            return
        began = time.monotonic()
        reader = kafka.consumer(worker.sender.bootstrap, group_id=None, enable_auto_commit=False)
        await reader.start()
        try:
            tp = kafka.TopicPartition(topics.facts, 0)
            reader.assign([tp])
            await reader.seek_to_beginning(tp)
            while ledger.position < upto:
                batch = await reader.getmany(tp, timeout_ms=1000)
                for rec in batch.get(tp, []):
                    if rec.offset >= upto:
                        break
                    ledger.add(decoder.decode(rec.value or b""), replaying=True)
                    ledger.position = rec.offset + 1
        finally:
            await reader.stop()
        ledger.windows.remember_alerts(await _published_alerts(worker.sender.bootstrap, topics))
        worker.counters.ledger_replays += 1
        log.info("ledger rebuilt from %d fact batches in %.2fs", upto, time.monotonic() - began)

    @app.agent(worker.topic(topics.facts), name="ledger")
    async def ledger_agent(stream: faust.StreamT[bytes]) -> None:
        async for events in batches(stream, 64, 0.005):  # each event is a batch already
            first = events[0].message.offset
            if first != holder[0].position:  # not where we left off: rebuild, then go on
                await replay(first)
            ledger = holder[0]
            out = []
            for event in events:
                out.extend(ledger.add(decoder.decode(event.message.value or b"")))
                ledger.position = event.message.offset + 1
            await worker.send(out)


async def _published_alerts(bootstrap: str, topics: Topics) -> list[str]:
    """Ids of every alert on the alerts topic: read until it has nothing more for a second (its
    end offsets cannot be trusted on Tansu)."""
    reader = kafka.consumer(bootstrap, topics.alerts, group_id=None, enable_auto_commit=False)
    await reader.start()
    ids: list[str] = []
    try:
        quiet = 0
        while quiet < 2:
            batch = await reader.getmany(timeout_ms=500)
            records = [r for recs in batch.values() for r in recs]
            ids.extend((r.key or b"").decode() for r in records)
            quiet = 0 if records else quiet + 1
    finally:
        await reader.stop()
    return ids
