"""Mastodon payloads in archives (``hashwatch run`` / ``collect replay``), detected per line.

Four shapes: an API page (a JSON array of Statuses on one line, as a timeline returns it),
a response listing Statuses under a key (a search's ``statuses``, a thread's ``ancestors`` and
``descendants``), one Status per line, and streaming events in the streaming API's JSON form
(``{"stream": [...], "event": "update", "payload": "<Status as a string>"}``); a capture of the
streaming API's server-sent events is read as that JSON form of each event (``sse_events``).
Each post's ``raw`` is the exact bytes of its own Status: an array is read element by element
without re-encoding, an event's payload is the string the server sent.

A ``delete`` event names the status by its id on the server that sent it, which an archive
does not say, so the deleted post's uid cannot be known: such lines are counted as skipped
(``mastodon-delete-unresolved``), never guessed. Reply references are resolved within the
live collector only (by the statuses seen on that instance); from an archive a reply keeps its
``in_reply_to_id`` in ``raw``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import msgspec
import orjson

from agents.mastodon.payload import is_status, statuses
from agents.mastodon.sse import Event, Item, Oversized, SseParser
from agents.payloads import Mapped, MappingError, NotAPost
from schemas.post import Provenance

STATUS_EVENTS = frozenset({"update", "status.update"})
# How a server-sent-event stream's lines start: a comment (Mastodon's ``:thump``) or a field.
_SSE_LINES = (b":", b"event:", b"data:", b"id:", b"retry:")


def is_sse(first_line: bytes) -> bool:
    """Whether a file starting with this line is a capture of a streaming API response (``curl
    -N …/api/v1/streaming/hashtag?tag=…``): server-sent events, not JSON lines."""
    return first_line.removeprefix(b"\xef\xbb\xbf").startswith(_SSE_LINES)


def sse_events(lines: Iterable[bytes]) -> Iterator[tuple[int, bytes]]:
    """Each event of an SSE capture in the streaming API's JSON form (what its WebSocket
    sends, read below as any archived event), numbered by the line that ends it. The payload
    string is the event's data as sent, so a Status's ``raw`` is its exact bytes. An event too
    large to keep gives its first bytes, no JSON: a dead letter, as in the live collector."""
    parser = SseParser()
    number = 0
    for number, line in enumerate(lines, start=1):
        yield from _as_json(parser.feed(line), number)
    yield from _as_json(parser.feed(b"\n\n"), number)  # a capture cut after its last data line


def _as_json(items: list[Item], number: int) -> Iterator[tuple[int, bytes]]:
    for item in items:
        if isinstance(item, Event):
            payload = item.data.decode("utf-8", "replace")
            yield number, orjson.dumps({"stream": [], "event": item.event, "payload": payload})
        elif isinstance(item, Oversized):
            yield number, item.head


def is_event(obj: Any) -> bool:
    """The streaming API's JSON form of an event (WebSocket messages)."""
    return isinstance(obj, dict) and isinstance(obj.get("event"), str) and "stream" in obj


def is_status_source(obj: Any) -> bool:
    """A StatusSource (``GET /api/v1/statuses/:id/source``: ``id``, ``text``, ``spoiler_text``),
    the plain text of a status for editing: no post, and not an X tweet, which also has an
    ``id`` and a ``text`` but never a ``spoiler_text``."""
    return isinstance(obj, dict) and "spoiler_text" in obj and "text" in obj and "uri" not in obj


def is_listing(obj: Any) -> bool:
    """A response that lists Statuses under a key: a search (``/api/v2/search``: ``accounts``,
    ``hashtags``, ``statuses``; grouped notifications name theirs the same way) or a thread
    (``/api/v1/statuses/:id/context``: ``ancestors``, ``descendants``)."""
    if not isinstance(obj, dict):
        return False
    if isinstance(obj.get("statuses"), list) and "accounts" in obj:
        return True
    return isinstance(obj.get("ancestors"), list) and isinstance(obj.get("descendants"), list)


class _Listing(msgspec.Struct):
    """The bytes of each Status a listing holds, as they stand in the response."""

    statuses: list[msgspec.Raw] = []
    ancestors: list[msgspec.Raw] = []
    descendants: list[msgspec.Raw] = []


class MastodonArchive:
    platform = "mastodon"
    invalid = "not-a-valid-mastodon-status"

    def accepts(self, obj: Any) -> bool:
        if isinstance(obj, list):
            return bool(obj) and is_status(obj[0])
        return is_status(obj) or is_event(obj) or is_status_source(obj) or is_listing(obj)

    def read(self, obj: Any, line: bytes, provenance: Provenance) -> Iterator[Mapped]:
        if isinstance(obj, list):
            try:
                elements = msgspec.json.decode(line, type=list[msgspec.Raw])
            except msgspec.DecodeError as exc:  # the caller parsed it, so this is unexpected
                yield MappingError(f"API page is not a JSON array: {exc}")
                return
            for element in elements:
                yield from _posts(bytes(element), provenance)
            return
        if is_status_source(obj):
            raise NotAPost("mastodon-status-source")
        if is_listing(obj):
            yield from _listed(line, provenance)
            return
        if is_event(obj):
            event = obj["event"]
            if event == "delete":
                raise NotAPost("mastodon-delete-unresolved")
            if event not in STATUS_EVENTS:
                raise NotAPost(f"mastodon-event-{event}"[:60])
            payload = obj.get("payload")
            if not isinstance(payload, str):
                yield MappingError(f"{event} event without a Status payload")
                return
            yield from _posts(payload.encode("utf-8", "surrogatepass"), provenance)
            return
        yield from _posts(line, provenance)


def _listed(line: bytes, provenance: Provenance) -> Iterator[Mapped]:
    try:
        found = msgspec.json.decode(line, type=_Listing)
    except msgspec.DecodeError as exc:  # a listed key that is not an array
        yield MappingError(f"Status listing of another shape: {exc}")
        return
    elements = [*found.statuses, *found.ancestors, *found.descendants]
    if not elements:
        raise NotAPost("mastodon-no-statuses")
    for element in elements:
        yield from _posts(bytes(element), provenance)


def _posts(raw: bytes, provenance: Provenance) -> Iterator[Mapped]:
    try:
        yield from statuses(raw, provenance).posts
    except NotAPost as exc:
        yield MappingError(f"not a Status ({exc})")
    except MappingError as exc:
        yield exc
