"""DeadLetter v1: anything the pipeline could not use, with why, and the bytes it got."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import msgspec

HEAD_BYTES = 64 * 1024  # what a dead letter keeps of a record too big for the broker


class DeadLetter(msgspec.Struct, frozen=True, kw_only=True, tag="deadletter/1", tag_field="schema"):
    reason: str  # stable, machine-readable: "invalid-json", "not-a-post", "schema", ...
    detail: str  # human-readable error message (never contains secrets)
    stage: str  # "collector:replay", "validate", ...
    source: str  # file:line, topic/partition/offset or URL
    key: str | None = None
    original: bytes  # base64 in JSON
    at: datetime


def too_large(
    value: bytes, limit: int, *, what: str, stage: str, source: str, key: str | None
) -> DeadLetter:
    """A record over the broker's limit: its first 64 KB and the SHA-256 of the whole, so it
    can still be identified, and the run goes on."""
    return with_head(
        "too-large",
        f"{what} of {len(value):,} bytes is over the record limit of {limit:,}",
        value,
        stage=stage,
        source=source,
        key=key,
    )


def with_head(
    reason: str, detail: str, value: bytes, *, stage: str, source: str, key: str | None
) -> DeadLetter:
    """A dead letter that keeps the first 64 KB of ``value`` and names the SHA-256 of the
    whole in its detail: it fits a record whatever ``value``'s size."""
    return DeadLetter(
        reason=reason,
        detail=f"{detail}; sha256 of the whole: {hashlib.sha256(value).hexdigest()}",
        stage=stage,
        source=source,
        key=key or None,
        original=value[:HEAD_BYTES],
        at=datetime.now(UTC),
    )
