from __future__ import annotations

from pipeline.enrich.media import best_variant, summarize
from schemas.post import Media, MediaVariant


def test_summary_counts_types_durations_and_alt_text() -> None:
    media = [
        Media(key="a", type="photo", alt_text="a detainee's photo"),
        Media(key="b", type="photo"),
        Media(key="c", type="video", duration_ms=1500),
        Media(key="d", type="video", duration_ms=500),
    ]
    s = summarize(media)
    assert s.counts == {"photo": 2, "video": 2}
    assert s.has_video and s.video_duration_ms == 2000 and s.with_alt_text == 1


def test_best_variant_is_highest_bitrate_mp4_not_the_playlist() -> None:
    m = Media(
        key="v",
        type="video",
        variants=[
            MediaVariant(url="hls.m3u8", content_type="application/x-mpegURL"),
            MediaVariant(url="360.mp4", content_type="video/mp4", bit_rate=832000),
            MediaVariant(url="720.mp4", content_type="video/mp4", bit_rate=2176000),
        ],
    )
    assert best_variant(m) == "720.mp4"


def test_no_media_is_an_empty_summary() -> None:
    s = summarize([])
    assert s.counts == {} and not s.has_video and s.best_variant_url is None
