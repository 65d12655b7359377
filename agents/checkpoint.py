"""Where the X collector got to, kept in a small JSON file so a restart can catch up.

``last_id`` is the newest post id seen on the stream and ``covered_until`` the last moment the
stream was known to be delivering (a post or a keep-alive); ``outage`` says why the stream was
down if it was when the collector stopped. A restarted collector treats the
time from ``covered_until`` to its first connection as a gap and backfills it from
``last_id`` on. ``pending`` holds gaps that were recorded but not yet backfilled when the
collector stopped; they are backfilled after the restart.

The file is replaced atomically (write a temporary file, then rename), so a crash leaves
either the old checkpoint or the new one, never half of one.
"""

from __future__ import annotations

import os
import re
from datetime import datetime
from pathlib import Path

import msgspec

from schemas.gap import Gap


class CheckpointError(RuntimeError):
    pass


class PendingGap(msgspec.Struct, kw_only=True):
    gap: Gap
    since_id: str | None = None
    until_id: str | None = None


class Checkpoint(msgspec.Struct, kw_only=True):
    version: int = 1
    last_id: str | None = None
    covered_until: datetime | None = None
    outage: str | None = None  # why the stream was down, if it was when the collector stopped
    pending: list[PendingGap] = []


def checkpoint_path(data_dir: Path, campaign: str) -> Path:
    """``<data dir>/checkpoints/x-<campaign>.json`` (the name made safe for a file name)."""
    safe = re.sub(r"[^\w.-]+", "_", campaign).strip("._") or "campaign"
    return data_dir / "checkpoints" / f"x-{safe}.json"


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
            return msgspec.json.decode(data, type=Checkpoint)
        except msgspec.DecodeError as exc:
            raise CheckpointError(
                f"checkpoint {self.path} is unreadable ({exc}); move it away to start "
                "without catching up on what was missed"
            ) from None

    def save(self, checkpoint: Checkpoint) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_bytes(msgspec.json.format(msgspec.json.encode(checkpoint)) + b"\n")
        os.replace(tmp, self.path)
