"""Mastodon Status entities (REST timelines, streaming events) to Post v1.

Identity: a status's ``id`` is local to the server that serves it; its ``uri`` (the
ActivityPub id) is the same on every server. So a post's uid is ``mastodon:<uri>`` and its
``id`` is the uri too: the same post federated to two instances is one post. Authors are
named by their account ``uri`` (else ``url``), handles as ``name@domain`` everywhere.

A reblog yields two posts, its original first, then the reblog as a ``retweet`` reference to
it, carrying the original's text and media (as X's retweets do); each post's ``raw`` is the
exact bytes of its own Status object. Replies and quotes are references: a quote names its
status in full (its uri), a reply only by the local ``in_reply_to_id``, resolved through the
statuses seen on that instance (``LocalIds``). Every post has a ``version``, the time of its
last edit, else of its creation, so the enrich stage keeps an edit as a new version and drops
the same version collected twice.
"""

from __future__ import annotations

import math
import mimetypes
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import msgspec
import orjson

from agents.mastodon.content import Content, html_to_text
from agents.payloads import MappingError, NotAPost, parse_time
from pipeline.core.hashtags import normalize_hashtag
from schemas.post import (
    Author,
    Hashtag,
    Media,
    MediaType,
    MediaVariant,
    Post,
    PostDeletion,
    Provenance,
    Reference,
)

Json = dict[str, Any]
UidOf = Callable[[str], str | None]  # a local status id to a post uid, when it can be known

MEDIA_TYPES: dict[str, MediaType] = {
    "image": "photo",
    "gifv": "animated_gif",
    "video": "video",
    "audio": "audio",
}
LOCAL_ID = re.compile(r"[0-9A-Za-z_-]{1,64}")  # a status id on one server
_JSON_SPACE = b" \t\r\n"
_BIGGEST = 2**31  # sizes, bit rates: anything larger is not a real value
_LONGEST_MS = 2**53  # durations in milliseconds


class _Nested(msgspec.Struct):
    """The bytes of a status's nested statuses, exactly as they appear in its own bytes."""

    reblog: msgspec.Raw = msgspec.Raw(b"null")


@dataclass(slots=True)
class Statuses:
    """What one Status payload holds: its posts, and the local ids it names, id -> uri."""

    posts: list[Post] = field(default_factory=list)
    local_ids: dict[str, str] = field(default_factory=dict)
    local_id: str | None = None  # the status's own id on the server that sent it


def is_status(obj: Any) -> bool:
    """A Status has a uri, an account and content (a reblog's may be empty); accounts,
    notifications and error objects lack one of them."""
    return (
        isinstance(obj, dict)
        and "uri" in obj
        and "account" in obj
        and ("content" in obj or "reblog" in obj)
    )


def local_uid(instance: str, local_id: str) -> str:
    """The uid of a status known only by its id on ``instance`` (its uri unknown): the
    address of that status in the instance's API."""
    return f"mastodon:{instance.rstrip('/')}/api/v1/statuses/{local_id}"


def load_status(raw: bytes) -> Json:
    """A Status from its bytes; ``NotAPost`` for JSON that is something else."""
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise MappingError(f"not JSON: {exc}") from None
    if not is_status(obj):
        raise NotAPost("not-a-status")
    status: Json = obj
    return status


def statuses(raw: bytes, provenance: Provenance, uid_of: UidOf | None = None) -> Statuses:
    """The posts of one Status (its original first if it is a reblog); ``raw`` is the exact
    bytes of the Status. Raises ``MappingError`` for a Status that cannot be a post."""
    raw = raw.strip(_JSON_SPACE)  # not part of the value, and lost once the record is read
    status = load_status(raw)
    found = Statuses(local_id=_local_id(status.get("id")))
    original = status.get("reblog")
    if isinstance(original, dict):
        try:
            nested = msgspec.json.decode(raw, type=_Nested).reblog
        except msgspec.DecodeError as exc:
            raise MappingError(f"reblog is not a Status: {exc}") from None
        first = _post(original, bytes(nested), provenance, uid_of, found)
        found.posts.append(first)
        found.posts.append(_post(status, raw, provenance, uid_of, found, reblog_of=first))
    else:
        found.posts.append(_post(status, raw, provenance, uid_of, found))
    return found


def deletion(uid: str, event: bytes, provenance: Provenance, deleted_at: datetime) -> PostDeletion:
    """A ``delete`` event: ``event`` is its JSON form (the streaming API's WebSocket message),
    kept as the record's raw bytes."""
    return PostDeletion(
        uid=uid,
        platform="mastodon",
        id=uid.removeprefix("mastodon:"),
        deleted_at=deleted_at,
        provenance=provenance.of(event),
        raw=msgspec.Raw(event),
    )


# --- one status --------------------------------------------------------------------------


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _local_id(value: Any) -> str | None:
    """A status id as servers send them (Mastodon: digits; others: letters and digits)."""
    return value if isinstance(value, str) and LOCAL_ID.fullmatch(value) else None


def _identifier(value: Any, what: str) -> str:
    """A uri or id usable in a uid: a non-empty string without whitespace."""
    if not isinstance(value, str) or not value or any(c.isspace() for c in value):
        raise MappingError(f"{what} missing or not usable as an identifier: {value!r}"[:200])
    return value


def _post(
    status: Json,
    raw: bytes,
    provenance: Provenance,
    uid_of: UidOf | None,
    found: Statuses,
    reblog_of: Post | None = None,
) -> Post:
    uri = _identifier(status.get("uri"), "uri")
    if (local := _local_id(status.get("id"))) is not None:
        found.local_ids[local] = uri
    created_at = parse_time(status.get("created_at"))
    edited = status.get("edited_at")
    edited_at = None if edited is None else parse_time(edited, "edited_at")
    shown: dict[str, Any]
    if reblog_of is not None:  # a reblog shows its original
        shown = {name: getattr(reblog_of, name) for name in _SHOWN}
        references = [Reference(type="retweet", uid=reblog_of.uid)]
    else:
        shown = _shown(status)
        references = _references(status, uid_of, found)
    return Post(
        uid=f"mastodon:{uri}",
        platform="mastodon",
        id=uri,
        url=_str(status.get("url")) or uri,
        author=_author(status.get("account")),
        created_at=created_at,
        references=references,
        edited_at=edited_at,
        version=(edited_at or created_at).isoformat(),
        provenance=provenance.of(raw),
        raw=msgspec.Raw(raw),
        **shown,
    )


# What a reader is shown: a reblog's are its original's.
_SHOWN = (
    "text",
    "hashtags",
    "mentions",
    "urls",
    "media",
    "platform_lang",
    "possibly_sensitive",
    "content_warning",
)


def _shown(status: Json) -> dict[str, Any]:
    content = status.get("content")
    if isinstance(content, str):
        html = html_to_text(content)
    else:  # a deleted status (DELETE's answer, for redrafting) has its plain source ``text``
        source = status.get("text")
        html = Content(source.strip() if isinstance(source, str) else "")
    return {
        "text": html.text,
        "hashtags": _hashtags(status.get("tags")),
        "mentions": _mentions(status.get("mentions")),
        "urls": html.links,
        "media": _media(status.get("media_attachments")),
        "platform_lang": _str(status.get("language")),
        "possibly_sensitive": status.get("sensitive") is True,
        "content_warning": _str(status.get("spoiler_text")),
    }


def _references(status: Json, uid_of: UidOf | None, found: Statuses) -> list[Reference]:
    references = []
    reply = _local_id(status.get("in_reply_to_id"))
    if reply is not None and uid_of is not None and (target := uid_of(reply)):
        references.append(Reference(type="reply", uid=target))
    if (quoted := _quoted(status.get("quote"), uid_of, found)) is not None:
        references.append(Reference(type="quote", uid=quoted))
    return references


def _full_acct(acct: Any, url: Any) -> str | None:
    """``name@domain``: local accounts' ``acct`` lacks the domain, which their url has."""
    name = _str(acct)
    if name is None or "@" in name:
        return name
    try:
        host = urlsplit(url).hostname if isinstance(url, str) else None
    except ValueError:
        host = None
    return f"{name}@{host}" if host else name


def _author(account: Any) -> Author:
    if not isinstance(account, dict):
        raise MappingError("status has no account")
    ident = _str(account.get("uri")) or _str(account.get("url"))
    if ident is None:
        raise MappingError("account has neither uri nor url")
    return Author(
        id=ident,
        handle=_full_acct(account.get("acct"), account.get("url") or ident),
        name=_str(account.get("display_name")),
    )


def _quoted(quote: Any, uid_of: UidOf | None, found: Statuses) -> str | None:
    """A quote (Mastodon 4.5: ``{state, quoted_status}`` or ``{state, quoted_status_id}``;
    some forks put the quoted Status itself in ``quote``)."""
    if not isinstance(quote, dict):
        return None
    target = quote.get("quoted_status") if "state" in quote else quote
    if isinstance(target, dict) and (uri := _str(target.get("uri"))):
        if any(c.isspace() for c in uri):
            return None
        if (local := _local_id(target.get("id"))) is not None:
            found.local_ids[local] = uri
        return f"mastodon:{uri}"
    local = _local_id(quote.get("quoted_status_id"))
    return uid_of(local) if local is not None and uid_of is not None else None


def _hashtags(tags: Any) -> list[Hashtag]:
    out: dict[str, Hashtag] = {}
    for tag in tags if isinstance(tags, list) else ():
        name = _str(tag.get("name")) if isinstance(tag, dict) else None
        if name is None:
            continue
        normalized = normalize_hashtag(name)
        if normalized and normalized not in out:
            out[normalized] = Hashtag(tag=name.lstrip("#"), normalized=normalized)
    return list(out.values())


def _mentions(mentions: Any) -> list[str]:
    found = (
        _full_acct(m.get("acct"), m.get("url"))
        for m in (mentions if isinstance(mentions, list) else ())
        if isinstance(m, dict)
    )
    return list(dict.fromkeys(m for m in found if m))


def _count(value: Any, limit: int = _BIGGEST) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if not math.isfinite(value) or not 0 <= value < limit:
        return None
    return int(value)


def _meta(meta: Any, key: str) -> Any:
    """A size or duration from ``meta.original``, else from ``meta`` itself (older servers)."""
    if not isinstance(meta, dict):
        return None
    original = meta.get("original")
    if isinstance(original, dict) and original.get(key) is not None:
        return original.get(key)
    return meta.get(key)


def _media(items: Any) -> list[Media]:
    out: dict[str, Media] = {}
    for index, item in enumerate(items if isinstance(items, list) else ()):
        if not isinstance(item, dict):
            continue
        ident = item.get("id")
        key = str(ident) if isinstance(ident, str | int) and str(ident).strip() else str(index)
        kind = MEDIA_TYPES.get(str(item.get("type")), "unknown")
        url = _str(item.get("remote_url")) or _str(item.get("url"))
        meta = item.get("meta")
        seconds = _meta(meta, "duration")
        duration = None if _count(seconds) is None else _count(round(seconds * 1000), _LONGEST_MS)
        variants = []
        if url is not None and kind in ("video", "animated_gif", "audio"):
            variants.append(
                MediaVariant(
                    url=url,
                    content_type=_content_type(url),
                    bit_rate=_count(_meta(meta, "bitrate")),
                )
            )
        out.setdefault(
            key,
            Media(
                key=key,
                type=kind,
                url=url,
                preview_url=_str(item.get("preview_remote_url")) or _str(item.get("preview_url")),
                duration_ms=duration,
                width=_count(_meta(meta, "width")),
                height=_count(_meta(meta, "height")),
                alt_text=_str(item.get("description")),
                variants=variants,
            ),
        )
    return list(out.values())


def _content_type(url: str) -> str | None:
    """What the file's extension says (``.mp4``: video/mp4); Mastodon sends no MIME type."""
    try:
        path = urlsplit(url).path
    except ValueError:
        return None
    return mimetypes.guess_type(path)[0] if path else None
