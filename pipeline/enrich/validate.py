"""Validation of the raw topic's records: a Post v1 / PostDeletion v1 downstream can rely on, or
``Invalid`` with the dead-letter reason.

Anything may be on the raw topic (any producer can write to it), so decoding is not enough:
a record nested deeper than the decoder recurses is ``too-deep``; every time is brought to UTC
(a time that has no UTC equivalent, such as 9999-12-31T23:59:59-23:59, is ``schema``); and a
record retrieved before its platform existed or later than this worker's clock allows is
``implausible-time`` — event time falls back on when a post was retrieved, so that time must
be one a collector could have stamped.
"""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec

from pipeline.core.hashtags import normalize_hashtag
from pipeline.core.records import InRecord
from schemas.codec import DecodeError, PostEvent, TooDeep, ValidationError, decode
from schemas.post import Hashtag, Post, PostDeletion

# The first day each platform carried posts: anything earlier is a wrong date, not history.
PLATFORM_START = {
    "x": datetime(2006, 3, 21, tzinfo=UTC),
    "mastodon": datetime(2016, 3, 16, tzinfo=UTC),
    "bluesky": datetime(2022, 11, 17, tzinfo=UTC),
}


class Invalid(ValueError):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


def validate(record: InRecord, latest: datetime) -> tuple[Post | PostDeletion, bool]:
    """Decode against Post v1 (or PostDeletion v1) and normalize what downstream relies on;
    whether normalizing changed anything (then the record is encoded anew). ``latest`` is the
    latest ``provenance.retrieved_at`` believable now (the clock plus the allowed skew)."""
    try:
        event = decode(record.value, PostEvent)
    except TooDeep as exc:
        raise Invalid("too-deep", str(exc)) from None
    except ValidationError as exc:
        raise Invalid("schema", str(exc)) from exc
    except DecodeError as exc:
        raise Invalid("invalid-json", str(exc)) from exc
    if record.key is not None and record.key.decode("utf-8", "replace") != event.uid:
        raise Invalid("key-mismatch", f"key {record.key!r} is not the post uid {event.uid!r}")
    provenance = event.provenance
    retrieved = _utc(provenance.retrieved_at, "provenance.retrieved_at")
    if not PLATFORM_START[event.platform] <= retrieved <= latest:
        raise Invalid(
            "implausible-time",
            f"provenance.retrieved_at {retrieved.isoformat()} is before {event.platform} "
            f"existed or later than this worker's clock allows ({latest.isoformat()})",
        )
    if retrieved is not provenance.retrieved_at:
        provenance = msgspec.structs.replace(provenance, retrieved_at=retrieved)
    if isinstance(event, PostDeletion):
        deleted = _utc(event.deleted_at, "deleted_at")
        if deleted is event.deleted_at and provenance is event.provenance:
            return event, False
        return msgspec.structs.replace(event, deleted_at=deleted, provenance=provenance), True
    post = event
    created = _utc(post.created_at, "created_at")
    edited = None if post.edited_at is None else _utc(post.edited_at, "edited_at")
    if (
        created is not post.created_at
        or edited is not post.edited_at
        or provenance is not post.provenance
    ):
        post = msgspec.structs.replace(
            post, created_at=created, edited_at=edited, provenance=provenance
        )
    if any(h.normalized != normalize_hashtag(h.tag) for h in post.hashtags):
        post = msgspec.structs.replace(
            post,
            hashtags=[
                Hashtag(tag=h.tag, normalized=normalize_hashtag(h.tag)) for h in post.hashtags
            ],
        )
    return post, post is not event


def _utc(value: datetime, what: str) -> datetime:
    """``value`` in UTC (the same object when it already is); ``Invalid`` when it has no time
    zone or no UTC equivalent."""
    offset = value.utcoffset()
    if offset is None:
        raise Invalid("schema", f"{what} has no time zone")
    if not offset and value.tzinfo is UTC:
        return value
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise Invalid("schema", f"{what} {value.isoformat()} is out of range in UTC") from None
