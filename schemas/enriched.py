"""EnrichedPost v1: a post plus what the pipeline learned about it."""

from __future__ import annotations

from datetime import datetime

import msgspec

from schemas.numbers import Count
from schemas.post import Post


class Language(msgspec.Struct, frozen=True, kw_only=True):
    code: str  # ISO 639-1 where one exists, else 639-3; "und" when there is too little text
    confidence: float
    backend: str  # the detector that decided, or "inherited" for a repost
    inherited: bool = False


class MediaSummary(msgspec.Struct, frozen=True, kw_only=True):
    counts: dict[str, Count] = {}  # by media type
    has_video: bool = False
    video_duration_ms: Count = 0
    best_variant_url: str | None = None  # highest bit-rate mp4 of the first video
    with_alt_text: Count = 0
    reused: Count = 0  # earlier posts that carried one of these media (key or URL)


class Cluster(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    size: Count


class EnrichedPost(msgspec.Struct, frozen=True, kw_only=True, tag="enriched/1", tag_field="schema"):
    post: Post
    language: Language
    media: MediaSummary
    repost_of: str | None = None  # uid of the original when this is a retweet
    amplification: Count = 0  # an original's reposts before it; a repost's rank among its
    # original's reposts in event-time order (the store keeps an original's total)
    cluster: Cluster | None = None  # copy-paste cluster and its size once this post joined
    edit: bool = False  # a later version of a post already published: kept, never recounted
    time_flag: str | None = None  # "future" / "before-platform": created_at not believed, and
    # windows used the time the post was retrieved instead
    processed_at: datetime
