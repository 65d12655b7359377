"""Where collectors put what they collect: Kafka in production, a list in tests."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections import Counter
from typing import Any, Protocol

import msgspec
from aiokafka.errors import KafkaError

from agents.spool import Spool
from pipeline.core import kafka
from pipeline.core.backoff import LinearBackoff
from pipeline.core.topics import Topics, create_topics
from schemas.codec import encode
from schemas.collection import Collection
from schemas.deadletter import HEAD_BYTES, DeadLetter, too_large
from schemas.gap import Gap
from schemas.post import Post, PostDeletion

log = logging.getLogger(__name__)


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
    same partition, in order. Gaps and collections are keyed by their id, so the latest of each
    wins (compacted on Kafka). No idempotent producer: Tansu 0.6.0 answers InitProducerId with
    an error; a retried send that duplicates a record is absorbed downstream (the ledger
    counts a uid once, the store is keyed by uid).

    A post too big for the broker is dead-lettered with its first 64 KB and the SHA-256 of the
    whole, and the run goes on. With a ``Spool``, every record is journaled on disk before it
    is sent: what the broker never acknowledged is sent again (at start, and while the broker
    is back after an outage), and when the broker's offsets start over (the embedded broker
    restarted and lost its memory) the spool's recent window is sent again too.
    """

    def __init__(
        self,
        bootstrap: str,
        topics: Topics,
        *,
        linger_ms: int = 20,
        max_record_bytes: int = 1_000_000,
        spool: Spool | None = None,
        partitions: int | None = None,
    ) -> None:
        self.topics = topics
        self.bootstrap = bootstrap
        self.max_record_bytes = max_record_bytes
        self.spool = spool
        self.partitions = partitions  # to create topics again after a broker lost them
        self.sent: Counter[str] = Counter()  # records handed to the producer, by kind
        self.refused: Counter[str] = Counter()  # posts dead-lettered here instead, by reason
        self.resent = 0
        self._producer = kafka.producer(
            bootstrap,
            client_id="hashwatch-collector",
            linger_ms=linger_ms,
            max_batch_size=256 * 1024,
            max_request_size=max_record_bytes + 64 * 1024,
        )
        self._offsets: dict[tuple[str, int], int] = {}
        self._failed: set[int] = set()
        self._recovering: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._producer.start()
        if self.spool is not None and (left := self.spool.unacknowledged()):
            log.warning("sending %d records again that the broker never acknowledged", len(left))
            for entry in left:
                await self._send(entry.topic, entry.value, entry.key, seq=entry.seq)
                self.resent += 1

    async def stop(self) -> None:
        await self.flush()
        await self._producer.stop()
        if self.spool is not None:
            self.spool.close()

    async def post(self, post: Post) -> None:
        value = encode(post)
        if len(value) > self.max_record_bytes:
            letter = too_large(
                value, self.max_record_bytes, what="post", stage="collector",
                source="collector", key=post.uid,
            )  # fmt: skip
            await self.dead_letter(letter)
            self.refused["too-large"] += 1
            return
        await self._send(self.topics.raw, value, post.uid.encode())
        self.sent["post"] += 1

    async def deletion(self, deletion: PostDeletion) -> None:
        await self._send(self.topics.raw, encode(deletion), deletion.uid.encode())
        self.sent["deletion"] += 1

    async def dead_letter(self, record: DeadLetter) -> None:
        key = record.key.encode() if record.key else None
        value = encode(record)
        if len(value) > self.max_record_bytes:  # the dead letter must fit the broker too
            value = encode(cut(record, self.max_record_bytes))
        await self._send(self.topics.deadletter, value, key)
        self.sent["dead_letter"] += 1

    async def gap(self, gap: Gap) -> None:
        await self._send(self.topics.gaps, encode(gap), gap.id.encode())
        self.sent["gap"] += 1

    async def collection(self, collection: Collection) -> None:
        await self._send(self.topics.collections, encode(collection), collection.id.encode())
        self.sent["collection"] += 1

    async def flush(self) -> None:
        await self._producer.flush()
        if self._recovering is not None:
            await self._recovering
        if self.spool is not None and self._failed:
            failed, self._failed = sorted(self._failed), set()
            log.warning("sending %d records again after failed sends", len(failed))
            kept = {e.seq: e for e in self.spool.unacknowledged()}
            for seq in failed:
                if (entry := kept.get(seq)) is not None:
                    await self._send(entry.topic, entry.value, entry.key, seq=seq)
                    self.resent += 1
            await self._producer.flush()
        if self.spool is not None:
            self.spool.prune()

    async def _send(
        self, topic: str, value: bytes, key: bytes | None, seq: int | None = None
    ) -> None:
        if self.spool is not None and seq is None:
            seq = self.spool.append(topic, key, value)
        backoff = LinearBackoff(step=0.25, cap=5.0)
        while True:
            try:
                future = await self._producer.send(topic, value, key=key)
                break
            except KafkaError as exc:  # no such topic (yet), or the broker is away
                delay = backoff.next()
                log.warning("cannot send to %s (%s): trying again in %.2fs", topic, exc, delay)
                await asyncio.sleep(delay)
                if self.partitions is not None:
                    with contextlib.suppress(KafkaError, OSError):
                        await create_topics(self.bootstrap, self.topics, self.partitions)
        if self.spool is not None:
            assert seq is not None
            future.add_done_callback(lambda f, s=seq: self._acked(s, f))

    def _acked(self, seq: int, future: asyncio.Future[Any]) -> None:
        assert self.spool is not None
        if future.cancelled() or future.exception() is not None:
            self._failed.add(seq)
            return
        meta = future.result()
        where = (meta.topic, meta.partition)
        last = self._offsets.get(where)
        self._offsets[where] = meta.offset
        self.spool.ack(seq)
        if last is not None and meta.offset <= last and self._recovering is None:
            # Offsets started over: a broker that kept nothing (the embedded one, restarted).
            self._recovering = asyncio.ensure_future(self._recover())

    async def _recover(self) -> None:
        assert self.spool is not None
        log.warning(
            "the broker's offsets started over (it restarted and lost what it had): creating "
            "the topics and sending the last %.0f s of records again",
            self.spool.keep_s,
        )
        if self.partitions is not None:
            await create_topics(self.bootstrap, self.topics, self.partitions)
        for entry in self.spool.recent():
            future = await self._producer.send(entry.topic, entry.value, key=entry.key)
            future.add_done_callback(lambda f, s=entry.seq: self._acked(s, f))
            self.resent += 1
        self._offsets.clear()
        self._recovering = None


def cut(letter: DeadLetter, limit: int) -> DeadLetter:
    """A dead letter whose original is too big to publish, keeping 64 KB and the hash."""
    digest = hashlib.sha256(letter.original).hexdigest()
    return msgspec.structs.replace(
        letter,
        detail=f"{letter.detail[:1000]} (original of {len(letter.original):,} bytes cut to "
        f"64 KB to fit the record limit of {limit:,}; sha256 of the whole: {digest})",
        original=letter.original[:HEAD_BYTES],
    )
