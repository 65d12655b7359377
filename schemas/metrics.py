"""MetricsWindow v1: one event-time window of campaign numbers, for dashboards."""

from __future__ import annotations

from datetime import datetime

import msgspec

from schemas import numbers


class Count(msgspec.Struct, frozen=True, kw_only=True):
    key: str
    count: numbers.Count


class MetricsWindow(msgspec.Struct, frozen=True, kw_only=True, tag="metrics/1", tag_field="schema"):
    window_start: datetime
    window_end: datetime
    posts: numbers.Count
    originals: numbers.Count
    reposts: numbers.Count
    unique_authors: numbers.Count
    by_language: dict[str, numbers.Count] = {}
    by_media_type: dict[str, numbers.Count] = {}
    top_hashtags: list[Count] = []
    top_hashtag_pairs: list[Count] = []  # hashtags used together in one post: "a + b"
    top_clusters: list[Count] = []
    top_amplified: list[Count] = []
    final: bool = False  # true once the grace period has passed and the window is closed
