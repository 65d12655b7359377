"""Where a live collector got to, per stream, kept in a small JSON file so a restart catches up.

For each stream (X's filtered stream; one Mastodon instance and tag; Jetstream): ``cursor`` is
the newest position read (a post id, Jetstream's ``time_us``), ``covered_until`` the last
moment the stream was known to be delivering (a post or a keep-alive), ``outage`` why it was
down if it was when the collector stopped, and ``pending`` the gaps recorded but not yet
backfilled, and ``state`` whatever the stream itself keeps across restarts (Jetstream: the
records it published in the last seconds, so a replay does not publish them again). A
restarted collector treats the time from ``covered_until`` to its first connection as a gap
and backfills it from ``cursor`` on.

The file is replaced atomically (write a temporary file, then rename), so a crash leaves
either the old checkpoint or the new one, never half of one.
"""

from __future__ import annotations

import os
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import msgspec

from schemas.gap import Gap


class CheckpointError(RuntimeError):
    pass


class PendingGap(msgspec.Struct, kw_only=True):
    gap: Gap
    since: str | None = None  # the cursor before the outage
    until: str | None = None  # the first cursor after it


class StreamCheckpoint(msgspec.Struct, kw_only=True):
    cursor: str | None = None
    covered_until: datetime | None = None
    outage: str | None = None  # why the stream was down, if it was when the collector stopped
    pending: list[PendingGap] = []
    state: dict[str, Any] = {}  # the stream's own (``LiveStream.state``)


class Checkpoint(msgspec.Struct, kw_only=True):
    version: int = 2
    streams: dict[str, StreamCheckpoint] = {}

    def stream(self, key: str) -> StreamCheckpoint:
        return self.streams.get(key) or StreamCheckpoint()


class _CheckpointV1(msgspec.Struct, kw_only=True):
    """hashwatch 0.1's X checkpoint: one stream, read once and written back as version 2."""

    version: int = 1
    last_id: str | None = None
    covered_until: datetime | None = None
    outage: str | None = None
    pending: list[dict[str, object]] = []


def checkpoint_path(data_dir: Path, campaign: str, collector: str = "x") -> Path:
    """``<data dir>/checkpoints/<collector>-<campaign>.json`` (the name made safe for a file)."""
    safe = re.sub(r"[^\w.-]+", "_", campaign).strip("._") or "campaign"
    return data_dir / "checkpoints" / f"{collector}-{safe}.json"


class CheckpointFile:
    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> Checkpoint:
        """The saved checkpoint, or an empty one when there is none yet."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return Checkpoint()
        try:
            version = msgspec.json.decode(data, type=dict).get("version", 1)
            if version == 1:
                return _upgrade(msgspec.json.decode(data, type=_CheckpointV1))
            return msgspec.json.decode(data, type=Checkpoint)
        except (msgspec.DecodeError, AttributeError) as exc:
            raise CheckpointError(
                f"checkpoint {self.path} is unreadable ({exc}); move it away to start "
                "without catching up on what was missed"
            ) from None

    def save(self, checkpoint: Checkpoint) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_bytes(msgspec.json.format(msgspec.json.encode(checkpoint)) + b"\n")
        os.replace(tmp, self.path)


def _upgrade(old: _CheckpointV1) -> Checkpoint:
    pending = [
        PendingGap(
            gap=msgspec.convert(p["gap"], Gap),
            since=p.get("since_id"),  # type: ignore[arg-type]
            until=p.get("until_id"),  # type: ignore[arg-type]
        )
        for p in old.pending
    ]
    stream = StreamCheckpoint(
        cursor=old.last_id, covered_until=old.covered_until, outage=old.outage, pending=pending
    )
    return Checkpoint(streams={"x": stream})
