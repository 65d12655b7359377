"""X API v2 tweet objects (as the API and twarc2 write them) to Post v1.

One mapping serves the replay collector and the live X collector, for the three shapes twarc2
writes: stream lines (``data`` object), search pages (``data`` list + ``includes``) and
flattened lines (expansions inlined into the tweet).

A post's ``raw`` is the exact bytes it was made from, so its SHA-256 is of bytes X sent: the
whole line for a stream line or a flattened line, and for a page item the item's own slice of
the page body (``msgspec.Raw``), with what it is read with — the page's ``includes`` it refers
to, twarc's ``__twarc`` — in ``Post.context``. The JSONL export puts the two back together as
a one-item page (``pipeline.exports.twarc.page_of``), which reads back as the same post.
"""

from __future__ import annotations

import html
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import msgspec

from agents.payloads import Mapped, MappingError, NotAPost, parse_time
from pipeline.core.hashtags import normalize_hashtag
from schemas.post import (
    Author,
    Hashtag,
    MatchingRule,
    Media,
    MediaType,
    MediaVariant,
    Post,
    Provenance,
    Reference,
    ReferenceType,
)

Json = dict[str, Any]

_REFERENCE_TYPES: dict[str, ReferenceType] = {
    "retweeted": "retweet",
    "quoted": "quote",
    "replied_to": "reply",
}
_MEDIA_TYPES: dict[str, MediaType] = {
    "photo": "photo",
    "video": "video",
    "animated_gif": "animated_gif",
}
# When X sends a media key without its object (deleted, withheld, not expanded), the key's
# prefix still says what it was: 3_ photo, 7_ and 13_ video, 16_ animated GIF.
_KEY_PREFIX_TYPES: dict[str, MediaType] = {
    "3": "photo",
    "7": "video",
    "13": "video",
    "16": "animated_gif",
}


@dataclass(slots=True)
class Expansions:
    """Lookup of the ``includes`` a response carried; flattened tweets carry their own."""

    users: dict[str, Json] = field(default_factory=dict)
    tweets: dict[str, Json] = field(default_factory=dict)
    media: dict[str, Json] = field(default_factory=dict)
    places: dict[str, Json] = field(default_factory=dict)

    @classmethod
    def from_includes(cls, includes: Mapping[str, Any] | None) -> Expansions:
        if not includes:
            return cls()
        return cls(
            users={u["id"]: u for u in includes.get("users", ()) if "id" in u},
            tweets={t["id"]: t for t in includes.get("tweets", ()) if "id" in t},
            media={m["media_key"]: m for m in includes.get("media", ()) if "media_key" in m},
            places={p["id"]: p for p in includes.get("places", ()) if "id" in p},
        )

    def subset_for(self, tweet: Json) -> Json:
        """The includes this one tweet refers to, so its raw record stands on its own."""
        out: dict[str, list[Json]] = {}
        refs = [tweet] + [self.tweets[r["id"]] for r in _refs(tweet) if r.get("id") in self.tweets]
        users = dict.fromkeys(  # in the order met, so the same tweet gives the same subset
            [t.get("author_id") for t in refs]
            + [m.get("id") for t in refs for m in t.get("entities", {}).get("mentions", ())]
        )
        if found := [self.users[u] for u in users if u in self.users]:
            out["users"] = found
        if found := [self.tweets[r["id"]] for r in _refs(tweet) if r.get("id") in self.tweets]:
            out["tweets"] = found
        keys = [k for t in refs for k in t.get("attachments", {}).get("media_keys", ())]
        if found := [self.media[k] for k in dict.fromkeys(keys) if k in self.media]:
            out["media"] = found
        place = tweet.get("geo", {}).get("place_id")
        if place in self.places:
            out["places"] = [self.places[place]]
        return out


def _refs(tweet: Json) -> list[Json]:
    refs = tweet.get("referenced_tweets")
    return refs if isinstance(refs, list) else []


def is_tweet(obj: Any) -> bool:
    """Tweets have ``id`` and ``text``; users, lists and counts never both."""
    return isinstance(obj, dict) and "id" in obj and "text" in obj and "username" not in obj


def _full_text(tweet: Json) -> str:
    """The post's text as its author wrote it: X sends &amp; &lt; &gt; escaped (``raw`` keeps
    them as sent); long posts' ``text`` is truncated and ``note_tweet`` has it all."""
    note = tweet.get("note_tweet")
    if isinstance(note, dict) and isinstance(note.get("text"), str):
        return html.unescape(str(note["text"]))
    return html.unescape(str(tweet.get("text", "")))


def _entities(tweet: Json) -> Json:
    note = tweet.get("note_tweet")
    if isinstance(note, dict) and isinstance(note.get("entities"), dict):
        return dict(note["entities"])
    ent = tweet.get("entities")
    return ent if isinstance(ent, dict) else {}


def _media_of(tweet: Json, exp: Expansions) -> list[Media]:
    attachments = tweet.get("attachments") or {}
    inline = {  # flattened twarc lines carry the objects, or {} where X sent none
        m["media_key"]: m
        for m in attachments.get("media", ())
        if isinstance(m, dict) and m.get("media_key")
    }
    keys = list(attachments.get("media_keys", ())) or list(inline)
    return [_media(inline.get(k) or exp.media.get(k) or {"media_key": k}) for k in keys]


def _media(m: Json) -> Media:
    mtype = m.get("type") or _KEY_PREFIX_TYPES.get(str(m["media_key"]).split("_", 1)[0])
    variants = [
        MediaVariant(url=v["url"], content_type=v.get("content_type"), bit_rate=v.get("bit_rate"))
        for v in m.get("variants", ())
        if isinstance(v, dict) and v.get("url")
    ]
    return Media(
        key=str(m["media_key"]),
        type=_MEDIA_TYPES.get(str(mtype), "unknown"),
        url=m.get("url"),
        preview_url=m.get("preview_image_url"),
        duration_ms=m.get("duration_ms"),
        width=m.get("width"),
        height=m.get("height"),
        alt_text=m.get("alt_text"),
        variants=variants,
    )


def _author(tweet: Json, exp: Expansions) -> Author:
    inline = tweet.get("author")
    user = inline if isinstance(inline, dict) else exp.users.get(tweet.get("author_id", ""), {})
    author_id = tweet.get("author_id") or user.get("id")
    if not author_id:
        raise MappingError("tweet has no author_id")
    return Author(id=str(author_id), handle=user.get("username"), name=user.get("name"))


def _original(tweet: Json, exp: Expansions) -> Json | None:
    """The retweeted tweet's full object, inline (flattened) or from includes."""
    for ref in _refs(tweet):
        if ref.get("type") == "retweeted":
            if is_tweet(ref):
                return ref
            found = exp.tweets.get(str(ref.get("id")))
            return found if found is not None else None
    return None


def to_post(
    tweet: Json,
    exp: Expansions,
    provenance: Provenance,
    raw: bytes,
    rules: list[Json] | None = None,
    context: Json | None = None,
) -> Post:
    """Map one tweet; ``raw`` is the exact payload to keep (the line, or the page's item)."""
    tweet_id = tweet.get("id")
    if not isinstance(tweet_id, str) or not tweet_id.isdigit():
        raise MappingError(f"tweet id missing or not numeric: {tweet_id!r}")
    author = _author(tweet, exp)
    original = _original(tweet, exp)
    content = original if original is not None else tweet  # a retweet says what it retweets
    entities = _entities(content)
    hashtags = [
        Hashtag(tag=h["tag"], normalized=normalize_hashtag(h["tag"]))
        for h in entities.get("hashtags", ())
        if isinstance(h, dict) and h.get("tag")
    ]
    references = [
        Reference(type=_REFERENCE_TYPES[r["type"]], uid=f"x:{r['id']}")
        for r in _refs(tweet)
        if r.get("type") in _REFERENCE_TYPES and r.get("id")
    ]
    handle = author.handle
    return Post(
        uid=f"x:{tweet_id}",
        platform="x",
        id=tweet_id,
        url=f"https://x.com/{handle or 'i/web'}/status/{tweet_id}",
        author=author,
        created_at=parse_time(tweet.get("created_at")),
        text=_full_text(content),
        hashtags=hashtags,
        mentions=[m["username"] for m in entities.get("mentions", ()) if m.get("username")],
        urls=[
            u.get("unwound_url") or u.get("expanded_url") or u["url"]
            for u in entities.get("urls", ())
            if u.get("url")
        ],
        media=_media_of(content, exp) or _media_of(tweet, exp),
        references=references,
        platform_lang=tweet.get("lang"),
        possibly_sensitive=bool(tweet.get("possibly_sensitive", False)),
        rules=[
            MatchingRule(id=None if r.get("id") is None else str(r["id"]), tag=r.get("tag"))
            for r in rules or ()
            if isinstance(r, dict)
        ],
        context=context,
        provenance=provenance.of(raw),
        raw=msgspec.Raw(raw),
    )


# What a page says about all its items, kept with each: twarc's provenance of the request.
_ENVELOPE = ("__twarc", "matching_rules")


class _Page(msgspec.Struct):
    data: msgspec.Raw = msgspec.Raw(b"null")


def page_items(body: bytes, count: int) -> list[bytes | None]:
    """The exact bytes of each of a page's ``count`` data items, as they stand in ``body``
    (every item None when the body cannot be cut so: then no item's bytes are known)."""
    try:
        items = msgspec.json.decode(
            msgspec.json.decode(body, type=_Page).data, type=list[msgspec.Raw]
        )
    except msgspec.DecodeError:
        return [None] * count
    if len(items) != count:
        return [None] * count
    return [bytes(item) for item in items]


def posts_from_object(
    obj: Any, line: bytes, provenance: Provenance
) -> Iterator[Post | MappingError]:
    """Every post one twarc2 line holds; a bad tweet yields its error and the rest go on."""
    if not isinstance(obj, dict):
        raise NotAPost("not-an-object")
    if is_tweet(obj):  # flattened: the line is the tweet, expansions inline
        yield _guard(lambda: to_post(obj, Expansions(), provenance, line))
        return
    data = obj.get("data")
    exp = Expansions.from_includes(obj.get("includes"))
    if isinstance(data, dict) and is_tweet(data):  # stream line: keep it byte for byte
        yield _guard(lambda: to_post(data, exp, provenance, line, obj.get("matching_rules")))
        return
    if isinstance(data, list):
        if not any(is_tweet(t) for t in data):
            raise NotAPost("no-tweets-in-data")  # users, lists, counts
        items = page_items(line, len(data))
        envelope = {k: obj[k] for k in _ENVELOPE if k in obj}
        for tweet, raw in zip(data, items, strict=True):
            if not is_tweet(tweet):
                continue
            if raw is None:
                yield MappingError("the page's items cannot be cut out of its bytes")
                continue
            context = {"includes": exp.subset_for(tweet), **envelope}
            yield _guard(
                lambda t=tweet, r=raw, c=context: to_post(t, exp, provenance, r, context=c)
            )
        return
    if "errors" in obj:
        raise NotAPost("api-error")
    raise NotAPost("no-tweet")


def _guard(make: Any) -> Post | MappingError:
    try:
        post: Post = make()
        return post
    except MappingError as exc:
        return exc
    except (KeyError, TypeError, AttributeError) as exc:
        return MappingError(f"unexpected tweet shape: {type(exc).__name__}: {exc}")


class XArchive:
    """twarc2's shapes: stream lines, search pages, flattened tweets."""

    platform = "x"
    invalid = "not-a-valid-tweet"

    def accepts(self, obj: Any) -> bool:
        if is_tweet(obj):
            return True
        return isinstance(obj, dict) and ("data" in obj or "errors" in obj or "includes" in obj)

    def read(self, obj: Any, line: bytes, provenance: Provenance) -> Iterator[Mapped]:
        return posts_from_object(obj, line, provenance)
