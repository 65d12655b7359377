"""EnrichedPost v1 built around a post that is already JSON: the ledger never decodes a post.

``_Wire`` mirrors ``schemas.enriched.EnrichedPost`` field for field with ``post`` as raw
bytes, so encoding it gives the bytes ``encode(EnrichedPost(...))`` would (a test holds the
two together) at a fraction of the cost.
"""

from __future__ import annotations

from datetime import datetime

import msgspec

from schemas.enriched import Cluster, Language, MediaSummary


class _Wire(msgspec.Struct, frozen=True, kw_only=True, tag="enriched/1", tag_field="schema"):
    post: msgspec.Raw
    language: Language
    media: MediaSummary
    repost_of: str | None = None
    amplification: int = 0
    cluster: Cluster | None = None
    edit: bool = False
    time_flag: str | None = None
    processed_at: datetime


_encode = msgspec.json.Encoder().encode


def enriched_bytes(
    post: bytes,
    *,
    language: Language,
    media: MediaSummary,
    repost_of: str | None,
    amplification: int,
    cluster: Cluster | None,
    edit: bool,
    time_flag: str | None,
    processed_at: datetime,
) -> bytes:
    return _encode(
        _Wire(
            post=msgspec.Raw(post),
            language=language,
            media=media,
            repost_of=repost_of,
            amplification=amplification,
            cluster=cluster,
            edit=edit,
            time_flag=time_flag,
            processed_at=processed_at,
        )
    )
