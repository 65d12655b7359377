"""Records many tests build: enriched posts with media and hashtags, ready for a store."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec

from pipeline.media_tags import summarize
from schemas.enriched import EnrichedPost, Language
from schemas.post import Author, Hashtag, Media, MediaVariant, Post, Provenance

NOW = datetime(2026, 1, 1, tzinfo=UTC)
PROV = Provenance(collector="t", version="0", retrieved_at=NOW, source="t")


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
    post = Post(
        uid=f"x:{pid}",
        platform="x",
        id=pid,
        author=Author(id="1"),
        created_at=NOW,
        text=text,
        media=media,
        provenance=PROV,
        raw=msgspec.Raw(raw if raw is not None else b'{"id": "%s"}' % pid.encode()),
        hashtags=[
            Hashtag(tag="أين_المعتقلين", normalized="اين_المعتقلين"),
            Hashtag(tag="اين_المعتقلين", normalized="اين_المعتقلين"),
        ],
    )
    return EnrichedPost(
        post=post,
        language=Language(code="ar", confidence=0.9, backend="t"),
        media=summarize(media),
        repost_of=repost_of,
        amplification=amp,
        processed_at=NOW,
    )
