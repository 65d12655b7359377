"""The store tests' post: media of two kinds and two spellings of one hashtag, ready for a store."""

from __future__ import annotations

import msgspec

from pipeline.enrich.media import summarize
from schemas.enriched import EnrichedPost
from schemas.post import Hashtag, Media, MediaVariant
from schemas.testing import T0 as NOW
from schemas.testing import enriched, post

__all__ = ["NOW", "enriched_post"]


def enriched_post(
    pid: str, repost_of: str | None = None, amp: int = 0, text: str = "نص", raw: bytes | None = None
) -> EnrichedPost:
    media = [
        Media(key=f"3_{pid}", type="photo", alt_text="صورة"),
        Media(
            key=f"7_{pid}",
            type="video",
            duration_ms=5000,
            variants=[MediaVariant(url=f"https://v.example/{pid}.mp4", bit_rate=832000)],
        ),
    ]
    p = post(
        pid,
        text,
        author="1",
        media=media,
        raw=raw if raw is not None else b'{"id": "%s"}' % pid.encode(),
        hashtags=[
            Hashtag(tag="أين_المعتقلين", normalized="اين_المعتقلين"),
            Hashtag(tag="اين_المعتقلين", normalized="اين_المعتقلين"),
        ],
    )
    e = enriched(p, lang="ar", backend="t", media=summarize(media), amplification=amp)
    return e if repost_of is None else msgspec.structs.replace(e, repost_of=repost_of)
