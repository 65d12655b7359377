"""What the campaign repeats and amplifies, counted in event-time order, each post once.

Copy-paste clusters (exact canonical keys, near duplicates mapped onto them by MinHash-LSH),
media reuse and reposts per original. Every count is "as of this post" in event-time order,
so the same posts always get the same numbers, whatever order they were read in. Entries
quiet for longer than the window are forgotten: a campaign reusing an old text after that is
a new wave, not the same cluster.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.enrich.facts import Fact
from pipeline.enrich.neardup import NearDupIndex
from schemas.enriched import Language, MediaSummary


@dataclass(slots=True)
class _Count:
    n: int
    last: float


class _Counter:
    """Counts per key with a last-seen time; ``expire`` drops keys quiet for a window."""

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self.counts: dict[str, _Count] = {}
        self._swept = -float("inf")

    def __len__(self) -> int:
        return len(self.counts)

    def bump(self, key: str, ts: float) -> int:
        """Count one more for ``key`` at ``ts``; the count after it, restarting after a quiet
        window."""
        c = self.counts.get(key)
        if c is None or ts - c.last > self.window_s:
            c = self.counts[key] = _Count(0, ts)
        c.n += 1
        c.last = max(c.last, ts)
        return c.n

    def get(self, key: str, ts: float) -> int:
        c = self.counts.get(key)
        return 0 if c is None or ts - c.last > self.window_s else c.n

    def expire(self, watermark: float) -> int:
        """Drop quiet keys; a full sweep at most once per tenth of a window of event time."""
        if watermark - self._swept < self.window_s / 10:
            return 0
        self._swept = watermark
        stale = [k for k, c in self.counts.items() if c.last < watermark - self.window_s]
        for key in stale:
            del self.counts[key]
        return len(stale)


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
        if self.reposts._swept == watermark:  # a sweep ran: originals quiet as long go too
            horizon = watermark - self.window_s
            self.originals = {k: v for k, v in self.originals.items() if v.last >= horizon}
        return dropped
