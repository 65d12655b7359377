"""Bluesky payloads in archives: Jetstream JSONL captures, API responses, record captures.

``hashwatch run`` / ``collect replay`` offer every line to each platform's format; this one
takes Jetstream events (a capture of the stream, one event per line), ``searchPosts`` /
``getPosts`` / ``getPostThread`` / feed / ``listRecords`` responses, single post views and
``{uri, cid, value}`` records. Nothing is filtered by campaign here: an archive is replayed
whole. A repost read from an archive has no original at hand, so its text is empty (the
enrich stage gives it its original's language when the original is known).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from agents.bluesky.events import deletion_of, is_event, parse_event, post_of, repost_of
from agents.bluesky.views import (
    from_record,
    from_view,
    is_post_view,
    is_record,
    is_response,
    posts_in_response,
)
from agents.payloads import Mapped, MappingError, too_deep
from schemas.post import Provenance


class BlueskyArchive:
    platform = "bluesky"
    invalid = "not-a-valid-bluesky-record"

    def accepts(self, obj: Any) -> bool:
        return is_event(obj) or is_post_view(obj) or is_record(obj) or is_response(obj)

    def read(self, obj: Any, line: bytes, provenance: Provenance) -> Iterator[Mapped]:
        if too_deep(obj):
            yield MappingError("JSON nested too deeply to be a Bluesky payload")
            return
        if is_event(obj):
            yield from _event(obj, line, provenance)
            return
        try:
            if is_post_view(obj):
                yield from_view(obj, line, provenance)
            elif is_record(obj):
                yield from_record(obj, line, provenance)
            else:
                yield from posts_in_response(obj, line, provenance)
        except MappingError as exc:
            yield exc


def _event(obj: Any, line: bytes, provenance: Provenance) -> Iterator[Mapped]:
    try:
        event = parse_event(obj)  # NotAPost propagates: the line holds no post
        if event.operation == "delete":
            yield deletion_of(event, line, provenance)
        elif event.is_repost:
            yield repost_of(event, line, provenance)
        else:
            yield post_of(event, line, provenance)
    except MappingError as exc:
        yield exc
