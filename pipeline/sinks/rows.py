"""EnrichedPost to table rows, shared by every SQL backend so the logical schema is one.

Every record's row carries the SHA-256 of the exact bytes it was made from (``sha256``) and
the run that collected it (``collection``). A post's bytes are kept verbatim: ``raw`` is their
text, and ``raw_bytes`` the bytes whenever that text is not them (PostgreSQL keeps them
always, its ``raw`` being jsonb); versions and deletions keep ``raw`` as bytes.
"""

from __future__ import annotations

from schemas.alert import Alert
from schemas.codec import encode
from schemas.collection import Collection
from schemas.enriched import EnrichedPost
from schemas.gap import Gap
from schemas.post import PostDeletion

POST_COLUMNS = (
    "uid",
    "platform",
    "id",
    "url",
    "author_id",
    "author_handle",
    "author_name",
    "created_at",
    "text",
    "lang",
    "lang_confidence",
    "lang_backend",
    "platform_lang",
    "repost_of",
    "quote_of",
    "reply_to",
    "amplification",
    "possibly_sensitive",
    "cluster_id",
    "cluster_size",
    "media_count",
    "has_video",
    "video_duration_ms",
    "media_reused",
    "time_flag",
    "collector",
    "retrieved_at",
    "source",
    "processed_at",
    "raw",
    "sha256",
    "collection",
    "context",
    "raw_bytes",
)
MEDIA_COLUMNS = (
    "uid",
    "media_key",
    "type",
    "url",
    "preview_url",
    "duration_ms",
    "width",
    "height",
    "alt_text",
    "variants",
)
HASHTAG_COLUMNS = ("uid", "tag", "normalized")

PostRow = tuple[object, ...]


def post_row(e: EnrichedPost, *, typed: bool = False) -> PostRow:
    """``typed``: the times as datetimes and the payload's bytes always, as PostgreSQL takes them
    (timestamptz, bytea); else ISO text, and the bytes only where the text is not them (SQLite).
    Built one way or the other, not converted: formatting times to replace them cost PostgreSQL's
    rows a third of their build time."""
    p = e.post
    raw = bytes(p.raw)
    text, raw_bytes = raw_text(raw)
    times = (p.created_at, p.provenance.retrieved_at, e.processed_at)
    created, retrieved, processed = times if typed else tuple(t.isoformat() for t in times)
    if typed:
        raw_bytes = raw
    return (
        p.uid,
        p.platform,
        p.id,
        p.url,
        p.author.id,
        p.author.handle,
        p.author.name,
        created,
        p.text,
        e.language.code,
        e.language.confidence,
        e.language.backend,
        p.platform_lang,
        e.repost_of,
        p.reference("quote"),
        p.reference("reply"),
        e.amplification,
        p.possibly_sensitive,
        e.cluster.id if e.cluster else None,
        e.cluster.size if e.cluster else None,
        len(p.media),
        e.media.has_video,
        e.media.video_duration_ms,
        e.media.reused,
        e.time_flag,
        p.provenance.collector,
        retrieved,
        p.provenance.source,
        processed,
        text,
        p.provenance.sha256,
        p.provenance.collection,
        _json_or_none(p.context),
        raw_bytes,
    )


def raw_text(raw: bytes) -> tuple[str, bytes | None]:
    """The payload as text, and its bytes when that text is not them byte for byte (invalid
    UTF-8, shown with U+FFFD): valid UTF-8 text encodes back to exactly the bytes received."""
    try:
        return raw.decode(), None
    except UnicodeDecodeError:
        return raw.decode("utf-8", "replace"), raw


def _json_or_none(value: object) -> str | None:
    return None if value is None else encode(value).decode()


def media_rows(e: EnrichedPost) -> list[PostRow]:
    return [
        (
            e.post.uid,
            m.key,
            m.type,
            m.url,
            m.preview_url,
            m.duration_ms,
            m.width,
            m.height,
            m.alt_text,
            encode(m.variants).decode(),
        )
        for m in e.post.media
    ]


def hashtag_rows(e: EnrichedPost) -> list[PostRow]:
    seen: dict[str, PostRow] = {}
    for h in e.post.hashtags:
        seen.setdefault(h.normalized, (e.post.uid, h.tag, h.normalized))
    return list(seen.values())


ALERT_COLUMNS = (
    "id",
    "rule",
    "severity",
    "subject",
    "summary",
    "window_start",
    "window_end",
    "value",
    "threshold",
    "examples",
    "links",
    "raised_at",
)


def alert_row(a: Alert) -> PostRow:
    return (
        a.id,
        a.rule,
        a.severity,
        a.subject,
        a.summary,
        a.window_start.isoformat(),
        a.window_end.isoformat(),
        a.value,
        a.threshold,
        encode(a.examples).decode(),
        encode(a.links).decode(),
        a.raised_at.isoformat(),
    )


GAP_COLUMNS = ("id", "collector", "start", '"end"', "reason", "recovered", "source", "collection")


def gap_row(g: Gap) -> PostRow:
    return (
        g.id,
        g.collector,
        g.start.isoformat(),
        g.end.isoformat() if g.end else None,
        g.reason,
        g.recovered,
        g.source,
        g.collection,
    )


COLLECTION_COLUMNS = (
    "id",
    "collector",
    "campaign",
    "config",
    "config_sha256",
    "rules",
    "parameters",
    "software",
    "host",
    "started_at",
    "stopped_at",
    "outcome",
)


def collection_row(c: Collection) -> PostRow:
    return (
        c.id,
        c.collector,
        c.campaign,
        c.config,
        c.config_sha256,
        encode(c.rules).decode(),
        encode(c.parameters).decode(),
        c.software,
        c.host,
        c.started_at.isoformat(),
        c.stopped_at.isoformat() if c.stopped_at else None,
        c.outcome,
    )


VERSION_COLUMNS = (
    "uid",
    "version",
    "edited_at",
    "text",
    "content_warning",
    "media",
    "lang",
    "retrieved_at",
    "source",
    "sha256",
    "raw",
    "collection",
    "context",
)


def version_row(e: EnrichedPost) -> PostRow:
    p = e.post
    return (
        p.uid,
        p.version_key(),
        p.edited_at.isoformat() if p.edited_at else None,
        p.text,
        p.content_warning,
        encode(p.media).decode(),
        e.language.code,
        p.provenance.retrieved_at.isoformat(),
        p.provenance.source,
        p.provenance.sha256,
        bytes(p.raw),
        p.provenance.collection,
        _json_or_none(p.context),
    )


DELETION_COLUMNS = (
    "uid",
    "platform",
    "id",
    "deleted_at",
    "retrieved_at",
    "source",
    "sha256",
    "raw",
    "collection",
)


def deletion_row(d: PostDeletion) -> PostRow:
    return (
        d.uid,
        d.platform,
        d.id,
        d.deleted_at.isoformat(),
        d.provenance.retrieved_at.isoformat(),
        d.provenance.source,
        d.provenance.sha256,
        bytes(d.raw),
        d.provenance.collection,
    )
