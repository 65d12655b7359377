"""One event-time window of campaign numbers, as it fills and as it is published.

Windows follow each post's event time (its ``created_at`` when believable), so a replayed
archive yields the same windows as the live stream did. The ledger adds posts in event-time
order, each counted once; a window becomes one ``MetricsWindow`` record when it closes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from schemas.metrics import Count, MetricsWindow

TOP_N = 10
EXAMPLES = 5


def window_of(ts: float, size: float) -> float:
    return ts - ts % size


@dataclass(frozen=True, slots=True)
class Counted:
    """What a window counts of one post (the ledger's verdicts included)."""

    uid: str
    url: str | None
    author: str
    lang: str
    media_types: list[str]
    hashtags: list[str]
    pairs: list[str]
    watch: list[str]
    repost_of: str | None
    amplification: int  # for a repost: the n-th repost of its original
    cluster: str | None
    cluster_size: int  # the cluster's size once this post joined it
    cluster_alert: bool  # this post took its cluster to the alert size


@dataclass(slots=True)
class Window:
    start: float
    posts: int = 0
    originals: int = 0
    reposts: int = 0
    authors: set[str] = field(default_factory=set)
    by_language: dict[str, int] = field(default_factory=dict)
    by_media_type: dict[str, int] = field(default_factory=dict)
    hashtags: dict[str, int] = field(default_factory=dict)
    hashtag_pairs: dict[str, int] = field(default_factory=dict)
    clusters: dict[str, int] = field(default_factory=dict)  # largest size reached here
    cluster_crossed: list[str] = field(default_factory=list)
    cluster_first: dict[str, str] = field(default_factory=dict)  # a cluster's first post
    amplified: dict[str, int] = field(default_factory=dict)  # original -> reposts so far
    examples: list[tuple[str, str]] = field(default_factory=list)  # (uid, url) of originals
    watch: dict[str, int] = field(default_factory=dict)

    def add(self, c: Counted) -> None:
        self.posts += 1
        self.authors.add(c.author)
        _inc(self.by_language, c.lang)
        for kind in c.media_types:
            _inc(self.by_media_type, kind)
        for tag in c.hashtags:
            _inc(self.hashtags, tag)
        for pair in c.pairs:
            _inc(self.hashtag_pairs, pair)
        for term in c.watch:
            _inc(self.watch, term)
        if c.repost_of is not None:
            self.reposts += 1
            self.amplified[c.repost_of] = max(self.amplified.get(c.repost_of, 0), c.amplification)
        else:
            self.originals += 1
            if len(self.examples) < EXAMPLES:
                self.examples.append((c.uid, c.url or ""))
        if c.cluster is not None:
            self.clusters[c.cluster] = max(self.clusters.get(c.cluster, 0), c.cluster_size)
            if c.cluster_alert:
                self.cluster_crossed.append(c.cluster)
            if c.cluster_size == 1:
                self.cluster_first.setdefault(c.cluster, c.url or c.uid)

    def record(self, size: float, final: bool = True) -> MetricsWindow:
        def top(d: dict[str, int]) -> list[Count]:
            ranked = sorted(d.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_N]
            return [Count(key=k, count=v) for k, v in ranked]

        return MetricsWindow(
            window_start=datetime.fromtimestamp(self.start, UTC),
            window_end=datetime.fromtimestamp(self.start + size, UTC),
            posts=self.posts,
            originals=self.originals,
            reposts=self.reposts,
            unique_authors=len(self.authors),
            by_language=dict(sorted(self.by_language.items(), key=lambda kv: (-kv[1], kv[0]))),
            by_media_type=dict(sorted(self.by_media_type.items())),
            top_hashtags=top(self.hashtags),
            top_hashtag_pairs=top(self.hashtag_pairs),
            top_clusters=top({k: v for k, v in self.clusters.items() if v > 1}),
            top_amplified=top(self.amplified),
            final=final,
        )


def _inc(d: dict[str, int], key: str) -> None:
    d[key] = d.get(key, 0) + 1
