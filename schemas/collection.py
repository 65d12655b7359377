"""Collection v1: one run of one collector, so every post can say what collected it, how.

Published on ``hashwatch.collections`` (keyed by ``id``) when the run starts and again when it
stops; the store keeps the latest of each. Posts name their run in ``provenance.collection``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec


class Collection(msgspec.Struct, frozen=True, kw_only=True, tag="collection/1", tag_field="schema"):
    id: str
    collector: str  # "x-stream", "mastodon", "bluesky", "replay", ...
    campaign: str | None = None
    config: str | None = None  # the campaign config file as it was read (TOML text)
    config_sha256: str | None = None
    rules: list[str] = []  # what the platform was asked for: stream rules, tags, instances
    parameters: dict[str, Any] = {}  # the run's options (never a secret)
    software: str  # "hashwatch <version>"
    host: str
    started_at: datetime
    stopped_at: datetime | None = None  # None while running
    outcome: str | None = None  # how the run ended: "stopped", "finished", or the error
