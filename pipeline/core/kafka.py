"""Every Kafka client hashwatch makes, built in one place with the settings they share.

- Producers use ``acks="all"`` without idempotence: Tansu 0.6.0 answers InitProducerId with an
  error even without a transactional id, so neither transactions nor the idempotent producer
  work there; a retried send that duplicates a record is absorbed downstream (uid keys).
- Consumers in a group commit by hand (only what was fully handled) and use short session and
  heartbeat timeouts: on Tansu a new member otherwise waits ~30 s to join its group, and a
  worker killed with -9 is noticed only after the session timeout.
"""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.partitioner import murmur2

from pipeline.core.records import OutRecord

__all__ = ["BatchSender", "TopicPartition", "admin", "consumer", "producer"]

SESSION_TIMEOUT_MS = 6000
HEARTBEAT_INTERVAL_MS = 1000


def producer(bootstrap: str, *, client_id: str = "hashwatch", **options: Any) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap, client_id=client_id, **{"acks": "all", **options}
    )


def consumer(
    bootstrap: str, *topics: str, group_id: str | None, **options: Any
) -> AIOKafkaConsumer:
    """A consumer reading from the earliest offset; in a group, offsets are committed by hand."""
    defaults: dict[str, Any] = {"auto_offset_reset": "earliest"}
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
        """Send and wait until the broker has them all: only then may the input be acked."""
        groups: dict[tuple[str, int], list[OutRecord]] = defaultdict(list)
        for rec in records:
            n = await self._count(rec.topic)
            if rec.key is None:
                partition = random.randrange(n)
            else:
                partition = (murmur2(rec.key) & 0x7FFFFFFF) % n
            groups[(rec.topic, partition)].append(rec)
        futures: list[Any] = []
        for (topic, partition), recs in groups.items():
            batch = self.producer.create_batch()
            for rec in recs:
                if batch.append(key=rec.key, value=rec.value, timestamp=None) is None:
                    futures.append(
                        await self.producer.send_batch(batch, topic, partition=partition)
                    )
                    batch = self.producer.create_batch()
                    batch.append(key=rec.key, value=rec.value, timestamp=None)
            futures.append(await self.producer.send_batch(batch, topic, partition=partition))
        if futures:
            await asyncio.gather(*futures)
