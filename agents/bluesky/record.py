"""An ``app.bsky.feed.post`` record to Post v1.

Hashtags come from two places: ``#tag`` facets (tags shown in the text) and the record's
``tags`` array (up to 8 tags the author attached without showing them); both are the post's
hashtags, normalized like every platform's. Facets index the text by UTF-8 *byte* offsets, so
the text is sliced as bytes: a mention written ``@handle`` gives the handle (the mentioned DID
when the slice is unusable), a link gives its full URI (the text may show it shortened). A
facet that is malformed is skipped; the post is kept, byte for byte, in ``raw``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import msgspec

from agents.bluesky.aturi import POST, AtUri
from agents.bluesky.embeds import embedded
from agents.bluesky.times import created_at
from agents.payloads import MappingError
from pipeline.core.hashtags import normalize_hashtag
from schemas.post import Author, Hashtag, Post, Provenance, Reference

Json = dict[str, Any]

_MENTION = "app.bsky.richtext.facet#mention"
_LINK = "app.bsky.richtext.facet#link"
_TAG = "app.bsky.richtext.facet#tag"
# Self-labels an author puts on their own post; clients hide the post behind a warning.
_SENSITIVE = frozenset({"porn", "sexual", "nudity", "graphic-media", "gore"})


@dataclass(slots=True)
class RichText:
    hashtags: list[Hashtag] = field(default_factory=list)
    mentions: list[str] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)

    def tag(self, tag: object) -> None:
        if not isinstance(tag, str):
            return
        tag = tag.strip().lstrip("#＃")
        if tag and len(tag) <= 640 and all(h.tag != tag for h in self.hashtags):
            self.hashtags.append(Hashtag(tag=tag, normalized=normalize_hashtag(tag)))


def _slice(data: bytes, index: object) -> str | None:
    """The text a facet covers, by byte offsets; None when the offsets are unusable."""
    if not isinstance(index, dict):
        return None
    start, end = index.get("byteStart"), index.get("byteEnd")
    if not (isinstance(start, int) and isinstance(end, int)) or isinstance(start, bool):
        return None
    if not 0 <= start < end <= len(data):
        return None
    try:
        return data[start:end].decode("utf-8")
    except UnicodeDecodeError:  # offsets inside a character
        return None


def rich_text(record: Json, text: str) -> RichText:
    out = RichText()
    data = text.encode("utf-8", "surrogatepass")
    facets = record.get("facets")
    for facet in facets if isinstance(facets, list) else ():
        if not isinstance(facet, dict) or not isinstance(facet.get("features"), list):
            continue
        shown = _slice(data, facet.get("index"))
        for feature in facet["features"]:
            if not isinstance(feature, dict):
                continue
            kind = feature.get("$type")
            if kind == _TAG:
                out.tag(feature.get("tag") if isinstance(feature.get("tag"), str) else shown)
            elif kind == _MENTION:
                handle = shown[1:] if shown and shown.startswith("@") else None
                mention = handle or feature.get("did")
                if isinstance(mention, str) and mention and mention not in out.mentions:
                    out.mentions.append(mention)
            elif kind == _LINK:
                uri = feature.get("uri")
                if isinstance(uri, str) and uri and uri not in out.urls:
                    out.urls.append(uri)
    tags = record.get("tags")
    for tag in tags if isinstance(tags, list) else ():
        out.tag(tag)
    return out


def _reply_to(record: Json) -> str | None:
    reply = record.get("reply")
    parent = reply.get("parent") if isinstance(reply, dict) else None
    if not isinstance(parent, dict):
        return None
    try:
        uri = AtUri.parse(parent.get("uri"))
    except MappingError:
        return None
    return uri.uid if uri.collection == POST else None


def _self_labels(record: Json) -> list[str]:
    labels = record.get("labels")
    values = labels.get("values") if isinstance(labels, dict) else None
    if not isinstance(values, list):
        return []
    return [v["val"] for v in values if isinstance(v, dict) and isinstance(v.get("val"), str)]


def _lang(record: Json) -> str | None:
    langs = record.get("langs")
    first = langs[0] if isinstance(langs, list) and langs else None
    return first if isinstance(first, str) and 0 < len(first) <= 64 else None


def to_post(
    uri: AtUri,
    record: object,
    *,
    cid: object,
    author: Author,
    seen: datetime | None,
    raw: bytes,
    provenance: Provenance,
    edited_at: datetime | None = None,
    embed_view: object = None,
) -> Post:
    """Map one post record; ``seen`` is when the network saw it (``time_us``, ``indexedAt``),
    ``raw`` the exact bytes it arrived in, ``embed_view`` a post view's rendering of its embed."""
    if uri.collection != POST:
        raise MappingError(f"{uri} is not a post")
    if not isinstance(record, dict):
        raise MappingError(f"{uri}: the record is not an object")
    text = record.get("text")
    if not isinstance(text, str):
        raise MappingError(f"{uri}: the post has no text")
    created = created_at(record.get("createdAt"), seen)
    if created is None:
        written = record.get("createdAt")
        raise MappingError(f"{uri}: createdAt missing or unreadable: {written!r:.80}")
    rich = rich_text(record, text)
    embed = embedded(record.get("embed"), uri.did, embed_view)
    references = []
    if embed.quote is not None:
        references.append(Reference(type="quote", uid=embed.quote))
    if (parent := _reply_to(record)) is not None:
        references.append(Reference(type="reply", uid=parent))
    labels = _self_labels(record)
    return Post(
        uid=uri.uid,
        platform="bluesky",
        id=str(uri),
        url=uri.web_url,
        author=author,
        created_at=created,
        text=text,
        hashtags=rich.hashtags,
        mentions=rich.mentions,
        urls=list(dict.fromkeys([*rich.urls, *embed.urls])),
        media=embed.media,
        references=references,
        platform_lang=_lang(record),
        possibly_sensitive=any(label in _SENSITIVE for label in labels),
        content_warning=", ".join(labels) or None,
        edited_at=edited_at,
        version=cid if isinstance(cid, str) and 0 < len(cid) <= 200 else None,
        provenance=provenance.of(raw),
        raw=msgspec.Raw(raw),
    )
