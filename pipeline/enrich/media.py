"""Media tagging: what a post carries, in the numbers people filter and chart by."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from schemas.enriched import MediaSummary
from schemas.numbers import LARGEST_COUNT
from schemas.post import Media


def best_variant(media: Media) -> str | None:
    """Highest bit-rate MP4: the file worth archiving as evidence."""
    mp4 = [v for v in media.variants if v.content_type == "video/mp4"]
    if mp4:
        return max(mp4, key=lambda v: v.bit_rate or 0).url
    return media.variants[0].url if media.variants else media.url


def summarize(media: Sequence[Media], reused: int = 0) -> MediaSummary:
    if not media:
        return MediaSummary(reused=reused)
    videos = [m for m in media if m.type == "video"]
    playable = [m for m in media if m.type in ("video", "animated_gif")]
    return MediaSummary(
        counts=dict(Counter(m.type for m in media)),
        has_video=bool(videos),
        # each duration is a Measure; their sum is held at what a Count can be
        video_duration_ms=min(sum(m.duration_ms or 0 for m in videos), LARGEST_COUNT),
        best_variant_url=best_variant(playable[0]) if playable else None,
        with_alt_text=sum(1 for m in media if m.alt_text),
        reused=reused,
    )
