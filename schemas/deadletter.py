"""DeadLetter v1: anything the pipeline could not use, with why, and the bytes it got."""

from __future__ import annotations

from datetime import datetime

import msgspec


class DeadLetter(msgspec.Struct, frozen=True, kw_only=True, tag="deadletter/1", tag_field="schema"):
    reason: str  # stable, machine-readable: "invalid-json", "not-a-post", "schema", ...
    detail: str  # human-readable error message (never contains secrets)
    stage: str  # "collector:replay", "validate", ...
    source: str  # file:line, topic/partition/offset or URL
    key: str | None = None
    original: bytes  # base64 in JSON
    at: datetime
