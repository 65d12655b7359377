"""Every Kafka client hashwatch makes, built in one place with the settings they share.

- Producers use ``acks="all"`` without idempotence: Tansu 0.6.0 answers InitProducerId with an
  error even without a transactional id, so neither transactions nor the idempotent producer
  work there; a retried send that duplicates a record is absorbed downstream (uid keys).
- No client asks the broker to create a topic it does not know. Tansu creates one on any
  metadata request for it (as Kafka does with ``auto.create.topics.enable``), with the broker's
  default of 4 partitions: after a restart of the embedded broker, the first client to ask
  would bring the one-partition facts topic back with four. Topics are created by hashwatch
  with their layout (``topics.create_topics``, ``topics.keep_topics``) and nowhere else.
- Consumers in a group commit by hand (only what was fully handled) and use short session and
  heartbeat timeouts: on Tansu a new member otherwise waits ~30 s to join its group, and a
  worker killed with -9 is noticed only after the session timeout.
- Every consumer, Faust's too (``pipeline.stages.app``), waits at most ``FETCH_MAX_WAIT_MS``
  for a fetch: Tansu 0.6.0 answers a fetch that found nothing only when that wait is over,
  even if records arrive meanwhile, so each stage of the pipeline (raw, facts, enriched) can
  sit out a whole wait (aiokafka's default 500 ms, Faust's 1,500 ms) per hop: measured, the
  pipeline ran at half speed and its latency was seconds (bench/throughput_bench.py).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import aiokafka.admin.client
import aiokafka.client
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError, MessageSizeTooLargeError
from aiokafka.partitioner import murmur2
from aiokafka.protocol.metadata import MetadataRequest

from pipeline.core.backoff import LinearBackoff
from pipeline.core.records import OutRecord

log = logging.getLogger(__name__)

__all__ = ["BatchSender", "TopicPartition", "admin", "consumer", "producer"]


class _MetadataRequest(MetadataRequest):
    """aiokafka's metadata request, never asking for a missing topic to be created."""

    def __init__(
        self, topics: list[str] | None = None, allow_auto_topic_creation: bool | None = False
    ) -> None:
        super().__init__(topics, allow_auto_topic_creation)


# aiokafka exposes no setting for it: its clients (and Faust's, built on them) take the request
# class from these two modules.
aiokafka.client.MetadataRequest = _MetadataRequest
aiokafka.admin.client.MetadataRequest = _MetadataRequest

SESSION_TIMEOUT_MS = 6000
HEARTBEAT_INTERVAL_MS = 1000
FETCH_MAX_WAIT_MS = 20  # see above; an idle consumer asks 50 times a second: ~1 % of a core


def producer(bootstrap: str, *, client_id: str = "hashwatch", **options: Any) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap, client_id=client_id, **{"acks": "all", **options}
    )


def consumer(
    bootstrap: str, *topics: str, group_id: str | None, **options: Any
) -> AIOKafkaConsumer:
    """A consumer reading from the earliest offset; in a group, offsets are committed by hand."""
    defaults: dict[str, Any] = {
        "auto_offset_reset": "earliest",
        "fetch_max_wait_ms": FETCH_MAX_WAIT_MS,
    }
    if group_id is not None:
        defaults.update(
            enable_auto_commit=False,
            session_timeout_ms=SESSION_TIMEOUT_MS,
            heartbeat_interval_ms=HEARTBEAT_INTERVAL_MS,
        )
    return AIOKafkaConsumer(
        *topics, bootstrap_servers=bootstrap, group_id=group_id, **{**defaults, **options}
    )


def admin(bootstrap: str, **options: Any) -> AIOKafkaAdminClient:
    return AIOKafkaAdminClient(
        bootstrap_servers=bootstrap, **{"client_id": "hashwatch-admin", **options}
    )


class BatchSender:
    """Publishes a processing batch's records with one Kafka record batch per partition.

    aiokafka's ``send`` costs tens of microseconds per record (partitioning, accumulator
    bookkeeping, a future each); building one ``BatchBuilder`` per partition and sending it
    whole pays that once per partition per batch. Keys are partitioned exactly as the default
    partitioner does (murmur2), so state and the records keyed like it stay together.
    """

    def __init__(self, bootstrap: str, *, linger_ms: int = 5) -> None:
        self.bootstrap = bootstrap
        self.producer = producer(
            bootstrap,
            client_id="hashwatch-worker",
            linger_ms=linger_ms,
            max_batch_size=1024 * 1024,
            max_request_size=4 * 1024 * 1024,
        )
        self._partitions: dict[str, int] = {}

    async def start(self) -> None:
        await self.producer.start()

    async def stop(self) -> None:
        await self.producer.stop()

    async def _count(self, topic: str) -> int:
        n = self._partitions.get(topic)
        if n is None:
            n = self._partitions[topic] = len(await self.producer.partitions_for(topic))
        return n

    async def send(self, records: Iterable[OutRecord]) -> None:
        """Send and wait until the broker has them all: only then may the input be acked.

        What the broker refuses or never answers is sent again, with a growing pause, until it
        is accepted: a broker that is restarting, or lost a topic that ``keep_topics`` is
        creating again, must hold the stage up, not crash it. A record resent after a lost
        answer may be stored twice; downstream counts a uid once."""
        pending = list(records)
        backoff = LinearBackoff(step=0.25, cap=5.0)
        while pending:
            try:
                pending = await self._send_once(pending)
            except MessageSizeTooLargeError:
                raise  # no retry can fix it: records are cut to size before they get here
            except KafkaError as exc:
                failed = f"{type(exc).__name__}: {exc}"
            else:
                if not pending:
                    return
                failed = f"{len(pending)} records refused"
            delay = backoff.next()
            log.warning("sending again in %.2fs (%s)", delay, failed)
            self._partitions.clear()  # a topic created again may have another layout
            await asyncio.sleep(delay)

    async def _send_once(self, records: list[OutRecord]) -> list[OutRecord]:
        """Send; return the records of the batches that failed."""
        groups: dict[tuple[str, int], list[OutRecord]] = defaultdict(list)
        for rec in records:
            n = await self._count(rec.topic)
            if rec.key is None:
                partition = random.randrange(n)
            else:
                partition = (murmur2(rec.key) & 0x7FFFFFFF) % n
            groups[(rec.topic, partition)].append(rec)
        sent: list[tuple[list[OutRecord], Any]] = []
        for (topic, partition), recs in groups.items():
            batch, members = self.producer.create_batch(), list[OutRecord]()
            for rec in recs:
                if batch.append(key=rec.key, value=rec.value, timestamp=None) is None:
                    future = await self.producer.send_batch(batch, topic, partition=partition)
                    sent.append((members, future))
                    batch, members = self.producer.create_batch(), list[OutRecord]()
                    batch.append(key=rec.key, value=rec.value, timestamp=None)
                members.append(rec)
            sent.append(
                (members, await self.producer.send_batch(batch, topic, partition=partition))
            )
        results = await asyncio.gather(*(f for _, f in sent), return_exceptions=True)
        for result in results:
            if isinstance(result, MessageSizeTooLargeError):
                raise result
        return [
            rec
            for (members, _), result in zip(sent, results, strict=True)
            if isinstance(result, BaseException)
            for rec in members
        ]
