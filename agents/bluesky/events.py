"""Jetstream v1 events, and what each one is for hashwatch.

Jetstream sends one JSON object per message: ``{"did", "time_us", "kind", ...}``. ``kind`` is
``commit`` (a record created, updated or deleted: ``operation``, ``collection``, ``rkey``, and
except for a delete ``record`` and ``cid``), ``identity`` or ``account``. ``time_us`` is when
Jetstream saw the event (Unix microseconds) and is the stream's cursor.

A post (``app.bsky.feed.post``) created becomes a Post; updated, a new version of it (its
``cid`` the version, the event's time its ``edited_at``); deleted, a PostDeletion. A repost
(``app.bsky.feed.repost``) becomes a Post that reposts its subject (``retweet`` in Post v1).
Everything else (likes, follows, blocks, profiles, identity and account events, other apps'
records) holds no post: ``NotAPost`` with a stable code.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec

from agents.bluesky.aturi import POST, REPOST, AtUri
from agents.bluesky.record import to_post
from agents.bluesky.seen import Original
from agents.bluesky.times import created_at, from_time_us
from agents.payloads import MappingError, NotAPost
from schemas.post import Author, Post, PostDeletion, Provenance, Reference

Json = dict[str, Any]

# Codes for events that hold no post, by collection; other collections are "other-collection".
SKIPPED = {
    "app.bsky.feed.like": "like",
    "app.bsky.graph.follow": "follow",
    "app.bsky.graph.block": "block",
    "app.bsky.actor.profile": "profile",
}
OPERATIONS = ("create", "update", "delete")


def is_event(obj: object) -> bool:
    """Whether a parsed line looks like a Jetstream v1 event (malformed ones included)."""
    return isinstance(obj, dict) and "time_us" in obj and "kind" in obj and "did" in obj


@dataclass(frozen=True, slots=True)
class Event:
    time_us: int
    kind: str
    did: str
    operation: str | None = None  # commits: create | update | delete
    uri: AtUri | None = None  # commits: the record's
    record: Json | None = None
    cid: str | None = None

    @property
    def seen(self) -> datetime:
        when = from_time_us(self.time_us)
        assert when is not None  # checked by parse_event
        return when

    @property
    def is_post(self) -> bool:
        return self.uri is not None and self.uri.collection == POST

    @property
    def is_repost(self) -> bool:
        return self.uri is not None and self.uri.collection == REPOST


def parse_event(obj: object) -> Event:
    """The event, checked; ``MappingError`` when it is malformed, ``NotAPost`` for a kind or a
    collection that holds no post."""
    if not isinstance(obj, dict):
        raise MappingError("a Jetstream event is a JSON object")
    time_us, kind, did = obj.get("time_us"), obj.get("kind"), obj.get("did")
    if from_time_us(time_us) is None:
        raise MappingError(f"time_us is not a time in Unix microseconds: {time_us!r:.80}")
    assert isinstance(time_us, int)
    if not isinstance(kind, str) or not isinstance(did, str):
        raise MappingError("a Jetstream event has a string kind and did")
    if kind in ("identity", "account"):
        raise NotAPost(f"{kind}-event")
    if kind != "commit":
        raise NotAPost("other-event")
    commit = obj.get("commit")
    if not isinstance(commit, dict):
        raise MappingError("a commit event without its commit")
    operation = commit.get("operation")
    if operation not in OPERATIONS:
        raise MappingError(f"unknown commit operation {operation!r:.80}")
    collection = commit.get("collection")
    if collection not in (POST, REPOST):
        raise NotAPost(SKIPPED.get(str(collection), "other-collection"))
    uri = AtUri.of(did, collection, commit.get("rkey"))
    record = commit.get("record")
    if operation != "delete" and not isinstance(record, dict):
        raise MappingError(f"{uri}: a {operation} without its record")
    cid = commit.get("cid")
    return Event(
        time_us=time_us,
        kind=kind,
        did=did,
        operation=operation,
        uri=uri,
        record=record if isinstance(record, dict) else None,
        cid=cid if isinstance(cid, str) else None,
    )


def post_of(event: Event, raw: bytes, provenance: Provenance) -> Post:
    """A post created (the post) or updated (its new version, edited at the event's time)."""
    assert event.uri is not None
    return to_post(
        event.uri,
        event.record,
        cid=event.cid,
        author=Author(id=event.did),
        seen=event.seen,
        raw=raw,
        provenance=provenance,
        edited_at=event.seen if event.operation == "update" else None,
    )


def deletion_of(event: Event, raw: bytes, provenance: Provenance) -> PostDeletion:
    assert event.uri is not None
    return PostDeletion(
        uid=event.uri.uid,
        platform="bluesky",
        id=str(event.uri),
        deleted_at=event.seen,
        provenance=provenance.of(raw),
        raw=msgspec.Raw(raw),
    )


def subject_of(event: Event) -> AtUri:
    """The post a repost reposts."""
    assert event.uri is not None
    return _subject(event.uri, event.record or {})


def _subject(uri: AtUri, record: Json) -> AtUri:
    subject = record.get("subject")
    target = AtUri.parse(subject.get("uri") if isinstance(subject, dict) else None)
    if target.collection != POST:
        raise MappingError(f"{uri}: reposts {target}, which is not a post")
    return target


def repost_of(
    event: Event, raw: bytes, provenance: Provenance, original: Original | None = None
) -> Post:
    """A repost of its subject: its own author, time and bytes, its original's content when
    the original is at hand (Post v1 gives a repost its original's text, hashtags and media)."""
    assert event.uri is not None
    return to_repost(
        event.uri, event.record or {}, cid=event.cid, seen=event.seen, raw=raw,
        provenance=provenance, original=original,
    )  # fmt: skip


def to_repost(
    uri: AtUri,
    record: object,
    *,
    cid: object,
    seen: datetime | None,
    raw: bytes,
    provenance: Provenance,
    original: Original | None = None,
) -> Post:
    """An ``app.bsky.feed.repost`` record (a Jetstream event's, or ``{uri, cid, value}`` as
    ``getRecord`` / ``listRecords`` give it) as a repost; ``seen`` as for a post."""
    if not isinstance(record, dict):
        raise MappingError(f"{uri}: the record is not an object")
    subject = _subject(uri, record)
    created = created_at(record.get("createdAt"), seen) or seen
    if created is None:
        written = record.get("createdAt")
        raise MappingError(f"{uri}: createdAt missing or unreadable: {written!r:.80}")
    return Post(
        uid=uri.uid,
        platform="bluesky",
        id=str(uri),
        url=None,  # a repost has no page of its own
        author=Author(id=uri.did),
        created_at=created,
        text=original.text if original else "",
        hashtags=original.hashtags if original else [],
        media=original.media if original else [],
        references=[Reference(type="retweet", uid=subject.uid)],
        platform_lang=original.platform_lang if original else None,
        possibly_sensitive=original.possibly_sensitive if original else False,
        version=cid if isinstance(cid, str) else None,
        provenance=provenance.of(raw),
        raw=msgspec.Raw(raw),
    )
