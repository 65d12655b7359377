"""Times in Bluesky payloads: a record's ``createdAt``, Jetstream's ``time_us``, ``indexedAt``.

``createdAt`` is written by the author's client. The atproto data model asks for a time zone,
but some clients omit it (``2023-07-21T01:33:51.481951``, a Python ``utcnow()`` written as is);
hashwatch reads such a time as UTC, which is what those clients meant. A record whose
``createdAt`` is missing, unreadable, or later than when the network saw it takes that moment
instead (Jetstream's ``time_us``, the appview's ``indexedAt``): Bluesky's own "sortAt" rule, so
a client with a wrong clock cannot put a post in the future. ``raw`` keeps what was written.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_US_MAX = 253402300799999999  # 9999-12-31T23:59:59.999999Z


def parse_datetime(value: object) -> datetime | None:
    """An atproto datetime as aware UTC; None when it is not one."""
    if not isinstance(value, str) or not 10 <= len(value) <= 64:
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except (OverflowError, ValueError):  # year 1 with a positive offset, and the like
        return None


def from_time_us(value: object) -> datetime | None:
    """Jetstream's ``time_us`` (Unix microseconds) as aware UTC; None when it is not one."""
    if not isinstance(value, int) or isinstance(value, bool) or not 0 < value <= _EPOCH_US_MAX:
        return None
    return _EPOCH + timedelta(microseconds=value)


def to_time_us(when: datetime) -> int:
    return (when - _EPOCH) // timedelta(microseconds=1)


def created_at(written: object, seen: datetime | None) -> datetime | None:
    """When a post was made: ``createdAt`` as written, unless ``seen`` says otherwise."""
    parsed = parse_datetime(written)
    if parsed is None or (seen is not None and parsed > seen):
        return seen
    return parsed
