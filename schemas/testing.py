"""Record builders for tests: one way to make a Post or an EnrichedPost with sensible defaults.

Shipped with the package (like ``agents.testing`` and ``pipeline.testing``) so every test, and
anyone writing a consumer of hashwatch's topics, builds records the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import msgspec

from schemas.enriched import Cluster, EnrichedPost, Language, MediaSummary
from schemas.post import Author, Hashtag, Media, Platform, Post, Provenance, Reference

T0 = datetime(2026, 1, 1, tzinfo=UTC)
PROVENANCE = Provenance(collector="test", version="0", retrieved_at=T0, source="test")


def uid_of(ident: str, platform: Platform = "x") -> str:
    """``ident`` as a uid: already one (``x:1``) or a bare id of ``platform``."""
    return ident if ":" in ident else f"{platform}:{ident}"


def post(
    ident: str | int,
    text: str = "أين المعتقلين في سجون النظام",
    *,
    platform: Platform = "x",
    created_at: datetime = T0,
    at: float = 0.0,
    author: str | None = None,
    handle: str | None = None,
    name: str | None = None,
    url: str | None = None,
    media: Sequence[Media] = (),
    hashtags: Sequence[Hashtag | str] = (),
    retweet_of: str | None = None,
    references: Sequence[Reference] = (),
    platform_lang: str | None = None,
    edited_at: datetime | None = None,
    version: str | None = None,
    raw: bytes = b"{}",
    provenance: Provenance = PROVENANCE,
) -> Post:
    """A post ``at`` seconds after ``created_at``; a hashtag given as a string is normalized by
    case folding only (pass a ``Hashtag`` for Arabic or Turkish spellings)."""
    ident = str(ident)
    refs = list(references)
    if retweet_of is not None:
        refs.append(Reference(type="retweet", uid=uid_of(retweet_of, platform)))
    return Post(
        uid=f"{platform}:{ident}",
        platform=platform,
        id=ident,
        url=url,
        author=Author(id=author or f"a{ident}", handle=handle, name=name),
        created_at=created_at + timedelta(seconds=at),
        text=text,
        hashtags=[
            h if isinstance(h, Hashtag) else Hashtag(tag=h, normalized=h.casefold())
            for h in hashtags
        ],
        media=list(media),
        references=refs,
        platform_lang=platform_lang,
        edited_at=edited_at,
        version=version,
        provenance=provenance.of(raw),
        raw=msgspec.Raw(raw),
    )


def enriched(
    p: Post,
    *,
    lang: str = "ar",
    confidence: float = 0.9,
    backend: str = "test",
    media: MediaSummary | None = None,
    amplification: int = 0,
    cluster: Cluster | None = None,
    processed_at: datetime = T0,
) -> EnrichedPost:
    """``p`` as the enrich stage would publish it; a retweet is a repost of its original."""
    repost_of = p.reference("retweet")
    return EnrichedPost(
        post=p,
        language=Language(
            code=lang,
            confidence=confidence,
            backend="inherited" if repost_of else backend,
            inherited=repost_of is not None,
        ),
        media=media or MediaSummary(),
        repost_of=repost_of,
        amplification=amplification,
        cluster=cluster,
        processed_at=processed_at,
    )
