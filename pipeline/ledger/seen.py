"""Which posts (and which versions of them) the campaign has counted: each uid counts once.

Not forgotten by event time: an archive replayed out of order, or a backfill, brings the
same post back long after its event time, and it must still count once. Memory is bounded
instead by a capacity: past it, the posts oldest in event time are forgotten first. A uid is
kept as a 64-bit hash and a version as a 32-bit hash: recent ones in a dict, the rest in
sorted numpy arrays (16 bytes per remembered post instead of a dict entry's ~100), merged in
every ``freeze_every`` posts; 20 million posts take about 320 MB. Two uids sharing a 64-bit
hash among millions of posts has odds below one in a million.
"""

from __future__ import annotations

import hashlib
from enum import Enum

import numpy as np

GENERATION_S = 3600.0  # forgetting happens an hour of event time at a time


class Seen(Enum):
    NEW = "new"  # a post not counted before
    EDIT = "edit"  # a known post with a version not seen before
    DUPLICATE = "duplicate"  # this version of this post was already counted


def key_hash(text: str, size: int = 8) -> int:
    """A ``size``-byte hash of a key: what the ledger keeps instead of the key itself."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=size).digest(), "little")


class SeenPosts:
    def __init__(self, capacity: int = 20_000_000, freeze_every: int = 50_000) -> None:
        self.capacity = capacity
        self.span = GENERATION_S
        self.freeze_every = freeze_every
        self._recent: dict[int, list[tuple[int, int]]] = {}  # uid -> [(version, generation)]
        self._uids = np.empty(0, np.uint64)
        self._versions = np.empty(0, np.uint32)
        self._gens = np.empty(0, np.int32)

    def __len__(self) -> int:
        return len(self._uids) + sum(len(v) for v in self._recent.values())

    def check(self, uid: str, version: str, ts: float) -> Seen:
        """Whether this post version is new, an edit, or already counted; remembers it."""
        u, v = key_hash(uid), key_hash(version, 4)
        known = [version for version, _ in self._recent.get(u, ())]
        key = np.uint64(u)
        lo = int(np.searchsorted(self._uids, key, "left"))
        hi = int(np.searchsorted(self._uids, key, "right"))
        if hi > lo:
            known.extend(self._versions[lo:hi].tolist())
        if v in known:
            return Seen.DUPLICATE
        self._recent.setdefault(u, []).append((v, int(ts // self.span)))
        if len(self._recent) >= self.freeze_every:
            self.freeze()
        return Seen.EDIT if known else Seen.NEW

    def freeze(self) -> None:
        if not self._recent:
            return
        rows = [(u, v, g) for u, pairs in self._recent.items() for v, g in pairs]
        uids = np.concatenate([self._uids, np.fromiter((r[0] for r in rows), np.uint64)])
        versions = np.concatenate([self._versions, np.fromiter((r[1] for r in rows), np.uint32)])
        gens = np.concatenate([self._gens, np.fromiter((r[2] for r in rows), np.int32)])
        order = np.argsort(uids, kind="stable")
        self._uids, self._versions, self._gens = uids[order], versions[order], gens[order]
        self._recent = {}

    def trim(self) -> int:
        """Forget the posts oldest in event time while over capacity; how many were dropped."""
        if len(self._uids) + len(self._recent) <= self.capacity:
            return 0
        self.freeze()
        over = len(self._uids) - self.capacity
        if over <= 0:
            return 0
        cut = int(np.partition(self._gens, over)[over])  # the generation that fits
        keep = self._gens >= cut
        dropped = int((~keep).sum())
        self._uids, self._versions, self._gens = (
            self._uids[keep],
            self._versions[keep],
            self._gens[keep],
        )
        return dropped

    def nbytes(self) -> int:
        """Memory of the frozen arrays (the recent dict holds at most ``freeze_every``)."""
        return int(self._uids.nbytes + self._versions.nbytes + self._gens.nbytes)
