"""What the campaign repeats and amplifies, counted in event-time order, each post once.

Copy-paste clusters (exact canonical keys, near duplicates mapped onto them by MinHash-LSH),
media reuse and reposts per original. Every count is "as of this post" in event-time order,
so the same posts always get the same numbers, whatever order they were read in. Entries
quiet for longer than the window are forgotten: a campaign reusing an old text after that is
a new wave, not the same cluster.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.enrich.facts import Fact
from pipeline.enrich.neardup import NearDupIndex
from pipeline.ledger.seen import key_hash
from schemas.enriched import Language, MediaSummary


class _Counter:
    """Counts per key with a last-seen time; ``expire`` drops keys quiet for a window.

    A key is kept as a 64-bit hash (as ``SeenPosts`` keeps uids): recent keys in a dict, the
    rest in sorted numpy arrays of hash, count and last time (24 bytes a key instead of a
    dict entry, a string and an object, ~170-200 bytes), merged in every ``freeze_every``
    new keys. Two keys sharing a 64-bit hash among millions has odds below one in a million.
    """

    def __init__(self, window_s: float, freeze_every: int = 20_000) -> None:
        self.window_s = window_s
        self.freeze_every = freeze_every
        self._recent: dict[int, list[float]] = {}  # hash -> [count, last]
        self._keys = np.empty(0, np.uint64)
        self._counts = np.empty(0, np.int64)
        self._lasts = np.empty(0, np.float64)
        self.swept = -float("inf")

    def __len__(self) -> int:
        return len(self._keys) + len(self._recent)

    def _find(self, h: int) -> int:
        """Index of ``h`` in the frozen arrays, or -1."""
        i = int(np.searchsorted(self._keys, np.uint64(h)))
        return i if i < len(self._keys) and int(self._keys[i]) == h else -1

    def bump(self, key: str, ts: float) -> int:
        """Count one more for ``key`` at ``ts``; the count after it, restarting after a quiet
        window."""
        h = key_hash(key)
        c = self._recent.get(h)
        if c is not None:
            n, last = c
        elif (i := self._find(h)) >= 0:
            n, last = int(self._counts[i]), float(self._lasts[i])
        else:
            n, last = 0, ts
        if ts - last > self.window_s:
            n, last = 0, ts
        n, last = n + 1, max(last, ts)
        if c is not None:
            c[0], c[1] = n, last
        elif i >= 0:
            self._counts[i], self._lasts[i] = n, last
        else:
            self._recent[h] = [n, last]
            if len(self._recent) >= self.freeze_every:
                self._freeze()
        return int(n)

    def get(self, key: str, ts: float) -> int:
        h = key_hash(key)
        c = self._recent.get(h)
        if c is None:
            i = self._find(h)
            if i < 0:
                return 0
            c = [float(self._counts[i]), float(self._lasts[i])]
        return 0 if ts - c[1] > self.window_s else int(c[0])

    def expire(self, watermark: float) -> int:
        """Drop quiet keys; a full sweep at most once per tenth of a window of event time."""
        if watermark - self.swept < self.window_s / 10:
            return 0
        self.swept = watermark
        horizon = watermark - self.window_s
        stale = [h for h, (_, last) in self._recent.items() if last < horizon]
        for h in stale:
            del self._recent[h]
        keep = self._lasts >= horizon
        dropped = len(stale) + int((~keep).sum())
        if dropped > len(stale):
            self._keys, self._counts, self._lasts = (
                self._keys[keep],
                self._counts[keep],
                self._lasts[keep],
            )
        return dropped

    def _freeze(self) -> None:
        recent, self._recent = self._recent, {}
        keys = np.concatenate([self._keys, np.fromiter(recent, np.uint64, len(recent))])
        counts = np.concatenate(
            [self._counts, np.fromiter((c[0] for c in recent.values()), np.int64, len(recent))]
        )
        lasts = np.concatenate(
            [self._lasts, np.fromiter((c[1] for c in recent.values()), np.float64, len(recent))]
        )
        order = np.argsort(keys, kind="stable")
        self._keys, self._counts, self._lasts = keys[order], counts[order], lasts[order]


class Clusters:
    def __init__(self, window_s: float, index: NearDupIndex | None = None) -> None:
        self.index = index or NearDupIndex(window_s=window_s)
        self.sizes = _Counter(window_s)

    def observe(self, fact: Fact) -> tuple[str, int] | None:
        """The post's cluster and its size once the post joined; None when too short."""
        if fact.cluster_key is None:
            return None
        cluster = self.index.resolve_signed(
            fact.cluster_key, fact.tokens, fact.bands, fact.event_ts
        )
        return cluster, self.sizes.bump(cluster, fact.event_ts)

    def expire(self, watermark: float) -> int:
        return self.sizes.expire(watermark)


class MediaReuse:
    """How many earlier posts carried one of a post's media (by URL where given, else key)."""

    def __init__(self, window_s: float) -> None:
        self.seen = _Counter(window_s)

    def observe(self, fact: Fact) -> int:
        earlier = 0
        for key in dict.fromkeys(fact.media_keys):
            earlier = max(earlier, self.seen.bump(key, fact.event_ts) - 1)
        return earlier

    def expire(self, watermark: float) -> int:
        return self.seen.expire(watermark)


@dataclass(slots=True)
class Original:
    language: Language
    media: MediaSummary
    last: float  # the original's or its latest repost's event time


class Amplification:
    """Reposts per original, and what a repost inherits from its original when it is known."""

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self.reposts = _Counter(window_s)
        self.originals: dict[str, Original] = {}

    def original(self, fact: Fact, language: Language, media: MediaSummary) -> int:
        """Remember an original; its reposts counted so far (none, in event-time order)."""
        self.originals[fact.uid] = Original(language, media, fact.event_ts)
        return self.reposts.get(fact.uid, fact.event_ts)

    def repost(self, fact: Fact) -> tuple[int, Original | None]:
        """The repost's rank among its original's reposts, and the original if known."""
        assert fact.repost_of is not None
        original = self.originals.get(fact.repost_of)
        if original is not None:
            original.last = max(original.last, fact.event_ts)
        return self.reposts.bump(fact.repost_of, fact.event_ts), original

    def expire(self, watermark: float) -> int:
        dropped = self.reposts.expire(watermark)
        if self.reposts.swept == watermark:  # a sweep ran: originals quiet as long go too
            horizon = watermark - self.window_s
            self.originals = {k: v for k, v in self.originals.items() if v.last >= horizon}
        return dropped
