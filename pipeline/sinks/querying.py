"""Reading a store whichever its backend: placeholders, time parameters and values, opening."""

from __future__ import annotations

import itertools
import re
from datetime import UTC, datetime
from pathlib import Path

from pipeline.sinks import Store, StoreError, open_store


def is_postgres(store: Store) -> bool:
    return store.url.split(":", 1)[0] in ("postgresql", "postgres")


def placeholders(sql: str, store: Store) -> str:
    """SQL written with ``?`` placeholders, rendered for the store: ``$1, $2…`` on PostgreSQL."""
    if not is_postgres(store):
        return sql
    numbers = itertools.count(1)
    return re.sub(r"\?", lambda _: f"${next(numbers)}", sql)


def time_param(value: datetime, store: Store) -> object:
    """A time as the store compares it: ISO text in SQLite (stored that way), a datetime in PG."""
    value = value.astimezone(UTC)
    return value if is_postgres(store) else value.isoformat()


def as_time(value: object) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def exact_raw(raw: object, raw_bytes: object, *, jsonb: bool) -> bytes | None:
    """A stored payload byte for byte: ``raw_bytes`` where the store kept them (PostgreSQL
    always, from migration 6 on), else SQLite's ``raw`` text, which encodes back to them; None
    when the store has only PostgreSQL's jsonb view (``jsonb``), which is not them."""
    if isinstance(raw_bytes, bytes | bytearray | memoryview):
        return bytes(raw_bytes)
    if isinstance(raw, bytes | bytearray | memoryview):
        return bytes(raw)
    if isinstance(raw, str) and not jsonb:
        return raw.encode("utf-8", "surrogatepass")
    return None


async def open_existing(url: str) -> Store:
    """Open a store to read it; a missing SQLite file is an error, not a new empty store."""
    if url.startswith("sqlite:"):
        path = Path(url.removeprefix("sqlite://"))
        if not path.is_file():
            raise StoreError(f"no store at {path}")
    store = open_store(url)
    await store.open()
    return store
