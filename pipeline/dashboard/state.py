"""The dashboard's view of a campaign: bounded in-memory aggregates fed by the output topics.

Everything here is plain data and synchronous, so it is tested without a broker. Memory is
bounded whatever the campaign's size: per-minute counts keep the latest ``MINUTES_KEPT``
minutes of event time, top-N tables are pruned to their leaders when they grow past
``TRACK_LIMIT`` keys (a tail key that later rises may be under-counted, never a leader), and
the redelivery filter remembers the latest ``SEEN_LIMIT`` uids (the topics are
at-least-once; a redelivery comes soon after the first delivery).

Post text is kept raw: escaping is the browser's job (the page only ever sets textContent).
"""

from __future__ import annotations

import heapq
from collections import Counter, deque
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from schemas.alert import Alert
from schemas.enriched import EnrichedPost
from schemas.gap import Gap
from schemas.metrics import MetricsWindow

MINUTES_KEPT = 1440  # a day of one-minute buckets
FEED_SIZE = 60
ALERTS_KEPT = 50
METRICS_KEPT = 120
GAPS_KEPT = 100
TOP_HASHTAGS = 20
TOP_AMPLIFIED = 10
TOP_CLUSTERS = 10
TRACK_LIMIT = 20_000
TRACK_KEEP = 5_000
SEEN_LIMIT = 500_000
AUTHORS_LIMIT = 500_000
ORIGINALS_KEPT = 20_000  # recent originals' author and url, to describe amplified posts
TEXT_LIMIT = 1_000
SPELLINGS_KEPT = 5

Json = dict[str, Any]


def iso(ts: datetime | None) -> str | None:
    if ts is None:
        return None
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    return ts.astimezone(UTC).isoformat()


def _clip(text: str | None, limit: int = TEXT_LIMIT) -> str:
    if not text:
        return ""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _post_url(uid: str, url: str | None) -> str | None:
    if url:
        return url
    platform, _, ident = uid.partition(":")
    return f"https://x.com/i/status/{ident}" if platform == "x" and ident.isdigit() else None


def _prune(table: dict[str, Any], score: Callable[[Any], Any], keep: int = TRACK_KEEP) -> None:
    """Keep the ``keep`` best keys of ``table`` once it holds more than ``TRACK_LIMIT``."""
    if len(table) <= TRACK_LIMIT:
        return
    best = heapq.nlargest(keep, table.items(), key=lambda kv: score(kv[1]))
    table.clear()
    table.update(best)


class DashboardState:
    """Aggregates plus what changed since the last push (``take_update``)."""

    def __init__(self) -> None:
        self.version = 0
        self._seq = 0
        # totals
        self.posts = 0
        self.originals = 0
        self.reposts = 0
        self.quotes = 0
        self.replies = 0
        self.media_items = 0
        self.posts_with_media = 0
        self.sensitive = 0
        self.duplicates = 0
        self.invalid: Counter[str] = Counter()
        self.first_event: datetime | None = None
        self.last_event: datetime | None = None
        self.last_received: datetime | None = None
        # tables
        self.languages: Counter[str] = Counter()
        self.media_types: Counter[str] = Counter()
        self.hashtags: dict[str, int] = {}
        self.spellings: dict[str, list[str]] = {}
        self.amplified: dict[str, Json] = {}
        self.clusters: dict[str, Json] = {}
        self.minutes: dict[int, list[int]] = {}  # minute start (epoch s) -> [originals, reposts]
        self._minute_heap: list[int] = []
        self.feed: deque[Json] = deque(maxlen=FEED_SIZE)
        self.alerts: dict[str, Json] = {}
        self.alert_ids: dict[str, None] = {}  # every alert id seen (bounded), for the totals
        self.alerts_by_severity: Counter[str] = Counter()
        self.metrics: dict[str, Json] = {}
        self.gaps: list[Json] = []
        self.consumer: Json = {"connected": False, "records": 0, "error": None}
        self._gap_records: dict[str, Json] = {}
        self._authors: set[str] = set()
        self._authors_capped = False
        self._seen: dict[str, None] = {}
        self._originals: dict[str, tuple[str | None, str | None]] = {}
        # what changed since the last update
        self._dirty = False
        self._dirty_minutes: set[int] = set()
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
        self.posts += 1
        self._touch()
        created = p.created_at if p.created_at.tzinfo else p.created_at.replace(tzinfo=UTC)
        if self.first_event is None or created < self.first_event:
            self.first_event = created
        if self.last_event is None or created > self.last_event:
            self.last_event = created
        repost = e.repost_of is not None
        if repost:
            self.reposts += 1
        else:
            self.originals += 1
        if p.reference("quote"):
            self.quotes += 1
        if p.reference("reply"):
            self.replies += 1
        if p.possibly_sensitive:
            self.sensitive += 1
        if not self._authors_capped:
            self._authors.add(p.author.id)
            self._authors_capped = len(self._authors) >= AUTHORS_LIMIT
        self.languages[e.language.code] += 1
        # One row per (post, media key) in the store's media table: count the same way.
        media = {m.key: m for m in p.media}
        for m in media.values():
            self.media_types[m.type] += 1
        self.media_items += len(media)
        self.posts_with_media += bool(media)
        tags: dict[str, str] = {}
        for h in p.hashtags:
            tags.setdefault(h.normalized, h.tag)
        for key, written in tags.items():
            self.hashtags[key] = self.hashtags.get(key, 0) + 1
            spelled = self.spellings.setdefault(key, [])
            if written not in spelled and len(spelled) < SPELLINGS_KEPT:
                spelled.append(written)
        if len(self.hashtags) > TRACK_LIMIT:
            _prune(self.hashtags, lambda n: n)
            self.spellings = {k: v for k, v in self.spellings.items() if k in self.hashtags}
        self._count_minute(created, repost)
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

    def _count_minute(self, created: datetime, repost: bool) -> None:
        minute = int(created.timestamp()) // 60 * 60
        bucket = self.minutes.get(minute)
        if bucket is None:
            if len(self.minutes) >= MINUTES_KEPT:
                if minute < self._minute_heap[0]:
                    return  # older than the oldest minute kept
                del self.minutes[heapq.heappop(self._minute_heap)]
            bucket = self.minutes[minute] = [0, 0]
            heapq.heappush(self._minute_heap, minute)
        bucket[1 if repost else 0] += 1
        self._dirty_minutes.add(minute)

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
        _prune(self.amplified, lambda v: (v["amplification"], v["reposts"]))

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
        _prune(self.clusters, lambda v: (v["size"], v["posts"]))

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
        self._new_posts.append(item)
        if len(self._new_posts) > FEED_SIZE:
            del self._new_posts[: len(self._new_posts) - FEED_SIZE]

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
            "posts": self.posts,
            "originals": self.originals,
            "reposts": self.reposts,
            "quotes": self.quotes,
            "replies": self.replies,
            "authors": len(self._authors),
            "authors_capped": self._authors_capped,
            "languages": len(self.languages),
            "media_items": self.media_items,
            "posts_with_media": self.posts_with_media,
            "videos": self.media_types.get("video", 0),
            "sensitive": self.sensitive,
            "clusters": sum(1 for c in self.clusters.values() if c["size"] > 1),
            "alerts": len(self.alert_ids),
            "alerts_by_severity": dict(self.alerts_by_severity),
            "open_gaps": sum(1 for g in self.gaps if g["open"]),
            "duplicates_skipped": self.duplicates,
            "invalid": dict(self.invalid),
            "first_event": iso(self.first_event),
            "last_event": iso(self.last_event),
            "last_received": iso(self.last_received),
        }

    def _aggregates(self) -> Json:
        top_tags = heapq.nlargest(TOP_HASHTAGS, self.hashtags.items(), key=lambda kv: kv[1])
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
            "totals": self.totals(),
            "languages": dict(self.languages.most_common()),
            "media_types": dict(self.media_types.most_common()),
            "hashtags": [
                {
                    "tag": self.spellings.get(k, [k])[0],
                    "normalized": k,
                    "count": n,
                    "spellings": self.spellings.get(k, []),
                }
                for k, n in top_tags
            ],
            "amplified": [dict(a) for a in amplified],
            "clusters": [dict(c) for c in clusters],
            "consumer": dict(self.consumer),
        }

    def snapshot(self) -> Json:
        """Everything the page shows; ``/api/snapshot`` and the first SSE event."""
        return {
            "type": "snapshot",
            **self._aggregates(),
            "per_minute": [[t, *self.minutes[t]] for t in sorted(self.minutes)],
            "posts": list(reversed(self.feed)),
            "alerts": sorted(self.alerts.values(), key=_alert_order, reverse=True),
            "metrics": [self.metrics[k] for k in sorted(self.metrics)],
            "gaps": list(self.gaps),
        }

    def take_update(self) -> Json | None:
        """What changed since the last call, or None: aggregates whole, lists as increments."""
        if not self._dirty:
            return None
        update = {
            "type": "update",
            **self._aggregates(),
            "per_minute": [
                [t, *self.minutes[t]] for t in sorted(self._dirty_minutes) if t in self.minutes
            ],
            "posts": list(reversed(self._new_posts)),
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
        self._dirty_minutes = set()
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
