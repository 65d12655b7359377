"""Event-time window aggregates: per-batch partials, merged per window, closed by watermark.

Windows follow the post's ``created_at``, so a replayed archive yields the same windows as
the live stream did. Each enrich batch is summed into one partial per window; partials go
to a single-partition internal topic so one aggregator sees every window. The watermark is
the low watermark over input partitions (the event time every active partition has passed),
because partitions, and reposts after their extra hop, are consumed at different speeds: a
replay would otherwise close windows before their slower partitions arrive.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from pipeline.core.hashtags import cooccurring_pairs
from schemas.enriched import EnrichedPost
from schemas.metrics import Count, MetricsWindow

Partial = dict[str, Any]  # JSON-ready: it travels on a topic and sits in a Faust table
PARTIAL_KEY = b"metrics"  # one key: every partial goes to the one aggregator
TOP_N = 10
EXAMPLES = 5


def window_of(ts: float, size: float) -> float:
    return ts - ts % size


def partials(
    posts: Sequence[EnrichedPost],
    size: float,
    watch: Iterable[str] = (),
    cluster_alert: int = 0,
    watermark: float | None = None,
    source: str = "",
) -> list[Partial]:
    """One partial per window touched by this batch.

    ``cluster_alert``: the cluster size that raises an alert. Sizes are handed out one post
    at a time, so exactly one post reaches it; its window is where the alert belongs, even
    when partitions deliver a cluster's posts out of event-time order.
    """
    watch_terms = [w.casefold() for w in watch]
    out: dict[float, Partial] = {}
    for e in posts:
        p = e.post
        ts = p.created_at.timestamp()
        start = window_of(ts, size)
        w = out.get(start)
        if w is None:
            w = out[start] = empty(start)
        w["posts"] += 1
        w["max_ts"] = max(w["max_ts"], ts)
        if e.repost_of:
            w["reposts"] += 1
            w["amplified"][e.repost_of] = max(w["amplified"].get(e.repost_of, 0), e.amplification)
        else:
            w["originals"] += 1
        w["authors"].append(p.author.id)
        _inc(w["by_language"], e.language.code)
        for m in p.media:
            _inc(w["by_media_type"], m.type)
        for h in {h.normalized for h in p.hashtags}:
            _inc(w["hashtags"], h)
        for a, b in cooccurring_pairs([h.tag for h in p.hashtags]):
            _inc(w["hashtag_pairs"], f"{a} + {b}")
        if e.cluster is not None:
            cid, size_ = e.cluster.id, e.cluster.size
            w["clusters"][cid] = max(w["clusters"].get(cid, 0), size_)
            if size_ == cluster_alert:
                w["cluster_crossed"].append(cid)
            if e.cluster.size == 1:
                w["cluster_first"].setdefault(e.cluster.id, p.url or p.uid)
        if len(w["examples"]) < EXAMPLES and not e.repost_of:
            w["examples"].append([p.uid, p.url or ""])
        if watch_terms:
            folded = f"{p.text.casefold()} @{(p.author.handle or '').casefold()}"
            for term in watch_terms:
                if term in folded:
                    _inc(w["watch"], term)
    for w in out.values():
        w["authors"] = sorted(set(w["authors"]))
        w["watermark"] = w["max_ts"] if watermark is None else watermark
        w["source"] = source
    return list(out.values())


def empty(start: float) -> Partial:
    return {
        "start": start,
        "posts": 0,
        "originals": 0,
        "reposts": 0,
        "max_ts": start,
        "authors": [],
        "by_language": {},
        "by_media_type": {},
        "hashtags": {},
        "hashtag_pairs": {},
        "clusters": {},
        "cluster_crossed": [],
        "cluster_first": {},
        "amplified": {},
        "examples": [],
        "watch": {},
    }


def merge(into: Partial, p: Partial) -> Partial:
    """Sum ``p`` into ``into`` (a fresh dict, so a table write sees a new value)."""
    m = dict(into)
    for k in ("posts", "originals", "reposts"):
        m[k] = into[k] + p[k]
    m["max_ts"] = max(into["max_ts"], p["max_ts"])
    m["watermark"] = max(into.get("watermark", 0.0), p.get("watermark", 0.0))
    m["authors"] = sorted(set(into["authors"]) | set(p["authors"]))
    for k in ("by_language", "by_media_type", "hashtags", "hashtag_pairs", "watch"):
        m[k] = dict(Counter(into[k]) + Counter(p[k]))
    for k in ("clusters", "amplified"):
        m[k] = {**into[k], **{i: max(n, into[k].get(i, 0)) for i, n in p[k].items()}}
    m["cluster_crossed"] = sorted(set(into["cluster_crossed"]) | set(p["cluster_crossed"]))
    m["cluster_first"] = {**p["cluster_first"], **into["cluster_first"]}
    m["examples"] = (into["examples"] + p["examples"])[:EXAMPLES]
    return m


def record(w: Partial, size: float, final: bool) -> MetricsWindow:
    def top(d: dict[str, int]) -> list[Count]:
        ranked = sorted(d.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_N]
        return [Count(key=k, count=v) for k, v in ranked]

    return MetricsWindow(
        window_start=datetime.fromtimestamp(w["start"], UTC),
        window_end=datetime.fromtimestamp(w["start"] + size, UTC),
        posts=w["posts"],
        originals=w["originals"],
        reposts=w["reposts"],
        unique_authors=len(w["authors"]),
        by_language=dict(sorted(w["by_language"].items(), key=lambda kv: -kv[1])),
        by_media_type=w["by_media_type"],
        top_hashtags=top(w["hashtags"]),
        top_hashtag_pairs=top(w["hashtag_pairs"]),
        top_clusters=top({k: v for k, v in w["clusters"].items() if v > 1}),
        top_amplified=top(w["amplified"]),
        final=final,
    )


def _inc(d: dict[str, int], key: str) -> None:
    d[key] = d.get(key, 0) + 1
