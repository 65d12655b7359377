"""The columns of the CSV and Parquet exports: twarc-csv's, then hashwatch's own.

One column list with one type per column serves both formats, so a CSV and a Parquet file of
the same export hold the same table: CSV writes the values as text (lists as JSON), Parquet
keeps the types (timestamps, integers, booleans, lists of strings).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson

from pipeline.exports.reader import StoredPost
from pipeline.exports.twarc import TWEET_COLUMNS, csv_fields, flatten, page_of

# Kinds: str, int, float, bool, time (aware UTC datetime), strs (list of str), json (JSON text).
HASHWATCH_COLUMNS: tuple[tuple[str, str], ...] = (
    ("hashwatch.uid", "str"),
    ("hashwatch.platform", "str"),
    ("hashwatch.url", "str"),
    ("hashwatch.text", "str"),  # full text (long posts too); a repost's is its original's
    ("hashwatch.lang", "str"),  # detected, "inherited" backend for reposts, "und" if unsure
    ("hashwatch.lang_confidence", "float"),
    ("hashwatch.lang_backend", "str"),
    ("hashwatch.repost_of", "str"),
    ("hashwatch.quote_of", "str"),
    ("hashwatch.reply_to", "str"),
    ("hashwatch.amplification", "int"),
    ("hashwatch.cluster_id", "str"),
    ("hashwatch.cluster_size", "int"),
    ("hashwatch.hashtags", "strs"),  # normalized: the keys --hashtag matches
    ("hashwatch.media_count", "int"),
    ("hashwatch.media_types", "strs"),
    ("hashwatch.has_video", "bool"),
    ("hashwatch.video_duration_ms", "int"),
    ("hashwatch.media_reused", "int"),
    ("hashwatch.time_flag", "str"),  # why created_at was not believed ("future", ...)
    ("hashwatch.collector", "str"),
    ("hashwatch.retrieved_at", "time"),
    ("hashwatch.source", "str"),
    ("hashwatch.processed_at", "time"),
    ("hashwatch.sha256", "str"),  # of the payload as received (JSONL export: the payload)
    ("hashwatch.collection", "str"),  # the run that collected it: the manifest's collections
    ("hashwatch.edited_at", "time"),  # the latest edit seen; versions in NAME.versions.<fmt>
    ("hashwatch.deleted_at", "time"),  # deletions in NAME.deletions.<fmt>
)
COLUMNS: tuple[tuple[str, str], ...] = TWEET_COLUMNS + HASHWATCH_COLUMNS
NAMES: tuple[str, ...] = tuple(name for name, _ in COLUMNS)


def row(post: StoredPost) -> list[Any]:
    """One post as values in ``COLUMNS`` order, each of its column's kind or None."""
    values = _store_fields(post)
    tweet = _tweet(post)
    if tweet is not None:
        for key, value in csv_fields(tweet).items():
            if value is not None:
                values[key] = value
    values.update(_hashwatch_fields(post))
    return [
        None if (value := values.get(name)) is None else conv(value) for name, conv in _CONVERTERS
    ]


def _tweet(post: StoredPost) -> dict[str, Any] | None:
    if post.platform != "x":
        return None
    try:
        return flatten(orjson.loads(page_of(post.raw, post.context)))
    except orjson.JSONDecodeError:
        return None


def _local(uid: str | None) -> str | None:
    return uid.split(":", 1)[1] if uid and ":" in uid else uid


def _store_fields(p: StoredPost) -> dict[str, Any]:
    """The twarc columns the store can answer itself: any platform, or a payload lacking them."""
    return {
        "id": p.id,
        "author_id": p.author_id,
        "author.id": p.author_id,
        "author.username": p.author_handle,
        "author.name": p.author_name,
        "created_at": p.created_at,
        "text": p.text,
        "lang": p.platform_lang,
        "possibly_sensitive": p.possibly_sensitive,
        "referenced_tweets.retweeted.id": _local(p.repost_of),
        "referenced_tweets.quoted.id": _local(p.quote_of),
        "referenced_tweets.replied_to.id": _local(p.reply_to),
        "attachments.media_keys": [m.key for m in p.media] or None,
    }


def _hashwatch_fields(p: StoredPost) -> dict[str, Any]:
    return {
        "hashwatch.uid": p.uid,
        "hashwatch.platform": p.platform,
        "hashwatch.url": p.url,
        "hashwatch.text": p.text,
        "hashwatch.lang": p.lang,
        "hashwatch.lang_confidence": p.lang_confidence,
        "hashwatch.lang_backend": p.lang_backend,
        "hashwatch.repost_of": p.repost_of,
        "hashwatch.quote_of": p.quote_of,
        "hashwatch.reply_to": p.reply_to,
        "hashwatch.amplification": p.amplification,
        "hashwatch.cluster_id": p.cluster_id,
        "hashwatch.cluster_size": p.cluster_size,
        "hashwatch.hashtags": p.hashtags,
        "hashwatch.media_count": p.media_count,
        "hashwatch.media_types": [m.type for m in p.media],
        "hashwatch.has_video": p.has_video,
        "hashwatch.video_duration_ms": p.video_duration_ms,
        "hashwatch.media_reused": p.media_reused,
        "hashwatch.time_flag": p.time_flag,
        "hashwatch.collector": p.collector,
        "hashwatch.retrieved_at": p.retrieved_at,
        "hashwatch.source": p.source,
        "hashwatch.processed_at": p.processed_at,
        "hashwatch.sha256": p.sha256,
        "hashwatch.collection": p.collection,
        "hashwatch.edited_at": p.edited_at,
        "hashwatch.deleted_at": p.deleted_at,
    }


def convert(value: Any, kind: str) -> Any:
    """A payload value as its column's kind; None when it cannot be one (the JSONL keeps all)."""
    return None if value is None else _CONVERT[kind](value)


def _str(value: Any) -> str:
    if isinstance(value, str):
        return value
    return _json(value) if isinstance(value, dict | list) else str(value)


def _strs(value: Any) -> list[str] | None:
    if not isinstance(value, list):
        return None
    return [v if isinstance(v, str) else _json(v) for v in value if v is not None]


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def _bool(value: Any) -> bool | None:
    return bool(value) if isinstance(value, int) else None  # bool is an int


def _json(value: Any) -> str:
    """Keys sorted: PostgreSQL's jsonb does not keep their order, so exports of the same posts
    from SQLite and PostgreSQL are only byte-identical this way."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    return None


def _time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


_CONVERT: dict[str, Callable[[Any], Any]] = {
    "str": _str,
    "json": _json,
    "strs": _strs,
    "int": _int,
    "float": _float,
    "bool": _bool,
    "time": _time,
}
_CONVERTERS = [(name, _CONVERT[kind]) for name, kind in COLUMNS]
