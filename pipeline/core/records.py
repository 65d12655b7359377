"""What a processing step reads and what it asks to be published: Kafka records, no framework."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class InRecord:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes

    @property
    def source(self) -> str:
        """``topic/partition@offset``, for dead letters."""
        return f"{self.topic}/{self.partition}@{self.offset}"


@dataclass(frozen=True, slots=True)
class OutRecord:
    topic: str
    key: bytes | None
    value: bytes | None  # None: a tombstone
