"""What a processing step reads and what it asks to be published: Kafka records, no framework."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class InRecord:
    topic: str
    key: bytes | None
    value: bytes
    source: str  # topic/partition@offset, for dead letters


@dataclass(frozen=True, slots=True)
class OutRecord:
    topic: str
    key: bytes | None
    value: bytes | None  # None: a tombstone
