"""Reading posts and gaps back out of a store, page by page, the same on SQLite and PostgreSQL.

Pages are keyed on (created_at, uid), never OFFSET, so an export of millions of posts holds
one page in memory and stays consistent while the worker keeps writing. Values come back in
one Python shape whatever the backend: aware datetimes, bools, ints, the raw payload as bytes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from pipeline.core.hashtags import normalize_hashtag
from pipeline.sinks import Store
from pipeline.sinks.querying import (
    as_time,
    exact_raw,
    is_postgres,
    iter_keyed,
    placeholders,
    time_param,
)
from pipeline.sinks.rows import MEDIA_COLUMNS, POST_COLUMNS

PAGE_SIZE = 500  # posts per query; their media and hashtags are fetched per page too

# The store's own column lists: what is written is what is read, and what the store sets itself.
_READ_COLUMNS = (*POST_COLUMNS, "edited_at", "deleted_at")
_AT = {name: i for i, name in enumerate(_READ_COLUMNS)}
_MEDIA_COLUMNS = MEDIA_COLUMNS


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _int(value: object) -> int | None:
    return None if value is None else int(value)  # type: ignore[call-overload]


def _json(value: object) -> Any:
    """JSON columns: text in SQLite, jsonb (returned as text) in PostgreSQL."""
    if value is None:
        return None
    return orjson.loads(value if isinstance(value, str | bytes) else orjson.dumps(value))


# -- what is read -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MediaRow:
    key: str
    type: str
    url: str | None
    preview_url: str | None
    duration_ms: int | None
    width: int | None
    height: int | None
    alt_text: str | None
    variants: list[Any]


@dataclass(slots=True)
class StoredPost:
    """One ``posts`` row with its ``media`` and ``hashtags`` rows, backend-neutral."""

    uid: str
    platform: str
    id: str
    url: str | None
    author_id: str
    author_handle: str | None
    author_name: str | None
    created_at: datetime
    text: str
    lang: str
    lang_confidence: float
    lang_backend: str
    platform_lang: str | None
    repost_of: str | None
    quote_of: str | None
    reply_to: str | None
    amplification: int
    possibly_sensitive: bool
    cluster_id: str | None
    cluster_size: int | None
    media_count: int
    has_video: bool
    video_duration_ms: int
    media_reused: int
    time_flag: str | None  # why created_at was not believed, if it was not
    collector: str
    retrieved_at: datetime
    source: str
    processed_at: datetime
    raw: bytes  # the payload byte for byte as it arrived (its SHA-256 is ``sha256``)
    sha256: str | None  # None for rows stored before hashes were taken
    collection: str | None  # the run that collected it (collections.id)
    context: dict[str, Any] | None  # what ``raw`` is read with (an X page item's includes)
    edited_at: datetime | None
    deleted_at: datetime | None
    media: list[MediaRow] = field(default_factory=list)
    hashtags: list[str] = field(default_factory=list)  # normalized


@dataclass(frozen=True, slots=True)
class GapRow:
    id: str
    collector: str
    start: datetime
    end: datetime | None
    reason: str
    recovered: int
    source: str | None = None  # which stream
    collection: str | None = None  # which run


@dataclass(frozen=True, slots=True)
class PostFilter:
    """Which posts to export. ``until`` is exclusive; several langs or hashtags mean any of."""

    since: datetime | None = None
    until: datetime | None = None
    langs: tuple[str, ...] = ()
    hashtags: tuple[str, ...] = ()

    def normalized_hashtags(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(k for k in map(normalize_hashtag, self.hashtags) if k))

    def options(self) -> list[str]:
        """This filter as ``hashwatch export`` options, for the export's manifest."""
        out: list[str] = []
        for name, value in (("--since", self.since), ("--until", self.until)):
            if value is not None:
                out += [name, value.isoformat()]
        for lang in self.langs:
            out += ["--lang", lang]
        for tag in self.hashtags:
            out += ["--hashtag", tag]
        return out

    def select(self, store: Store) -> tuple[str, list[object]]:
        """The query that selects the exported posts, in the store's dialect, and its
        parameters: what the export ran (page by page), for the record."""
        conds, args = self.where(store)
        sql = "SELECT * FROM posts" + (f" WHERE {' AND '.join(conds)}" if conds else "")
        return placeholders(sql + " ORDER BY created_at, uid", store), args

    def where(self, store: Store) -> tuple[list[str], list[object]]:
        """SQL conditions (``?`` placeholders) and their parameters."""
        conds: list[str] = []
        args: list[object] = []
        if self.since is not None:
            conds.append("created_at >= ?")
            args.append(time_param(self.since, store))
        if self.until is not None:
            conds.append("created_at < ?")
            args.append(time_param(self.until, store))
        if self.langs:
            conds.append(f"lang IN ({', '.join('?' for _ in self.langs)})")
            args.extend(self.langs)
        tags = self.normalized_hashtags()
        if tags:
            marks = ", ".join("?" for _ in tags)
            conds.append(f"uid IN (SELECT uid FROM hashtags WHERE normalized IN ({marks}))")
            args.extend(tags)
        return conds, args


# -- queries ----------------------------------------------------------------------------------


async def count_posts(store: Store, where: PostFilter) -> int:
    conds, args = where.where(store)
    sql = "SELECT count(*) FROM posts" + (f" WHERE {' AND '.join(conds)}" if conds else "")
    rows = await store.query(placeholders(sql, store), *args)
    return int(rows[0][0])  # type: ignore[call-overload]


async def iter_pages(
    store: Store, where: PostFilter, page_size: int = PAGE_SIZE, *, children: bool = True
) -> AsyncIterator[list[StoredPost]]:
    """Pages of posts in (created_at, uid) order, each with its media and hashtags unless
    ``children`` is false (JSONL needs only the payloads)."""
    jsonb = is_postgres(store)
    conds, args = where.where(store)
    key = ("created_at", "uid")  # created_at and uid exactly as the store has them
    async for rows in iter_keyed(store, "posts", _READ_COLUMNS, key, conds, args, page_size):
        posts = [_post(row, jsonb) for row in rows]
        if children:
            await _attach_children(store, posts)
        yield posts


async def read_gaps(store: Store, where: PostFilter) -> list[GapRow]:
    """Collection gaps that overlap the export's time range (all of them without one)."""
    conds: list[str] = []
    args: list[object] = []
    if where.until is not None:
        conds.append("start < ?")
        args.append(time_param(where.until, store))
    if where.since is not None:
        conds.append('("end" IS NULL OR "end" > ?)')
        args.append(time_param(where.since, store))
    sql = (
        'SELECT id, collector, start, "end", reason, recovered, source, collection FROM gaps'
        + (f" WHERE {' AND '.join(conds)}" if conds else "")
        + " ORDER BY start, id"
    )
    rows = await store.query(placeholders(sql, store), *args)
    return [
        GapRow(
            id=str(r[0]),
            collector=str(r[1]),
            start=as_time(r[2]),  # type: ignore[arg-type]
            end=as_time(r[3]),
            reason=str(r[4]),
            recovered=int(r[5]),  # type: ignore[call-overload]
            source=_text(r[6]),
            collection=_text(r[7]),
        )
        for r in rows
    ]


async def _attach_children(store: Store, posts: Sequence[StoredPost]) -> None:
    by_uid = {p.uid: p for p in posts}
    marks = ", ".join("?" for _ in by_uid)
    uids = list(by_uid)
    media_sql = (
        f"SELECT {', '.join(_MEDIA_COLUMNS)} FROM media WHERE uid IN ({marks}) "
        "ORDER BY uid, media_key"
    )
    for r in await store.query(placeholders(media_sql, store), *uids):
        by_uid[str(r[0])].media.append(
            MediaRow(
                key=str(r[1]),
                type=str(r[2]),
                url=_text(r[3]),
                preview_url=_text(r[4]),
                duration_ms=_int(r[5]),
                width=_int(r[6]),
                height=_int(r[7]),
                alt_text=_text(r[8]),
                variants=_json(r[9]) or [],
            )
        )
    tags_sql = (
        f"SELECT uid, normalized FROM hashtags WHERE uid IN ({marks}) ORDER BY uid, normalized"
    )
    for r in await store.query(placeholders(tags_sql, store), *uids):
        by_uid[str(r[0])].hashtags.append(str(r[1]))


def _post(r: tuple[object, ...], jsonb: bool) -> StoredPost:
    def at(name: str) -> object:
        return r[_AT[name]]

    payload = exact_raw(at("raw"), at("raw_bytes"), jsonb=jsonb)
    return StoredPost(
        uid=str(at("uid")),
        platform=str(at("platform")),
        id=str(at("id")),
        url=_text(at("url")),
        author_id=str(at("author_id")),
        author_handle=_text(at("author_handle")),
        author_name=_text(at("author_name")),
        created_at=as_time(at("created_at")),  # type: ignore[arg-type]
        text=str(at("text")),
        lang=str(at("lang")),
        lang_confidence=float(at("lang_confidence")),  # type: ignore[arg-type]
        lang_backend=str(at("lang_backend")),
        platform_lang=_text(at("platform_lang")),
        repost_of=_text(at("repost_of")),
        quote_of=_text(at("quote_of")),
        reply_to=_text(at("reply_to")),
        amplification=int(at("amplification")),  # type: ignore[call-overload]
        possibly_sensitive=bool(at("possibly_sensitive")),
        cluster_id=_text(at("cluster_id")),
        cluster_size=_int(at("cluster_size")),
        media_count=int(at("media_count")),  # type: ignore[call-overload]
        has_video=bool(at("has_video")),
        video_duration_ms=int(at("video_duration_ms")),  # type: ignore[call-overload]
        media_reused=int(at("media_reused")),  # type: ignore[call-overload]
        time_flag=_text(at("time_flag")),
        collector=str(at("collector")),
        retrieved_at=as_time(at("retrieved_at")),  # type: ignore[arg-type]
        source=str(at("source")),
        processed_at=as_time(at("processed_at")),  # type: ignore[arg-type]
        raw=payload if payload is not None else str(at("raw")).encode(),  # jsonb: rows before 6
        sha256=_text(at("sha256")),
        collection=_text(at("collection")),
        context=_json(at("context")),
        edited_at=as_time(at("edited_at")),
        deleted_at=as_time(at("deleted_at")),
    )
