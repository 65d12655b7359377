"""Where collectors put what they collect: Kafka in production, a list in tests."""

from __future__ import annotations

from typing import Protocol

from pipeline.core import kafka
from pipeline.core.topics import Topics
from schemas.codec import encode
from schemas.deadletter import DeadLetter
from schemas.post import Post


class Publisher(Protocol):
    async def post(self, post: Post) -> None: ...
    async def dead_letter(self, record: DeadLetter) -> None: ...
    async def flush(self) -> None: ...


class KafkaPublisher:
    """Batching producer: ``send`` only appends to aiokafka's per-partition batch.

    Keys are post uids, so every record of a post lands on the same partition as its
    dedupe state. No idempotent producer: Tansu 0.6.0 answers InitProducerId with an
    unknown error even without a transactional id; a retried send that duplicates a
    record is absorbed by the dedupe step downstream.
    """

    def __init__(self, bootstrap: str, topics: Topics, *, linger_ms: int = 20) -> None:
        self.topics = topics
        self._producer = kafka.producer(
            bootstrap,
            client_id="hashwatch-collector",
            linger_ms=linger_ms,
            max_batch_size=256 * 1024,
        )
        self._pending: list[object] = []

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        await self.flush()
        await self._producer.stop()

    async def post(self, post: Post) -> None:
        await self._producer.send(self.topics.raw, encode(post), key=post.uid.encode())

    async def dead_letter(self, record: DeadLetter) -> None:
        key = record.key.encode() if record.key else None
        await self._producer.send(self.topics.deadletter, encode(record), key=key)

    async def flush(self) -> None:
        await self._producer.flush()
