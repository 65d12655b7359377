"""Copy-paste clusters and media reuse: what a campaign repeats, counted as it happens.

Near-duplicate resolution (``NearDupIndex``) is in memory and bounded; the counts live in
Faust tables whose changelogs are partitioned by the cluster id and the media key (tables
with ``use_partitioner=True``), so they survive restarts. Counts are exact while one worker
runs the enrich agent (one per campaign, the default); with several at once, each counts
the posts of its own partitions.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from pipeline.enrich.neardup import ClusterInfo, NearDupIndex, keyed_canonical, update_cluster
from schemas.enriched import Cluster
from schemas.post import Post

DEFAULT_WINDOW_S = 6 * 3600.0


class ClusterTracker:
    def __init__(
        self,
        table: MutableMapping[str, Any],
        window_s: float = DEFAULT_WINDOW_S,
        index: NearDupIndex | None = None,
    ) -> None:
        self.table = table
        self.window_s = window_s
        self.index = index or NearDupIndex(window_s=window_s)
        self.latest = 0.0  # newest event time seen: expiry follows event time, not the clock

    def observe(self, post: Post) -> Cluster | None:
        """The post's cluster after counting it; None when its text is too short to tell."""
        key, canonical = keyed_canonical(post.text)
        if key is None:
            return None
        ts = post.created_at.timestamp()
        self.latest = max(self.latest, ts)
        cluster_id = self.index.resolve(key, canonical, ts)
        info: ClusterInfo = update_cluster(
            self.table.get(cluster_id), cluster_id, post.uid, ts, self.window_s
        )
        self.table[cluster_id] = info
        return Cluster(id=cluster_id, size=info["size"])

    def expire(self) -> int:
        """Drop clusters quiet for longer than the window; state stays bounded."""
        horizon = self.latest - self.window_s
        stale = [k for k, v in list(self.table.items()) if v and v["last_seen"] < horizon]
        for key in stale:
            del self.table[key]
        return len(stale)


class MediaReuse:
    """How many earlier posts carried the same media, by media URL (else media key)."""

    def __init__(self, table: MutableMapping[str, Any], window_s: float = DEFAULT_WINDOW_S) -> None:
        self.table = table
        self.window_s = window_s
        self.latest = 0.0

    def observe(self, post: Post) -> int:
        # One entry per item: its URL where the platform gives one (so reuse across posts and
        # platforms is seen), else its media key. One table write per item, not two.
        keys = {f"url:{m.url}" if m.url else f"key:{m.key}" for m in post.media}
        if not keys:
            return 0
        ts = post.created_at.timestamp()
        self.latest = max(self.latest, ts)
        earlier = 0
        for key in keys:
            seen = self.table.get(key) or {"n": 0, "last": ts}
            earlier = max(earlier, seen["n"])
            self.table[key] = {"n": seen["n"] + 1, "last": max(ts, seen["last"])}
        return int(earlier)

    def expire(self) -> int:
        horizon = self.latest - self.window_s
        stale = [k for k, v in list(self.table.items()) if v and v["last"] < horizon]
        for key in stale:
            del self.table[key]
        return len(stale)
