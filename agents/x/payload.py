"""X API v2 tweet objects (as the API and twarc2 write them) to Post v1.

One mapping serves the replay collector and the live X collector, for the three shapes twarc2
writes: stream lines (``data`` object), search pages (``data`` list + ``includes``) and
flattened lines (expansions inlined into the tweet).

A post's ``raw`` is the exact bytes it was made from, so its SHA-256 is of bytes X sent: the
whole line for a stream line or a flattened line, and for a page item the item's own slice of
the page body (``msgspec.Raw``), with what it is read with — the page's ``includes`` it refers
to, twarc's ``__twarc`` — in ``Post.context``. The JSONL export puts the two back together as
a one-item page (``pipeline.exports.twarc.page_of``), which reads back as the same post.

Whatever a line holds, the mapping gives posts or ``MappingError``s (or ``NotAPost``): ids are
ASCII digits, every field is read through the typed helpers of ``agents.payloads`` (a value of
the wrong type is left out), and a payload nested deeper than ``MAX_DEPTH`` is refused before
it can become a record every stage downstream would have to decode.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from typing import Any

import msgspec

from agents.payloads import (
    Json,
    Mapped,
    MappingError,
    NotAPost,
    json_object,
    json_objects,
    measure,
    parse_time,
    string,
    too_deep,
)
from agents.x.expansions import Expansions, entities, media_keys, references
from pipeline.core.hashtags import normalize_hashtag
from pipeline.core.xapi import is_tweet
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

__all__ = ["Expansions", "XArchive", "is_tweet", "page_items", "posts_from_object", "to_post"]

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
_X_ID = re.compile(r"[0-9]{1,20}")  # post and user ids: 64-bit numbers, as decimal strings
_HANDLE = re.compile(r"[A-Za-z0-9_]{1,50}")  # what may stand in a post's x.com address


def _x_id(value: Any) -> str | None:
    return value if isinstance(value, str) and _X_ID.fullmatch(value) else None


def _full_text(tweet: Json) -> str:
    """The post's text as its author wrote it: X sends &amp; &lt; &gt; escaped (``raw`` keeps
    them as sent); long posts' ``text`` is truncated and ``note_tweet`` has it all."""
    text = string(json_object(tweet.get("note_tweet")).get("text"))
    if text is None:
        text = string(tweet.get("text"))
    if text is None:
        raise MappingError(f"text is not a string: {tweet.get('text')!r}"[:200])
    return html.unescape(text)


def _media_of(tweet: Json, exp: Expansions) -> list[Media]:
    inline = {  # flattened twarc lines carry the objects, or {} where X sent none
        key: m
        for m in json_objects(json_object(tweet.get("attachments")).get("media"))
        if (key := string(m.get("media_key")))
    }
    keys = media_keys(tweet) or list(inline)
    return [_media(k, inline.get(k) or exp.media.get(k) or {}) for k in keys]


def _media(key: str, m: Json) -> Media:
    prefix: str = _KEY_PREFIX_TYPES.get(key.split("_", 1)[0], "unknown")
    mtype = string(m.get("type")) or prefix
    variants = [
        MediaVariant(
            url=url,
            content_type=string(v.get("content_type")),
            bit_rate=measure(v.get("bit_rate")),
        )
        for v in json_objects(m.get("variants"))
        if (url := string(v.get("url")))
    ]
    return Media(
        key=key,
        type=_MEDIA_TYPES.get(mtype, "unknown"),
        url=string(m.get("url")),
        preview_url=string(m.get("preview_image_url")),
        duration_ms=measure(m.get("duration_ms")),
        width=measure(m.get("width")),
        height=measure(m.get("height")),
        alt_text=string(m.get("alt_text")),
        variants=variants,
    )


def _author(tweet: Json, exp: Expansions) -> Author:
    claimed = _x_id(tweet.get("author_id"))
    inline = tweet.get("author")
    user = inline if isinstance(inline, dict) else exp.users.get(claimed or "", {})
    author_id = claimed or _x_id(user.get("id"))
    if author_id is None:
        raise MappingError(f"tweet has no numeric author_id: {tweet.get('author_id')!r}"[:200])
    return Author(id=author_id, handle=string(user.get("username")), name=string(user.get("name")))


def _original(tweet: Json, exp: Expansions) -> Json | None:
    """The retweeted tweet's full object, inline (flattened) or from includes."""
    for ref in references(tweet):
        if ref.get("type") == "retweeted":
            if is_tweet(ref):
                return ref
            return exp.tweets.get(string(ref.get("id")) or "")
    return None


def _references(tweet: Json) -> list[Reference]:
    out = []
    for ref in references(tweet):
        kind = string(ref.get("type"))
        if kind not in _REFERENCE_TYPES or not ref.get("id"):
            continue
        ref_id = _x_id(ref.get("id"))
        if ref_id is None:
            raise MappingError(f"referenced tweet id is not numeric: {ref.get('id')!r}"[:200])
        out.append(Reference(type=_REFERENCE_TYPES[kind], uid=f"x:{ref_id}"))
    return out


def _hashtags(found: Json) -> list[Hashtag]:
    return [
        Hashtag(tag=tag, normalized=normalize_hashtag(tag))
        for h in json_objects(found.get("hashtags"))
        if (tag := string(h.get("tag")))
    ]


def _urls(found: Json) -> list[str]:
    """Each link as it leads: unwound, else expanded, else the t.co address."""
    out = []
    for u in json_objects(found.get("urls")):
        if string(u.get("url")):
            fields = (u.get("unwound_url"), u.get("expanded_url"), u["url"])
            out.append(next(v for v in fields if isinstance(v, str) and v))
    return out


def _rules(rules: Any) -> list[MatchingRule]:
    return [
        MatchingRule(
            id=str(r["id"]) if isinstance(r.get("id"), str | int) else None,
            tag=string(r.get("tag")),
        )
        for r in json_objects(rules)
    ]


def to_post(
    tweet: Json,
    exp: Expansions,
    provenance: Provenance,
    raw: bytes,
    rules: Any = None,
    context: Json | None = None,
) -> Post:
    """Map one tweet; ``raw`` is the exact payload to keep (the line, or the page's item)."""
    tweet_id = _x_id(tweet.get("id"))
    if tweet_id is None:
        raise MappingError(f"tweet id missing or not numeric: {tweet.get('id')!r}"[:200])
    author = _author(tweet, exp)
    original = _original(tweet, exp)
    content = original if original is not None else tweet  # a retweet says what it retweets
    found = entities(content)
    handle = author.handle if author.handle and _HANDLE.fullmatch(author.handle) else "i/web"
    return Post(
        uid=f"x:{tweet_id}",
        platform="x",
        id=tweet_id,
        url=f"https://x.com/{handle}/status/{tweet_id}",
        author=author,
        created_at=parse_time(tweet.get("created_at")),
        text=_full_text(content),
        hashtags=_hashtags(found),
        mentions=[
            name for m in json_objects(found.get("mentions")) if (name := string(m.get("username")))
        ],
        urls=_urls(found),
        media=_media_of(content, exp) or _media_of(tweet, exp),
        references=_references(tweet),
        platform_lang=string(tweet.get("lang")),
        possibly_sensitive=tweet.get("possibly_sensitive") is True,
        rules=_rules(rules),
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
    if too_deep(obj):
        yield MappingError("JSON nested too deeply to be an X payload")
        return
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
    """The tweet's post, or its error. The typed reading leaves no KeyError or TypeError to
    expect; one that still comes is a shape nobody foresaw, reported as such."""
    try:
        post: Post = make()
        return post
    except MappingError as exc:
        return exc
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        return MappingError(f"unexpected tweet shape: {type(exc).__name__}: {exc}"[:500])


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
