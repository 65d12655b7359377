"""What every platform's payload mapping shares: its errors, and how archives find the mapping.

Each platform module (``agents/x/payload.py``, ``agents/mastodon/…``, ``agents/bluesky/…``)
maps the JSON it receives to Post v1 records; ``hashwatch run`` and ``collect replay`` read
archives line by line and ask each ``ArchiveFormat`` in ``FORMATS`` whether a line is
one of its payloads, so one archive may mix platforms.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, Protocol

from schemas.numbers import LARGEST_MEASURE
from schemas.post import Post, PostDeletion, Provenance


class NotAPost(ValueError):
    """The JSON is valid but holds no post (users, lists, counts, an error object, a like).

    Its message is a short stable code, counted per code in summaries.
    """


class MappingError(ValueError):
    """A post object that cannot become a Post (missing id, bad date, ...)."""


Mapped = Post | PostDeletion | MappingError

# Far deeper than any platform's payload; well within what msgspec, which decodes records
# recursively on Python's stack everywhere downstream, can read back.
MAX_DEPTH = 64


def too_deep(obj: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether parsed JSON nests deeper than ``limit``: such a payload is dead-lettered
    rather than published, so no stage downstream recurses into a RecursionError."""
    level: list[tuple[Any, int]] = [(obj, 1)]
    while level:
        value, depth = level.pop()
        if depth > limit:
            return True
        if isinstance(value, dict):
            level.extend((v, depth + 1) for v in value.values() if isinstance(v, dict | list))
        elif isinstance(value, list):
            level.extend((v, depth + 1) for v in value if isinstance(v, dict | list))
    return False


# Reading JSON whose shape is not guaranteed: each helper gives the type a Post field needs, or
# the empty value, so a wrong-typed field never reaches a record (or raises a TypeError).
Json = dict[str, Any]


def json_object(value: Any) -> Json:
    """``value`` if it is a JSON object, else an empty one."""
    return value if isinstance(value, dict) else {}


def json_objects(value: Any) -> list[Json]:
    """The JSON objects in ``value`` if it is a list (anything else in it skipped)."""
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def string(value: Any) -> str | None:
    """``value`` if it is a string."""
    return value if isinstance(value, str) else None


def measure(value: Any) -> int | None:
    """``value`` if it is a whole number a size, a duration or a bit rate can be (a Measure)."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= LARGEST_MEASURE:
        return value
    return None


def parse_time(value: Any, what: str = "created_at") -> datetime:
    """An ISO 8601 time from a payload, in UTC (naive times are taken as UTC)."""
    if not isinstance(value, str):
        raise MappingError(f"{what} missing or not a string: {value!r}"[:200])
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError) as exc:  # not ISO 8601, or out of range in UTC
        raise MappingError(f"{what} is not an ISO 8601 time: {value!r}"[:200]) from exc


class ArchiveFormat(Protocol):
    """One platform's payloads as archives hold them (API responses, stream lines, captures)."""

    platform: str
    invalid: str  # the dead-letter reason for a payload that cannot be mapped

    def accepts(self, obj: Any) -> bool:
        """Whether this parsed line is one of this platform's payloads."""

    def read(self, obj: Any, line: bytes, provenance: Provenance) -> Iterator[Mapped]:
        """Every post (or deletion) the line holds; a bad one yields its error and the rest go
        on; raises ``NotAPost`` when the line holds none. ``line`` is the bytes as read, so
        each record's ``raw`` can be the exact bytes it was made from."""
