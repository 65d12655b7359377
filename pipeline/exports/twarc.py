"""X payloads in the column conventions of twarc-csv, so existing notebooks read our CSVs.

Two steps, as twarc does them: *flatten* a payload (expansions from ``includes`` put inline:
``author``, ``in_reply_to_user``, ``attachments.media``, ``attachments.poll``, ``geo`` place,
``entities.mentions`` users, ``referenced_tweets`` with their own expansions, plus
``matching_rules`` and ``__twarc`` from the envelope), then *format* it the way twarc-csv's
DataFrameConverter does (retweets take their original's text, entities, attachments, context
annotations and metrics but keep their author; entities become ``#tag``/``@user``/``$CASH``/URL
lists; ``referenced_tweets.<type>.id``; ``retweeted_user_id``/``quoted_username``...).
Written from twarc-csv's documented behaviour (MIT, see LICENSE.twarc-csv); no code copied.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from pipeline.core.xapi import is_tweet

Json = dict[str, Any]

# twarc-csv's DEFAULT_TWEET_COLUMNS (twarc-csv 0.7.x), in its order, with the type each holds.
TWEET_COLUMNS: tuple[tuple[str, str], ...] = (
    ("id", "str"),
    ("conversation_id", "str"),
    ("referenced_tweets.replied_to.id", "str"),
    ("referenced_tweets.retweeted.id", "str"),
    ("referenced_tweets.quoted.id", "str"),
    ("author_id", "str"),
    ("in_reply_to_user_id", "str"),
    ("in_reply_to_username", "str"),
    ("retweeted_user_id", "str"),
    ("retweeted_username", "str"),
    ("quoted_user_id", "str"),
    ("quoted_username", "str"),
    ("created_at", "time"),
    ("text", "str"),
    ("lang", "str"),
    ("source", "str"),
    ("public_metrics.impression_count", "int"),
    ("public_metrics.reply_count", "int"),
    ("public_metrics.retweet_count", "int"),
    ("public_metrics.quote_count", "int"),
    ("public_metrics.like_count", "int"),
    ("public_metrics.bookmark_count", "int"),
    ("reply_settings", "str"),
    ("edit_history_tweet_ids", "strs"),
    ("edit_controls.edits_remaining", "int"),
    ("edit_controls.editable_until", "time"),
    ("edit_controls.is_edit_eligible", "bool"),
    ("possibly_sensitive", "bool"),
    ("withheld.scope", "str"),
    ("withheld.copyright", "bool"),
    ("withheld.country_codes", "strs"),
    ("entities.annotations", "json"),
    ("entities.cashtags", "strs"),
    ("entities.hashtags", "strs"),
    ("entities.mentions", "strs"),
    ("entities.urls", "strs"),
    ("context_annotations", "json"),
    ("attachments.media", "json"),
    ("attachments.media_keys", "strs"),
    ("attachments.poll.duration_minutes", "int"),
    ("attachments.poll.end_datetime", "time"),
    ("attachments.poll.id", "str"),
    ("attachments.poll.options", "json"),
    ("attachments.poll.voting_status", "str"),
    ("attachments.poll_ids", "strs"),
    ("author.id", "str"),
    ("author.created_at", "time"),
    ("author.username", "str"),
    ("author.name", "str"),
    ("author.description", "str"),
    ("author.entities.description.cashtags", "strs"),
    ("author.entities.description.hashtags", "strs"),
    ("author.entities.description.mentions", "strs"),
    ("author.entities.description.urls", "strs"),
    ("author.entities.url.urls", "strs"),
    ("author.url", "str"),
    ("author.location", "str"),
    ("author.pinned_tweet_id", "str"),
    ("author.profile_image_url", "str"),
    ("author.protected", "bool"),
    ("author.public_metrics.followers_count", "int"),
    ("author.public_metrics.following_count", "int"),
    ("author.public_metrics.listed_count", "int"),
    ("author.public_metrics.tweet_count", "int"),
    ("author.verified", "bool"),
    ("author.verified_type", "str"),
    ("author.withheld.scope", "str"),
    ("author.withheld.copyright", "bool"),
    ("author.withheld.country_codes", "strs"),
    ("geo.coordinates.coordinates", "json"),
    ("geo.coordinates.type", "str"),
    ("geo.country", "str"),
    ("geo.country_code", "str"),
    ("geo.full_name", "str"),
    ("geo.geo.bbox", "json"),
    ("geo.geo.type", "str"),
    ("geo.id", "str"),
    ("geo.name", "str"),
    ("geo.place_id", "str"),
    ("geo.place_type", "str"),
    ("matching_rules", "json"),
    ("__twarc.retrieved_at", "time"),
    ("__twarc.url", "str"),
    ("__twarc.version", "str"),
)
_WANTED = {name for name, _ in TWEET_COLUMNS}
_MERGED_FROM_RETWEET = ("text", "entities", "attachments", "context_annotations", "public_metrics")


def page_of(raw: bytes, context: Mapping[str, Any] | None) -> bytes:
    """A stored post as the line twarc2 would have written: ``raw`` itself, or for a search
    page's item (``raw`` its exact bytes, ``context`` the page's includes and ``__twarc``) a
    one-item page with those bytes kept exactly inside ``data`` and the context beside them,
    keys sorted so the same post gives the same line from either store. Read again (``hashwatch
    run``), the line gives the same post: same ``raw``, same SHA-256."""
    if not context:
        return raw
    rest = orjson.dumps(dict(context), option=orjson.OPT_SORT_KEYS)
    return b'{"data":[' + raw + b"]," + rest[1:]


def flatten(payload: object) -> Json | None:
    """The tweet a stored payload holds, with its expansions inline; None if it holds none.

    Takes the shapes hashwatch keeps for X: a stream line, a one-tweet page (``page_of``;
    ``data`` an object or a one-item list) and an already flattened twarc line.
    """
    if not isinstance(payload, dict):
        return None
    if is_tweet(payload):
        return payload
    data = payload.get("data")
    if isinstance(data, list) and len(data) == 1:
        data = data[0]
    if not is_tweet(data):
        return None
    tweet = _Includes(payload.get("includes")).expand(data)
    for key in ("matching_rules", "__twarc"):
        if key in payload:
            tweet[key] = payload[key]
    return tweet


class _Includes:
    def __init__(self, includes: object) -> None:
        inc = includes if isinstance(includes, dict) else {}

        def index(kind: str, key: str) -> dict[str, Json]:
            items = inc.get(kind)
            if not isinstance(items, list):
                return {}
            return {str(i[key]): i for i in items if isinstance(i, dict) and key in i}

        self.users = index("users", "id")
        self.users_by_name = index("users", "username")
        self.media = index("media", "media_key")
        self.polls = index("polls", "id")
        self.places = index("places", "id")
        self.tweets = index("tweets", "id")
        for tid, tweet in list(self.tweets.items()):  # included tweets expand first
            self.tweets[tid] = self.expand(tweet)

    def expand(self, value: Any) -> Any:
        """A copy of ``value`` with every expansion it refers to put inline, recursively."""
        if isinstance(value, list):
            return [self.expand(v) for v in value]
        if not isinstance(value, dict):
            return value
        out: Json = {k: self.expand(v) for k, v in value.items()}
        if "author_id" in out:
            out["author"] = self.users.get(str(out["author_id"]), {})
        if "in_reply_to_user_id" in out:
            out["in_reply_to_user"] = self.users.get(str(out["in_reply_to_user_id"]), {})
        if isinstance(out.get("media_keys"), list):
            out["media"] = [self.media.get(str(k), {}) for k in out["media_keys"]]
        if isinstance(out.get("poll_ids"), list) and out["poll_ids"]:
            out["poll"] = self.polls.get(str(out["poll_ids"][-1]), {})
        geo = out.get("geo")
        if isinstance(geo, dict) and "place_id" in geo:
            out["geo"] = {**geo, **self.places.get(str(geo["place_id"]), {})}
        if isinstance(out.get("mentions"), list):
            out["mentions"] = [
                {**m, **self.users_by_name.get(str(m.get("username")), {})}
                if isinstance(m, dict)
                else m
                for m in out["mentions"]
            ]
        if isinstance(out.get("referenced_tweets"), list):
            out["referenced_tweets"] = [
                {**r, **self.tweets.get(str(r.get("id")), {})} if isinstance(r, dict) else r
                for r in out["referenced_tweets"]
            ]
        if "pinned_tweet_id" in out:
            out["pinned_tweet"] = self.tweets.get(str(out["pinned_tweet_id"]), {})
        return out


def csv_fields(tweet: Json) -> dict[str, Any]:
    """twarc-csv's columns for one flattened tweet, as Python values (lists stay lists)."""
    t = dict(tweet)
    refs = [r for r in t.get("referenced_tweets") or () if isinstance(r, dict)]
    extra: Json = {}
    kinds = ("replied_to", "retweeted", "quoted")
    last = {kind: [r for r in refs if r.get("type") == kind] for kind in kinds}
    reply = last["replied_to"][-1] if last["replied_to"] else None
    if reply and _username(reply):
        extra["in_reply_to_username"] = _username(reply)
    for kind, prefix in (("retweeted", "retweeted"), ("quoted", "quoted")):
        ref = last[kind][-1] if last[kind] else None
        if ref and "author_id" in ref:
            extra[f"{prefix}_user_id"] = ref["author_id"]
            if _username(ref):
                extra[f"{prefix}_username"] = _username(ref)
    retweeted = last["retweeted"][-1] if last["retweeted"] else None
    if retweeted is not None:  # a retweet says what it retweets; its author stays its own
        for key in _MERGED_FROM_RETWEET:
            t[key] = retweeted.get(key, t.get(key))
    ref_ids: Json = {}
    for r in refs:
        ref_ids.setdefault(str(r.get("type")), {"id": r.get("id")})
    t["referenced_tweets"] = ref_ids
    if isinstance(t.get("entities"), dict):
        t["entities"] = _entity_lists(t["entities"])
    author = t.get("author")
    if isinstance(author, dict) and isinstance(author.get("entities"), dict):
        t["author"] = _author(author)
    metrics = t.get("public_metrics")
    if isinstance(metrics, dict) and "impression_count" not in metrics:
        t["public_metrics"] = {**metrics, "impression_count": None}
    out = {k: v for k, v in _dotted(t).items() if k in _WANTED}
    out.update(extra)
    return out


def _username(ref: Mapping[str, Any]) -> str | None:
    author = ref.get("author")
    name = author.get("username") if isinstance(author, dict) else None
    return str(name) if name else None


def _entity_lists(entities: Json) -> Json:
    """Entities as twarc-csv writes them: ``#tag``, ``$CASH``, ``@user``, expanded URLs."""
    e = dict(entities)

    def items(key: str) -> list[Json]:
        return [i for i in e.get(key) or () if isinstance(i, dict)]

    if "cashtags" in e:
        e["cashtags"] = ["$" + str(i.get("tag")) for i in items("cashtags")]
    if "hashtags" in e:
        e["hashtags"] = ["#" + str(i.get("tag")) for i in items("hashtags")]
    if "mentions" in e:
        e["mentions"] = ["@" + str(i.get("username")) for i in items("mentions")]
    if "urls" in e:
        e["urls"] = [
            i.get("display_url") if "media_key" in i else i.get("expanded_url", i.get("url"))
            for i in items("urls")
        ]
    return e


def _author(author: Json) -> Json:
    a = dict(author)
    entities = dict(a["entities"])
    url = entities.get("url")
    if isinstance(url, dict):
        urls = [
            u.get("expanded_url", u.get("url"))
            for u in url.get("urls") or ()
            if isinstance(u, dict)
        ]
        entities["url"] = {**url, "urls": urls}
        if urls:
            a["url"] = urls[-1]  # the profile's one link, expanded
    if isinstance(entities.get("description"), dict):
        entities["description"] = _entity_lists(entities["description"])
    a["entities"] = entities
    return a


def _dotted(obj: Json, prefix: str = "") -> Json:
    """Nested objects to ``a.b.c`` keys (lists stay values), like ``pandas.json_normalize``."""
    out: Json = {}
    for key, value in obj.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(_dotted(value, name + "."))
        else:
            out[name] = value
    return out
