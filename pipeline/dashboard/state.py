"""The dashboard's view of a campaign: bounded in-memory aggregates fed by the output topics.

Everything here is plain data and synchronous, so it is tested without a broker. Memory is
bounded whatever the campaign's size: per-minute counts keep the latest ``MINUTES_KEPT``
minutes of event time, top-N tables are pruned to their leaders when they grow past
``TRACK_LIMIT`` keys (a tail key that later rises may be under-counted, never a leader), and
the redelivery filter remembers the latest ``SEEN_LIMIT`` uids (the topics are
at-least-once; a redelivery comes soon after the first delivery). The counts are kept for
all posts and for each platform (``Tally``), so the page can show either.

Post text is kept raw: escaping is the browser's job (the page only ever sets textContent).
"""

from __future__ import annotations

import heapq
from collections import Counter, deque
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from pipeline.dashboard.tally import MINUTES_KEPT, Tally, iso, prune
from schemas.alert import Alert
from schemas.enriched import EnrichedPost
from schemas.gap import Gap
from schemas.metrics import MetricsWindow

__all__ = ["FEED_SIZE", "MINUTES_KEPT", "DashboardState"]

FEED_SIZE = 60
ALERTS_KEPT = 50
METRICS_KEPT = 120
GAPS_KEPT = 100
TOP_AMPLIFIED = 10
TOP_CLUSTERS = 10
SEEN_LIMIT = 500_000
ORIGINALS_KEPT = 20_000  # recent originals' author and url, to describe amplified posts
TEXT_LIMIT = 1_000

Json = dict[str, Any]


def _clip(text: str | None, limit: int = TEXT_LIMIT) -> str:
    if not text:
        return ""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _post_url(uid: str, url: str | None) -> str | None:
    if url:
        return url
    platform, _, ident = uid.partition(":")
    return f"https://x.com/i/status/{ident}" if platform == "x" and ident.isdigit() else None


class DashboardState:
    """Aggregates plus what changed since the last push (``take_update``)."""

    def __init__(self) -> None:
        self.version = 0
        self._seq = 0
        self.all = Tally()  # every post
        self.platforms: dict[str, Tally] = {}  # each platform's posts
        self.duplicates = 0
        self.invalid: Counter[str] = Counter()
        self.last_received: datetime | None = None
        self.amplified: dict[str, Json] = {}
        self.clusters: dict[str, Json] = {}
        self.feed: deque[Json] = deque(maxlen=FEED_SIZE)
        self.platform_feeds: dict[str, deque[Json]] = {}  # so a quiet platform still has one
        self.alerts: dict[str, Json] = {}
        self.alert_ids: dict[str, None] = {}  # every alert id seen (bounded), for the totals
        self.alerts_by_severity: Counter[str] = Counter()
        self.metrics: dict[str, Json] = {}
        self.gaps: list[Json] = []
        self.consumer: Json = {"connected": False, "records": 0, "error": None}
        self._gap_records: dict[str, Json] = {}
        self._seen: dict[str, None] = {}
        self._originals: dict[str, tuple[str | None, str | None]] = {}
        # what changed since the last update
        self._dirty = False
        self._new_posts: list[Json] = []
        self._new_alerts: list[Json] = []
        self._new_metrics: list[Json] = []
        self._gaps_dirty = False

    # ---- feeding -------------------------------------------------------------------------

    def add_posts(self, posts: Iterable[EnrichedPost]) -> int:
        """Count each new post once (by uid); returns how many were new."""
        added = 0
        for e in posts:
            uid = e.post.uid
            if uid in self._seen:
                self.duplicates += 1
                continue
            self._seen[uid] = None
            if len(self._seen) > SEEN_LIMIT:
                del self._seen[next(iter(self._seen))]
            self._add(e)
            added += 1
        if added:
            self.last_received = datetime.now(UTC)
        return added

    def _add(self, e: EnrichedPost) -> None:
        p = e.post
        self._touch()
        self.all.add(e)
        self.platforms.setdefault(p.platform, Tally()).add(e)
        if e.repost_of is not None:
            self._amplify(e)
        else:
            self._originals[p.uid] = (p.author.handle or p.author.id, p.url)
            if len(self._originals) > ORIGINALS_KEPT:
                del self._originals[next(iter(self._originals))]
            known = self.amplified.get(p.uid)
            if known is not None:
                known["author"] = p.author.handle or p.author.id
                known["url"] = p.url or known["url"]
        if e.cluster is not None:
            self._cluster(e)
        self._feed(e)

    def _amplify(self, e: EnrichedPost) -> None:
        original = e.repost_of
        assert original is not None
        entry = self.amplified.get(original)
        if entry is None:
            author, url = self._originals.get(original, (None, None))
            entry = self.amplified[original] = {
                "uid": original,
                "url": _post_url(original, url),
                "author": author,
                "text": _clip(e.post.text, 400),
                "lang": e.language.code,
                "amplification": 0,
                "reposts": 0,
                "last_repost_at": None,
            }
        entry["amplification"] = max(entry["amplification"], e.amplification)
        entry["reposts"] += 1
        entry["last_repost_at"] = iso(e.post.created_at)
        prune(self.amplified, lambda v: (v["amplification"], v["reposts"]))

    def _cluster(self, e: EnrichedPost) -> None:
        c = e.cluster
        assert c is not None
        entry = self.clusters.get(c.id)
        if entry is None:
            entry = self.clusters[c.id] = {
                "id": c.id,
                "size": 0,
                "posts": 0,
                "text": _clip(e.post.text, 400),
                "lang": e.language.code,
                "first_uid": e.post.uid,
                "first_url": _post_url(e.post.uid, e.post.url),
                "last_at": None,
            }
        entry["size"] = max(entry["size"], c.size)
        entry["posts"] += 1
        entry["last_at"] = iso(e.post.created_at)
        prune(self.clusters, lambda v: (v["size"], v["posts"]))

    def _feed(self, e: EnrichedPost) -> None:
        p = e.post
        self._seq += 1
        item = {
            "seq": self._seq,
            "uid": p.uid,
            "platform": p.platform,
            "url": _post_url(p.uid, p.url),
            "author": p.author.handle,
            "author_name": p.author.name,
            "created_at": iso(p.created_at),
            "text": _clip(p.text),
            "lang": e.language.code,
            "lang_confidence": round(e.language.confidence, 2),
            "lang_inherited": e.language.inherited,
            "repost_of": e.repost_of,
            "quote_of": p.reference("quote"),
            "reply_to": p.reference("reply"),
            "media": [
                {"type": m.type, "duration_ms": m.duration_ms, "alt": bool(m.alt_text)}
                for m in p.media[:8]
            ],
            "media_reused": e.media.reused,
            "hashtags": list(dict.fromkeys(h.tag for h in p.hashtags))[:10],
            "amplification": e.amplification,
            "cluster_id": e.cluster.id if e.cluster else None,
            "cluster_size": e.cluster.size if e.cluster else None,
            "sensitive": p.possibly_sensitive,
        }
        self.feed.append(item)
        self.platform_feeds.setdefault(p.platform, deque(maxlen=FEED_SIZE)).append(item)
        self._new_posts.append(item)
        if len(self._new_posts) > 4 * FEED_SIZE:  # bounded between updates, every platform kept
            self._new_posts = newest_per_platform(self._new_posts)[::-1]

    def add_alert(self, a: Alert) -> None:
        item = {
            "id": a.id,
            "rule": a.rule,
            "severity": a.severity,
            "subject": a.subject,
            "summary": a.summary,
            "window_start": iso(a.window_start),
            "window_end": iso(a.window_end),
            "value": a.value,
            "threshold": a.threshold,
            "examples": [{"uid": u, "url": _post_url(u, None)} for u in a.examples[:5]],
            "links": a.links[:5],
            "raised_at": iso(a.raised_at),
        }
        if a.id not in self.alert_ids:
            self.alert_ids[a.id] = None
            self.alerts_by_severity[a.severity] += 1
            if len(self.alert_ids) > 50_000:
                del self.alert_ids[next(iter(self.alert_ids))]
        self.alerts.pop(a.id, None)
        self.alerts[a.id] = item
        while len(self.alerts) > ALERTS_KEPT:
            del self.alerts[next(iter(self.alerts))]
        self._new_alerts.append(item)
        if len(self._new_alerts) > ALERTS_KEPT:
            del self._new_alerts[: len(self._new_alerts) - ALERTS_KEPT]
        self._touch()

    def add_metrics(self, m: MetricsWindow) -> None:
        key = iso(m.window_start) or ""
        known = self.metrics.get(key)
        if known is not None and known["final"] and not m.final:
            return  # a late partial after the final one: keep the final
        item = {
            "window_start": key,
            "window_end": iso(m.window_end),
            "posts": m.posts,
            "originals": m.originals,
            "reposts": m.reposts,
            "unique_authors": m.unique_authors,
            "final": m.final,
        }
        self.metrics[key] = item
        if len(self.metrics) > METRICS_KEPT:
            del self.metrics[min(self.metrics)]
        self._new_metrics.append(item)
        if len(self._new_metrics) > METRICS_KEPT:
            del self._new_metrics[: len(self._new_metrics) - METRICS_KEPT]
        self._touch()

    def add_gaps(self, gaps: Sequence[Gap]) -> None:
        """Gap records from the gaps topic: each id as last published (open, closed, filled)."""
        for gap in gaps:
            self._gap_records[gap.id] = {
                "id": gap.id,
                "collector": gap.collector,
                "source": gap.source,
                "start": _text_time(gap.start),
                "end": _text_time(gap.end),
                "reason": gap.reason,
                "recovered": gap.recovered,
                "open": gap.end is None,
            }
        # Open gaps first (an outage right now matters most), then the latest first.
        latest = sorted(self._gap_records.values(), key=lambda g: g["start"] or "", reverse=True)
        latest = latest[:GAPS_KEPT]
        open_first = [g for g in latest if g["open"]] + [g for g in latest if not g["open"]]
        if open_first != self.gaps:
            self.gaps = open_first
            self._gaps_dirty = True
            self._touch()

    def set_consumer(self, **status: Any) -> None:
        if any(self.consumer.get(k) != v for k, v in status.items()):
            self.consumer.update(status)
            self._touch()

    def _touch(self) -> None:
        self._dirty = True
        self.version += 1

    # ---- reading -------------------------------------------------------------------------

    def totals(self) -> Json:
        return {
            **self.all.totals(),
            "clusters": sum(1 for c in self.clusters.values() if c["size"] > 1),
            "alerts": len(self.alert_ids),
            "alerts_by_severity": dict(self.alerts_by_severity),
            "open_gaps": sum(1 for g in self.gaps if g["open"]),
            "duplicates_skipped": self.duplicates,
            "invalid": dict(self.invalid),
            "last_received": iso(self.last_received),
        }

    def _aggregates(self) -> Json:
        amplified = heapq.nlargest(
            TOP_AMPLIFIED,
            self.amplified.values(),
            key=lambda v: (v["amplification"], v["reposts"]),
        )
        clusters = heapq.nlargest(
            TOP_CLUSTERS,
            (c for c in self.clusters.values() if c["size"] > 1),
            key=lambda v: (v["size"], v["posts"]),
        )
        return {
            "version": self.version,
            "generated_at": iso(datetime.now(UTC)),
            **self.all.counts(),
            "totals": self.totals(),
            "amplified": [dict(a) for a in amplified],
            "clusters": [dict(c) for c in clusters],
            "consumer": dict(self.consumer),
        }

    def snapshot(self) -> Json:
        """Everything the page shows; ``/api/snapshot`` and the first SSE event."""
        return {
            "type": "snapshot",
            **self._aggregates(),
            "per_minute": self.all.per_minute(),
            "platforms": {
                name: {**tally.counts(), "per_minute": tally.per_minute()}
                for name, tally in sorted(self.platforms.items())
            },
            "posts": self._latest_posts(),
            "alerts": sorted(self.alerts.values(), key=_alert_order, reverse=True),
            "metrics": [self.metrics[k] for k in sorted(self.metrics)],
            "gaps": list(self.gaps),
        }

    def _latest_posts(self) -> list[Json]:
        """The latest posts, newest first, and each platform's latest too."""
        items = {item["seq"]: item for item in self.feed}
        for feed in self.platform_feeds.values():
            items.update((item["seq"], item) for item in feed)
        return [items[seq] for seq in sorted(items, reverse=True)]

    def take_update(self) -> Json | None:
        """What changed since the last call, or None: aggregates whole, lists as increments."""
        if not self._dirty:
            return None
        update = {
            "type": "update",
            **self._aggregates(),
            "per_minute": self.all.take_minutes(),
            "platforms": {
                name: {**tally.counts(), "per_minute": tally.take_minutes()}
                for name, tally in sorted(self.platforms.items())
            },
            "posts": newest_per_platform(self._new_posts),
            "alerts": list(reversed(self._new_alerts)),
            "metrics": self._new_metrics,
        }
        if self._gaps_dirty:
            update["gaps"] = list(self.gaps)
        self.discard_changes()
        return update

    def discard_changes(self) -> None:
        """Forget what changed (no page is listening: a new one starts from a snapshot)."""
        self._dirty = False
        for tally in (self.all, *self.platforms.values()):
            tally.take_minutes()
        self._new_posts = []
        self._new_alerts = []
        self._new_metrics = []
        self._gaps_dirty = False


def _alert_order(a: Json) -> tuple[str, str]:
    return (a["raised_at"] or "", a["id"])


def _text_time(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return iso(value)
    return str(value)


def newest_per_platform(items: Sequence[Json]) -> list[Json]:
    """Newest first: the latest ``FEED_SIZE`` posts and each platform's latest ``FEED_SIZE``, as
    the page keeps them, so a surge on one platform does not push a quieter one's posts out of
    an update (its filtered feed would stay empty until a reload)."""
    per: Counter[str] = Counter()
    kept = []
    for i, item in enumerate(reversed(items)):
        per[item["platform"]] += 1
        if i < FEED_SIZE or per[item["platform"]] <= FEED_SIZE:
            kept.append(item)
    return kept
