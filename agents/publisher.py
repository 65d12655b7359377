"""Where collectors put what they collect: Kafka in production, a list in tests."""

from __future__ import annotations

from collections import Counter
from typing import Protocol

from pipeline.core import kafka
from pipeline.core.topics import Topics
from schemas.codec import encode
from schemas.collection import Collection
from schemas.deadletter import DeadLetter
from schemas.gap import Gap
from schemas.post import Post, PostDeletion


class Publisher(Protocol):
    async def post(self, post: Post) -> None: ...
    async def deletion(self, deletion: PostDeletion) -> None: ...
    async def dead_letter(self, record: DeadLetter) -> None: ...
    async def gap(self, gap: Gap) -> None: ...
    async def collection(self, collection: Collection) -> None: ...
    async def flush(self) -> None: ...


class KafkaPublisher:
    """Batching producer: ``send`` only appends to aiokafka's per-partition batch.

    Keys are post uids, so every record of a post (its versions, its deletion) lands on the
    same partition as its dedupe state, in order. Gaps and collections are keyed by their id,
    so the latest of each wins (compacted on Kafka). No idempotent producer: Tansu 0.6.0
    answers InitProducerId with an error; a retried send that duplicates a record is
    absorbed downstream (uid keys, idempotent store).
    """

    def __init__(self, bootstrap: str, topics: Topics, *, linger_ms: int = 20) -> None:
        self.topics = topics
        self.sent: Counter[str] = Counter()  # records handed to the producer, by kind
        self._producer = kafka.producer(
            bootstrap,
            client_id="hashwatch-collector",
            linger_ms=linger_ms,
            max_batch_size=256 * 1024,
        )

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        await self.flush()
        await self._producer.stop()

    async def post(self, post: Post) -> None:
        await self._producer.send(self.topics.raw, encode(post), key=post.uid.encode())
        self.sent["post"] += 1

    async def deletion(self, deletion: PostDeletion) -> None:
        await self._producer.send(self.topics.raw, encode(deletion), key=deletion.uid.encode())
        self.sent["deletion"] += 1

    async def dead_letter(self, record: DeadLetter) -> None:
        key = record.key.encode() if record.key else None
        await self._producer.send(self.topics.deadletter, encode(record), key=key)
        self.sent["dead_letter"] += 1

    async def gap(self, gap: Gap) -> None:
        await self._producer.send(self.topics.gaps, encode(gap), key=gap.id.encode())
        self.sent["gap"] += 1

    async def collection(self, collection: Collection) -> None:
        await self._producer.send(
            self.topics.collections, encode(collection), key=collection.id.encode()
        )
        self.sent["collection"] += 1

    async def flush(self) -> None:
        await self._producer.flush()
