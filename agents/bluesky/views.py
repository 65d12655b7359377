"""Bluesky API responses and record captures to Post v1: what archives hold, what search returns.

- A post view (``app.bsky.feed.defs#postView``: ``uri``, ``cid``, ``author``, ``record``,
  ``embed``, ``indexedAt``), as ``searchPosts`` and ``getPosts`` return them in ``posts``,
  ``getPostThread`` in its ``thread`` (the post, its parents, its replies), feeds in
  ``feed[].post``. A view names the author's handle and display name and its media addresses.
  A feed item shown because it was reposted is also that repost, its original at hand.
- A record ``{uri, cid, value}``, as ``getRecord`` returns it (``listRecords``: ``records``).

Each post's ``raw`` is the exact bytes of its element in the response (sliced with msgspec's
``Raw``, never re-encoded), so its SHA-256 is that of what the server sent for it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import msgspec
import orjson

from agents.bluesky.aturi import POST, REPOST, AtUri
from agents.bluesky.events import SKIPPED, to_repost
from agents.bluesky.record import to_post
from agents.bluesky.seen import Original
from agents.bluesky.times import parse_datetime
from agents.payloads import MappingError, NotAPost
from schemas.post import Author, Post, Provenance

Json = dict[str, Any]
Result = Post | MappingError
REASON_REPOST = "app.bsky.feed.defs#reasonRepost"


def _is_at_uri(value: object) -> bool:
    return isinstance(value, str) and value.startswith("at://")


def is_post_view(obj: object) -> bool:
    return isinstance(obj, dict) and _is_at_uri(obj.get("uri")) and "record" in obj


def is_record(obj: object) -> bool:
    return isinstance(obj, dict) and _is_at_uri(obj.get("uri")) and "value" in obj


def is_response(obj: object) -> bool:
    """A response holding posts or records, or an XRPC error (``{"error", "message"}``)."""
    if not isinstance(obj, dict):
        return False
    if any(key in obj for key in ("posts", "thread", "records")):
        return True
    if isinstance(obj.get("feed"), list):
        return True
    return isinstance(obj.get("error"), str) and set(obj) <= {"error", "message"}


def sort_at(view: Json) -> datetime | None:
    """The time searchPosts sorts and filters a view by: the earlier of createdAt and
    indexedAt (Bluesky's "sortAt"); None when neither is readable."""
    record = view.get("record")
    written = parse_datetime(record.get("createdAt")) if isinstance(record, dict) else None
    indexed = parse_datetime(view.get("indexedAt"))
    known = [t for t in (written, indexed) if t is not None]
    return min(known) if known else None


def from_view(view: object, raw: bytes, provenance: Provenance) -> Post:
    if not isinstance(view, dict):
        raise MappingError("a post view is an object")
    uri = AtUri.parse(view.get("uri"))
    return to_post(
        uri,
        view.get("record"),
        cid=view.get("cid"),
        author=_author(uri.did, view.get("author")),
        seen=parse_datetime(view.get("indexedAt")),
        raw=raw,
        provenance=provenance,
        embed_view=view.get("embed"),
    )


def from_record(obj: object, raw: bytes, provenance: Provenance) -> Post:
    """``{uri, cid, value}``: a post or repost record as its repository holds it (no handle,
    no view); ``NotAPost`` for a record of another collection (a like, a follow, a feed)."""
    if not isinstance(obj, dict):
        raise MappingError("a record is an object")
    uri = AtUri.parse(obj.get("uri"))
    if uri.collection == REPOST:
        value, cid = obj.get("value"), obj.get("cid")
        return to_repost(uri, value, cid=cid, seen=None, raw=raw, provenance=provenance)
    if uri.collection != POST:
        raise NotAPost(SKIPPED.get(uri.collection, "other-collection"))
    return to_post(
        uri,
        obj.get("value"),
        cid=obj.get("cid"),
        author=Author(id=uri.did),
        seen=None,
        raw=raw,
        provenance=provenance,
    )


def from_feed_repost(item: object, raw: bytes, provenance: Provenance) -> Post | None:
    """A feed item shown because it was reposted (``reason``: ``#reasonRepost``, naming who
    and when, and since 2025 the repost record's ``uri`` and ``cid``) is that repost too, with
    its original at hand; ``raw`` is the item's bytes. None when the reason names no repost
    record (older appviews): without its uri the repost has no identity."""
    if not isinstance(item, dict) or not isinstance(item.get("reason"), dict):
        return None
    reason: Json = item["reason"]
    if reason.get("$type") != REASON_REPOST or "uri" not in reason:
        return None
    uri = AtUri.parse(reason.get("uri"))
    if uri.collection != REPOST:
        raise MappingError(f"a feed's repost reason names {uri}, which is not a repost")
    original = from_view(item.get("post"), raw, provenance)
    record = {"subject": {"uri": original.id}, "createdAt": reason.get("indexedAt")}
    repost = to_repost(
        uri, record, cid=reason.get("cid"), seen=None, raw=raw, provenance=provenance,
        original=Original.of(original),
    )  # fmt: skip
    by = reason.get("by")
    return msgspec.structs.replace(repost, author=_author(uri.did, by))


def _author(did: str, profile: object) -> Author:
    """An author from a profile view: its handle unless the appview could not verify it."""
    if not isinstance(profile, dict):
        profile = {}
    handle, name = profile.get("handle"), profile.get("displayName")
    return Author(
        id=did,
        handle=handle if isinstance(handle, str) and handle != "handle.invalid" else None,
        name=name if isinstance(name, str) and name else None,
    )


class _Posts(msgspec.Struct):
    posts: list[msgspec.Raw] = []
    records: list[msgspec.Raw] = []
    feed: list[msgspec.Raw] = []
    thread: msgspec.Raw = msgspec.Raw()  # empty when absent


class _FeedItem(msgspec.Struct):
    post: msgspec.Raw = msgspec.Raw()
    reason: msgspec.Raw = msgspec.Raw()


class _ThreadNode(msgspec.Struct):
    post: msgspec.Raw = msgspec.Raw()
    parent: msgspec.Raw = msgspec.Raw()
    replies: list[msgspec.Raw] = []


class _ThreadItem(msgspec.Struct):
    value: msgspec.Raw = msgspec.Raw()


def _thread_posts(node: msgspec.Raw) -> Iterator[msgspec.Raw]:
    """Every post of a thread: the post, its parents up the chain, its replies down the tree.
    Blocked and not-found nodes have no post and are passed over. ``getPostThreadV2`` (what
    the Bluesky app asks since 2025) sends the thread flat instead: a list of items, each
    with its post in ``value``."""
    if bytes(node).lstrip()[:1] == b"[":
        for item in msgspec.json.decode(node, type=list[_ThreadItem]):
            if item.value and (post := msgspec.json.decode(item.value, type=_ThreadNode).post):
                yield post
        return
    stack = [node]
    while stack:
        current = msgspec.json.decode(stack.pop(), type=_ThreadNode)
        if current.post:
            yield current.post
        if current.parent:
            stack.append(current.parent)
        stack.extend(reversed(current.replies))


def _elements(line: bytes) -> Iterator[tuple[str, msgspec.Raw]]:
    found = msgspec.json.decode(line, type=_Posts)
    for raw in found.posts:
        yield "view", raw
    for raw in found.records:
        yield "record", raw
    for item in found.feed:
        shown = msgspec.json.decode(item, type=_FeedItem)
        if shown.post:
            yield "view", shown.post
            if shown.reason and b"reasonRepost" in bytes(shown.reason):
                yield "reposted", item
    if found.thread:
        for raw in _thread_posts(found.thread):
            yield "view", raw


def posts_in_response(obj: object, line: bytes, provenance: Provenance) -> Iterator[Result]:
    """Every post a response holds; a bad one yields its error and the rest go on."""
    if not isinstance(obj, dict):
        raise NotAPost("not-an-object")
    if "error" in obj and not any(k in obj for k in ("posts", "thread", "records", "feed")):
        raise NotAPost("api-error")
    try:
        elements = [(kind, bytes(raw)) for kind, raw in _elements(line)]
    except (msgspec.DecodeError, RecursionError) as exc:
        yield MappingError(f"not a Bluesky response: {exc}")
        return
    elements = [(kind, data) for kind, data in elements if kind != "record" or _is_post(data)]
    if not elements:
        raise NotAPost("no-posts")
    for kind, data in elements:
        try:
            element = orjson.loads(data)
            if kind == "record":
                yield from_record(element, data, provenance)
            elif kind == "reposted":
                if (repost := from_feed_repost(element, data, provenance)) is not None:
                    yield repost
            else:
                yield from_view(element, data, provenance)
        except MappingError as exc:
            yield exc


def _is_post(record: bytes) -> bool:
    """Whether a listed record is a post or a repost (``listRecords`` lists likes, follows...
    too)."""
    try:
        uri = orjson.loads(record).get("uri")
        return AtUri.parse(uri).collection in (POST, REPOST)
    except (orjson.JSONDecodeError, AttributeError, MappingError):
        return True  # not a record at all: mapping it says what is wrong
