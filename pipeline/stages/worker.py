"""The Faust app and what every stage shares; the stages themselves are in ``pipeline.stages``.

Delivery is at-least-once (faust-streaming's exactly_once has open duplicate/loss bugs, and
Tansu has no transactions): Faust commits an offset only after the producer has flushed what
that record caused, and the stores are idempotent, so a redelivery changes nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Iterator, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import faust
from faust.serializers import codecs
from faust.types import EventT

from pipeline.core.counters import StageCounters
from pipeline.core.kafka import BatchSender
from pipeline.core.records import OutRecord
from pipeline.core.settings import Settings
from pipeline.core.topics import Topics

_JSON = codecs.get_codec("json")


class BatchedTable(MutableMapping[str, Any]):
    """A Faust table whose changelog is written once per batch, viewed with ``str`` keys.

    Writes go to the table's store at once and mark the key dirty; ``changelog()`` turns the
    dirty keys into changelog records (the last value of each key in the batch), sent with
    the batch's output. Recovery is Faust's own. Keys are the Kafka key's bytes, so the
    producer's partitioner puts each changelog record in the partition of the records keyed
    by it (as ``use_partitioner=True`` does), which keeps state and records together.
    """

    def __init__(self, table: Any) -> None:
        self.table = table
        self._data = table.data
        self._dirty: dict[bytes, Any] = {}

    def __getitem__(self, key: str) -> Any:
        return self._data[key.encode()]

    def get(self, key: str, default: Any = None) -> Any:
        return self._data.get(key.encode(), default)

    def __setitem__(self, key: str, value: Any) -> None:
        kb = key.encode()
        self._data[kb] = value
        self._dirty[kb] = value

    def __delitem__(self, key: str) -> None:
        kb = key.encode()
        del self._data[kb]
        self._dirty[kb] = None  # a tombstone: Faust's recovery deletes the key

    def __iter__(self) -> Iterator[str]:
        return (k.decode() for k in list(self._data.keys()))

    def __len__(self) -> int:
        return len(self._data)

    def changelog(self) -> list[OutRecord]:
        topic = self.table.changelog_topic.get_topic_name()
        out = [
            OutRecord(topic, k, None if v is None else _JSON.dumps(v))
            for k, v in self._dirty.items()
        ]
        self._dirty.clear()
        return out


@dataclass
class Worker:
    """One process's share of the pipeline: a Faust app plus the objects its agents use."""

    app: faust.App
    settings: Settings
    topics: Topics
    counters: StageCounters
    sender: BatchSender
    flushers: list[Any] = field(default_factory=list)  # async callables run by ``flush``
    tables: list[BatchedTable] = field(default_factory=list)

    def table(self, name: str, partitions: int | None = None) -> BatchedTable:
        """A changelogged table partitioned like the records keyed by its keys."""
        table = BatchedTable(
            self.app.Table(
                name,
                default=None,
                partitions=partitions or self.settings.partitions,
                use_partitioner=True,
                key_type=bytes,
            )
        )
        self.tables.append(table)
        return table

    def topic(self, *names: str) -> faust.TopicT:
        return self.app.topic(
            *names,
            key_type=bytes,
            value_type=bytes,
            key_serializer="raw",
            value_serializer="raw",
        )

    async def send(self, records: Iterable[OutRecord]) -> None:
        """Publish records and the tables' changelog, and wait until the broker has them, so
        a batch's outputs and state changes are durable before its input is acked."""
        changelog = [out for table in self.tables for out in table.changelog()]
        await self.sender.send([*records, *changelog])

    async def flush(self) -> None:
        """End of input (``hashwatch run``): close what waits for more, e.g. open windows."""
        for flusher in self.flushers:
            await flusher()


def batches(stream: faust.StreamT[bytes], settings: Settings) -> AsyncIterator[Sequence[EventT]]:
    """Batches of events: the only way hashwatch consumes, so costs are paid per batch."""
    return cast(faust.Stream[bytes], stream).take_events(
        settings.batch_size, within=settings.batch_seconds
    )


def source(event: EventT) -> str:
    m = event.message
    return f"{m.topic}/{m.partition}@{m.offset}"
