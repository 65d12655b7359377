"""An on-disk journal of what a collector handed to the broker, so a broker that loses it can be
given it again.

Every record is appended (topic, key, value) before it is sent and marked once the broker
acknowledged it. What was never acknowledged (the broker was down, the collector was killed)
is sent again when the collector starts. Acknowledged records are kept ``keep_s`` seconds
more: a broker with memory storage (the embedded one) that restarts loses what it had
acknowledged but the workers had not read yet, and the publisher sends that window again
when it sees the broker's offsets start over. Duplicates are harmless downstream (the ledger
counts a uid once, the store is keyed by uid); a lost post would not be.

The journal is one append-only file of frames; it is rewritten without the records that are
acknowledged and older than ``keep_s`` whenever those make up most of it, so it stays small.
"""

from __future__ import annotations

import os
import struct
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

_FRAME = struct.Struct("<QdIII")  # seq, appended at, topic / key / value lengths
_ACK = struct.Struct("<Q")  # a sequence number acknowledged (in the .acks file)
NO_KEY = 0xFFFFFFFF


@dataclass(slots=True)
class Entry:
    seq: int
    at: float
    topic: str
    key: bytes | None
    value: bytes


class Spool:
    def __init__(
        self, path: Path, keep_s: float = 120.0, clock: Callable[[], float] = time.time
    ) -> None:
        self.path = path
        self.acks_path = path.with_name(path.name + ".acks")
        self.keep_s = keep_s
        self.clock = clock
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._entries: dict[int, Entry] = {}
        self._acked: set[int] = set()
        self._seq = 0
        self._load()
        self._journal = open(self.path, "ab")  # noqa: SIM115 - held for the spool's life
        self._acks = open(self.acks_path, "ab")  # noqa: SIM115

    def __len__(self) -> int:
        return len(self._entries)

    def append(self, topic: str, key: bytes | None, value: bytes) -> int:
        self._seq += 1
        entry = Entry(self._seq, self.clock(), topic, key, value)
        name = topic.encode()
        head = _FRAME.pack(
            entry.seq, entry.at, len(name), NO_KEY if key is None else len(key), len(value)
        )
        self._journal.write(head + name + (key or b"") + value)
        self._journal.flush()
        self._entries[entry.seq] = entry
        return entry.seq

    def ack(self, seq: int) -> None:
        if seq in self._entries and seq not in self._acked:
            self._acked.add(seq)
            self._acks.write(_ACK.pack(seq))
            self._acks.flush()

    def unacknowledged(self) -> list[Entry]:
        return [e for seq, e in sorted(self._entries.items()) if seq not in self._acked]

    def recent(self) -> list[Entry]:
        """Everything still kept: the unacknowledged, and what was acknowledged lately."""
        self.prune()
        return [e for _, e in sorted(self._entries.items())]

    def prune(self) -> None:
        """Forget acknowledged records older than ``keep_s``; rewrite the files when most of the
        journal is forgotten."""
        horizon = self.clock() - self.keep_s
        old = [s for s in self._acked if self._entries[s].at < horizon]
        for seq in old:
            del self._entries[seq]
            self._acked.discard(seq)
        if old and len(old) * 2 > len(self._entries):
            self._rewrite()

    def sync(self) -> None:
        """Make what was appended survive a crash of the machine, not only of the process."""
        os.fsync(self._journal.fileno())
        os.fsync(self._acks.fileno())

    def close(self) -> None:
        self.prune()
        self._journal.close()
        self._acks.close()

    def _rewrite(self) -> None:
        self._journal.close()
        self._acks.close()
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "wb") as out:
            for entry in self._entries.values():
                name = entry.topic.encode()
                key = entry.key
                out.write(
                    _FRAME.pack(
                        entry.seq,
                        entry.at,
                        len(name),
                        NO_KEY if key is None else len(key),
                        len(entry.value),
                    )
                    + name
                    + (key or b"")
                    + entry.value
                )
        acks_tmp = self.acks_path.with_name(self.acks_path.name + ".tmp")
        acks_tmp.write_bytes(b"".join(_ACK.pack(s) for s in sorted(self._acked)))
        os.replace(tmp, self.path)
        os.replace(acks_tmp, self.acks_path)
        self._journal = open(self.path, "ab")  # noqa: SIM115
        self._acks = open(self.acks_path, "ab")  # noqa: SIM115

    def _load(self) -> None:
        if self.path.exists():
            for entry in _frames(self.path.read_bytes()):
                self._entries[entry.seq] = entry
                self._seq = max(self._seq, entry.seq)
        if self.acks_path.exists():
            data = self.acks_path.read_bytes()
            whole = len(data) - len(data) % _ACK.size  # a torn last write is ignored
            for (seq,) in _ACK.iter_unpack(data[:whole]):
                if seq in self._entries:
                    self._acked.add(seq)


def _frames(data: bytes) -> Iterator[Entry]:
    """Every whole frame; a torn last frame (a crash while writing) is not a record."""
    pos = 0
    while pos + _FRAME.size <= len(data):
        seq, at, topic_len, key_len, value_len = _FRAME.unpack_from(data, pos)
        start = pos + _FRAME.size
        key_size = 0 if key_len == NO_KEY else key_len
        end = start + topic_len + key_size + value_len
        if end > len(data):
            return
        topic = data[start : start + topic_len].decode()
        key = None if key_len == NO_KEY else data[start + topic_len : start + topic_len + key_len]
        value = data[start + topic_len + key_size : end]
        yield Entry(seq, at, topic, key, value)
        pos = end
