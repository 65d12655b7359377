"""Post v1: one post from any platform, in one canonical shape."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from schemas.numbers import Measure

Platform = Literal["x", "mastodon", "bluesky"]
MediaType = Literal["photo", "video", "animated_gif", "audio", "unknown"]
ReferenceType = Literal["retweet", "quote", "reply"]
Uid = Annotated[str, msgspec.Meta(pattern=r"^(x|mastodon|bluesky):[^\s]+$")]


class Author(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    handle: str | None = None
    name: str | None = None


class Hashtag(msgspec.Struct, frozen=True, kw_only=True):
    tag: str  # as written, without '#'
    normalized: str  # the key that treats a campaign's spellings as one tag


class MediaVariant(msgspec.Struct, frozen=True, kw_only=True):
    url: str
    content_type: str | None = None
    bit_rate: Measure | None = None


class Media(msgspec.Struct, frozen=True, kw_only=True):
    key: str
    type: MediaType
    url: str | None = None
    preview_url: str | None = None
    duration_ms: Measure | None = None
    width: Measure | None = None
    height: Measure | None = None
    alt_text: str | None = None
    variants: list[MediaVariant] = []


class Reference(msgspec.Struct, frozen=True, kw_only=True):
    type: ReferenceType
    uid: Uid


class MatchingRule(msgspec.Struct, frozen=True, kw_only=True):
    id: str | None = None
    tag: str | None = None


class Provenance(msgspec.Struct, frozen=True, kw_only=True):
    collector: str  # e.g. "replay", "synth", "x-stream", "mastodon", "bluesky"
    version: str  # hashwatch version that collected it
    retrieved_at: datetime
    source: str  # file path, API endpoint or generator seed
    sha256: str | None = None  # hex SHA-256 of ``raw``: the exact bytes received
    collection: str | None = None  # the collection run (hashwatch.collections) that got it

    def of(self, raw: bytes) -> Provenance:
        """This provenance for the payload ``raw``: stamped with the SHA-256 of its bytes."""
        return msgspec.structs.replace(self, sha256=hashlib.sha256(raw).hexdigest())


class Post(msgspec.Struct, frozen=True, kw_only=True, tag="post/1", tag_field="schema"):
    """Post v1. For a retweet, ``text``/``media`` are the original's (never the truncated RT)."""

    uid: Uid  # "<platform>:<id>", the Kafka key
    platform: Platform
    id: str
    url: str | None = None
    author: Author
    created_at: datetime  # UTC
    text: str
    hashtags: list[Hashtag] = []
    mentions: list[str] = []
    urls: list[str] = []
    media: list[Media] = []
    references: list[Reference] = []
    platform_lang: str | None = None  # the platform's own label, kept for comparison
    possibly_sensitive: bool = False
    rules: list[MatchingRule] = []
    content_warning: str | None = None  # shown before the text (Mastodon's spoiler_text)
    edited_at: datetime | None = None  # set on a version the platform says was edited
    version: str | None = None  # the platform's id of this version (a record cid, an edit time)
    context: dict[str, Any] | None = None  # what the payload is read with (X page expansions)
    provenance: Provenance
    raw: msgspec.Raw  # the platform payload, byte for byte as received

    def version_key(self) -> str:
        """This version's identity: the platform's, else a hash of what an edit can change, so
        the same post collected twice is one version and an edited one is a new one."""
        if self.version:
            return self.version
        digest = hashlib.sha256(self.text.encode("utf-8", "surrogatepass"))
        for part in (self.content_warning or "", *(m.url or m.key for m in self.media)):
            digest.update(b"\0" + part.encode("utf-8", "surrogatepass"))
        return digest.hexdigest()[:16]

    def reference(self, kind: ReferenceType) -> str | None:
        """The uid this post points to by ``kind``, if any."""
        for ref in self.references:
            if ref.type == kind:
                return ref.uid
        return None


class PostDeletion(msgspec.Struct, frozen=True, kw_only=True, tag="deletion/1", tag_field="schema"):
    """PostDeletion v1: the platform says a post was deleted. The post's row is kept as
    evidence and marked; this record travels on the post topics, keyed by the post's uid."""

    uid: Uid
    platform: Platform
    id: str
    deleted_at: datetime  # when the platform says, else when the deletion was seen
    provenance: Provenance
    raw: msgspec.Raw  # the delete event as received


PostEvent = Post | PostDeletion  # what the raw topic carries
