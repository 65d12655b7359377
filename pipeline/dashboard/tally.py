"""The counts of one slice of a campaign's posts: all of them, or one platform's.

The dashboard keeps one ``Tally`` for every post and one per platform, so the page can show
any of them (the platform filter) with the same numbers the store would give for that slice:
posts, originals and reposts, authors, languages, media, hashtags, posts per minute. Memory
is bounded as the dashboard's is (see state.py).
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from schemas.enriched import EnrichedPost

MINUTES_KEPT = 1440  # a day of one-minute buckets
TOP_HASHTAGS = 20
TRACK_LIMIT = 20_000
TRACK_KEEP = 5_000
AUTHORS_LIMIT = 500_000
SPELLINGS_KEPT = 5

Json = dict[str, Any]


def to_utc(ts: datetime) -> datetime | None:
    """``ts`` in UTC (naive is taken as UTC); None when it has no UTC equivalent, as
    0001-01-01T00:00:00+14:00 or 9999-12-31T23:59:59-23:59 (a record may say anything)."""
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    try:
        return ts.astimezone(UTC)
    except OverflowError:
        return None


def iso(ts: datetime | None) -> str | None:
    """In UTC; a time with no UTC equivalent as it was written."""
    if ts is None:
        return None
    utc = to_utc(ts)
    return (utc or ts).isoformat()


def prune(table: dict[str, Any], score: Callable[[Any], Any], keep: int = TRACK_KEEP) -> None:
    """Keep the ``keep`` best keys of ``table`` once it holds more than ``TRACK_LIMIT``."""
    if len(table) <= TRACK_LIMIT:
        return
    best = heapq.nlargest(keep, table.items(), key=lambda kv: score(kv[1]))
    table.clear()
    table.update(best)


class Tally:
    def __init__(self) -> None:
        self.posts = 0
        self.originals = 0
        self.reposts = 0
        self.quotes = 0
        self.replies = 0
        self.media_items = 0
        self.posts_with_media = 0
        self.sensitive = 0
        self.first_event: datetime | None = None
        self.last_event: datetime | None = None
        self.languages: Counter[str] = Counter()
        self.media_types: Counter[str] = Counter()
        self.hashtags: dict[str, int] = {}
        self.spellings: dict[str, list[str]] = {}
        self.minutes: dict[int, list[int]] = {}  # minute start (epoch s) -> [originals, reposts]
        self._minute_heap: list[int] = []
        self._dirty_minutes: set[int] = set()
        self._authors: set[str] = set()
        self._authors_capped = False

    def add(self, e: EnrichedPost) -> None:
        p = e.post
        self.posts += 1
        created = to_utc(p.created_at)  # None: no minute to count it in
        if created is not None and (self.first_event is None or created < self.first_event):
            self.first_event = created
        if created is not None and (self.last_event is None or created > self.last_event):
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
            prune(self.hashtags, lambda n: n)
            self.spellings = {k: v for k, v in self.spellings.items() if k in self.hashtags}
        if created is not None:
            self._count_minute(created, repost)

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
            "first_event": iso(self.first_event),
            "last_event": iso(self.last_event),
        }

    def top_hashtags(self) -> list[Json]:
        top = heapq.nlargest(TOP_HASHTAGS, self.hashtags.items(), key=lambda kv: kv[1])
        return [
            {
                "tag": self.spellings.get(k, [k])[0],
                "normalized": k,
                "count": n,
                "spellings": self.spellings.get(k, []),
            }
            for k, n in top
        ]

    def counts(self) -> Json:
        """Totals, languages, media types and top hashtags, as the page shows them."""
        return {
            "totals": self.totals(),
            "languages": dict(self.languages.most_common()),
            "media_types": dict(self.media_types.most_common()),
            "hashtags": self.top_hashtags(),
        }

    def per_minute(self) -> list[list[int]]:
        return [[t, *self.minutes[t]] for t in sorted(self.minutes)]

    def take_minutes(self) -> list[list[int]]:
        """The minutes changed since the last call."""
        changed = [[t, *self.minutes[t]] for t in sorted(self._dirty_minutes) if t in self.minutes]
        self._dirty_minutes = set()
        return changed
