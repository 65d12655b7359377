"""Stage 1: raw posts in, one batch of facts out per batch (see pipeline.enrich).

Runs on every raw partition, on every worker. The agent hands each batch to the enrich
process (``EnrichProcess``) and takes the next at once; the results are published in the
order the batches were read (``Outbox``). A batch's events stay unacked (one reference held
past Faust's own ack) until its records are on the broker, so Faust never commits an offset
whose results could still be lost. Each batch of facts also says how far event time has
got on the partitions this worker reads; a timer says it for quiet partitions, so the
ledger's watermark moves while nothing arrives. Marks are computed when a batch's facts are
published, from the batches published so far, and go in the same ordered outbox, so the
ledger never releases past a fact still on its way.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Sequence

import faust
from faust.types import TP, EventT

from pipeline.core.records import OutRecord
from pipeline.enrich.facts import FactBatch, encode_batch, encode_facts
from pipeline.enrich.marks import PartitionMarks
from pipeline.enrich.shipment import Shipment
from pipeline.stages.enrich_process import EnrichProcess
from pipeline.stages.outbox import Outbox
from pipeline.stages.worker import FACTS_KEY, Worker, batches, in_record

log = logging.getLogger(__name__)


def install(worker: Worker, enrich: EnrichProcess) -> None:
    app, topics, settings = worker.app, worker.topics, worker.settings
    name = f"{socket.gethostname()}:{os.getpid()}"
    marks = PartitionMarks(idle_s=settings.idle_s, empty_s=max(30.0, settings.idle_s))

    @app.on_partitions_assigned.connect  # type: ignore[arg-type]
    async def on_assigned(sender: object, assigned: set[TP], **kwargs: object) -> None:
        marks.assigned(tp.partition for tp in assigned if tp.topic == topics.raw)

    async def publish(done: tuple[Sequence[EventT], Shipment]) -> None:
        events, shipped = done
        for partition, ts in shipped.marks.items():
            marks.observe(partition, ts)
        shipped.relay_logs()
        now_marks, quiet, empty = marks.marks(rebalancing=app.rebalancing)
        last = FactBatch(
            worker=name, sent_at=time.time(), marks=now_marks, quiet=quiet, empty=empty
        )
        chunks = shipped.chunks or [encode_facts([])]
        records = [
            *shipped.letters,
            *(OutRecord(topics.facts, FACTS_KEY, encode_batch(FactBatch(worker=name), c))
              for c in chunks[:-1]),
            OutRecord(topics.facts, FACTS_KEY, encode_batch(last, chunks[-1])),  # marks last
        ]  # fmt: skip
        await worker.send(records)
        shipped.count_into(worker.counters)  # only now: "drained" means published
        for event in events:  # the reference taken in enrich_agent: now they may be committed
            if event.ack():
                app.sensors.on_message_out(event.message.tp, event.message.offset, event.message)

    async def failed(exc: BaseException) -> None:
        log.error("enrich results could not be published: the worker stops (%s)", exc)
        await app.crash(exc)

    outbox: Outbox[tuple[Sequence[EventT], Shipment]] = Outbox(publish, on_error=failed)
    worker.pending.append(outbox.settled)

    async def enriched(events: Sequence[EventT]) -> tuple[Sequence[EventT], Shipment]:
        return events, await enrich.run([in_record(e) for e in events])

    @app.agent(worker.topic(topics.raw), name="enrich")
    async def enrich_agent(stream: faust.StreamT[bytes]) -> None:
        async for events in batches(stream, settings.batch_size, settings.batch_seconds):
            for event in events:
                event.message.incref()  # Faust's ack when we take the next batch is not the last
            await outbox.put(enriched(events))

    @app.timer(interval=max(settings.idle_s / 4, 0.05))
    async def quiet_partitions() -> None:
        """Marks for partitions with nothing to read, so windows can close."""
        if outbox.idle():
            await outbox.put(enriched(()))
