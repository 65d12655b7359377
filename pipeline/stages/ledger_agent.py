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

One exception: a facts log that started over (a broker with memory storage restarted and
lost everything) is not a reason to forget. The ledger keeps the last record it handled; if
that record is no longer where it was, it keeps its state, publishes again what it published
lately (``RecentOutput``: the broker lost that too) and goes on from the new log (what a
restart can and cannot keep is in README "The embedded broker").
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
from pipeline.ledger.recent import RecentOutput
from pipeline.stages.worker import Worker, batches

log = logging.getLogger(__name__)
# After the broker lost its data, how long event time waits for collectors to send it again
# (they do within seconds of their next acknowledged send; see agents/spool.py).
RESEND_WAIT_S = 15.0


def install(worker: Worker, config: AlertConfig) -> None:
    app, topics, settings = worker.app, worker.topics, worker.settings

    def fresh() -> Ledger:
        return Ledger(topics, LedgerConfig.of(settings), config, worker.counters)

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

    recent = RecentOutput()
    last_record: list[bytes | None] = [None]  # the last facts record the ledger handled

    async def started_over() -> bool:
        """Whether the facts log no longer holds the last record this ledger handled there."""
        if last_record[0] is None or holder[0].position == 0:
            return False
        found = await _record_at(worker.sender.bootstrap, topics.facts, holder[0].position - 1)
        return found != last_record[0]

    @app.agent(worker.topic(topics.facts), name="ledger")
    async def ledger_agent(stream: faust.StreamT[bytes]) -> None:
        async for events in batches(stream, 64, 0.005):  # each event is a batch already
            first = events[0].message.offset
            if first != holder[0].position:  # not where we left off
                if first < holder[0].position and await started_over():
                    log.warning(
                        "the facts log started over (the broker lost its data): the ledger "
                        "keeps what it knows, publishes its last %d records again and goes "
                        "on from offset %d",
                        len(recent),
                        first,
                    )
                    holder[0].position = first
                    holder[0].order.hold(RESEND_WAIT_S)
                    await worker.send(recent.all())
                else:
                    await replay(first)  # rebuild, then go on
            ledger = holder[0]
            out = []
            for event in events:
                out.extend(ledger.add(decoder.decode(event.message.value or b"")))
                ledger.position = event.message.offset + 1
                last_record[0] = event.message.value
            await worker.send(out)
            recent.add(out)


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


async def _record_at(bootstrap: str, topic: str, offset: int) -> bytes | None:
    """The value at ``offset`` of the topic's one partition, or None if it holds no such."""
    reader = kafka.consumer(bootstrap, group_id=None, enable_auto_commit=False)
    await reader.start()
    try:
        tp = kafka.TopicPartition(topic, 0)
        reader.assign([tp])
        reader.seek(tp, offset)
        batch = await reader.getmany(tp, timeout_ms=2000, max_records=1)
        found = [r for r in batch.get(tp, []) if r.offset == offset]
        return found[0].value if found else None
    except Exception as exc:  # an offset out of range: the log is shorter than that now
        log.info("facts offset %d is not readable (%s)", offset, type(exc).__name__)
        return None
    finally:
        await reader.stop()
