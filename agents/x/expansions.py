"""The ``includes`` of an X API v2 response: the users, tweets, media and places its tweets
refer to by id, looked up while mapping each tweet and kept, per tweet, with its raw record.

Only objects with a string id are kept, and every reference is read through the typed helpers
of ``agents.payloads``: an ``includes`` of the wrong shape is read as having nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agents.payloads import Json, json_object, json_objects, string


@dataclass(slots=True)
class Expansions:
    """Lookup of the ``includes`` a response carried; flattened tweets carry their own."""

    users: dict[str, Json] = field(default_factory=dict)
    tweets: dict[str, Json] = field(default_factory=dict)
    media: dict[str, Json] = field(default_factory=dict)
    places: dict[str, Json] = field(default_factory=dict)

    @classmethod
    def from_includes(cls, includes: Any) -> Expansions:
        found = json_object(includes)
        return cls(
            users=_by(found.get("users"), "id"),
            tweets=_by(found.get("tweets"), "id"),
            media=_by(found.get("media"), "media_key"),
            places=_by(found.get("places"), "id"),
        )

    def subset_for(self, tweet: Json) -> Json:
        """The includes this one tweet refers to, so its raw record stands on its own."""
        out: dict[str, list[Json]] = {}
        quoted = [self.tweets[i] for i in reference_ids(tweet) if i in self.tweets]
        refs = [tweet, *quoted]
        users = dict.fromkeys(  # in the order met, so the same tweet gives the same subset
            [string(t.get("author_id")) for t in refs]
            + [string(m.get("id")) for t in refs for m in json_objects(entities(t).get("mentions"))]
        )
        if found := [self.users[u] for u in users if u is not None and u in self.users]:
            out["users"] = found
        if quoted:
            out["tweets"] = quoted
        keys = dict.fromkeys(k for t in refs for k in media_keys(t))
        if found := [self.media[k] for k in keys if k in self.media]:
            out["media"] = found
        place = string(json_object(tweet.get("geo")).get("place_id"))
        if place is not None and place in self.places:
            out["places"] = [self.places[place]]
        return out


def _by(items: Any, key: str) -> dict[str, Json]:
    return {item[key]: item for item in json_objects(items) if isinstance(item.get(key), str)}


def references(tweet: Json) -> list[Json]:
    """The tweet's ``referenced_tweets`` (retweeted, quoted, replied to)."""
    return json_objects(tweet.get("referenced_tweets"))


def reference_ids(tweet: Json) -> list[str]:
    return [i for r in references(tweet) if (i := string(r.get("id"))) is not None]


def entities(tweet: Json) -> Json:
    """The entities of the post's full text: a long post's ``note_tweet`` has them all."""
    note = json_object(tweet.get("note_tweet"))
    if isinstance(note.get("entities"), dict):
        return dict(note["entities"])
    return json_object(tweet.get("entities"))


def media_keys(tweet: Json) -> list[str]:
    keys = json_object(tweet.get("attachments")).get("media_keys")
    return [k for k in keys if isinstance(k, str) and k] if isinstance(keys, list) else []
