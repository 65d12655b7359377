"""What happened to the exported posts after they were first collected: their later versions
(``post_versions``) and their deletions (``deletions``), exported beside them.

With a filter, the versions and deletions of the selected posts go along; without one, all of
them, deletions of posts never collected included. Rows are read page by page on their keys,
so memory stays bounded. Each row keeps its payload byte for byte and its SHA-256.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import orjson

from pipeline.exports.reader import PostFilter
from pipeline.sinks import Store
from pipeline.sinks.querying import as_time, iter_keyed, placeholders

PAGE_SIZE = 1000

# (column, kind) as the tabular formats type them; kinds as in columns.py.
Fields = tuple[tuple[str, str], ...]
VERSION_FIELDS: Fields = (
    ("uid", "str"),
    ("version", "str"),
    ("edited_at", "time"),
    ("text", "str"),
    ("content_warning", "str"),
    ("lang", "str"),
    ("retrieved_at", "time"),
    ("source", "str"),
    ("collection", "str"),
    ("sha256", "str"),
)
DELETION_FIELDS: Fields = (
    ("uid", "str"),
    ("platform", "str"),
    ("id", "str"),
    ("deleted_at", "time"),
    ("retrieved_at", "time"),
    ("source", "str"),
    ("collection", "str"),
    ("sha256", "str"),
)


@dataclass(frozen=True, slots=True)
class Table:
    name: str  # the store's table, and the export file's kind: NAME.<name>.<format>
    fields: Fields
    key: tuple[str, ...]  # primary key: pages are keyed on it
    has_context: bool


VERSIONS = Table("versions", VERSION_FIELDS, ("uid", "version"), has_context=True)
DELETIONS = Table("deletions", DELETION_FIELDS, ("uid",), has_context=False)
_SQL_TABLE = {"versions": "post_versions", "deletions": "deletions"}


@dataclass(frozen=True, slots=True)
class HistoryRow:
    values: dict[str, Any]  # by field name; times as aware datetimes
    raw: bytes  # the payload byte for byte
    context: dict[str, Any] | None = None

    def record(self, fields: Fields) -> dict[str, Any]:
        """The row as one JSON object: its fields, and the payload as text when it is UTF-8
        (``raw``: encoded back, exactly the bytes) or else in base64 (``raw_base64``)."""
        out: dict[str, Any] = {name: self.values.get(name) for name, _ in fields}
        try:
            out["raw"] = self.raw.decode()
        except UnicodeDecodeError:
            out["raw_base64"] = self.raw
        if self.context is not None:
            out["context"] = self.context
        return out

    def json_line(self, fields: Fields) -> bytes:
        return orjson.dumps(self.record(fields), default=_base64)


def _base64(value: Any) -> str:
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    raise TypeError(f"not JSON: {type(value).__name__}")


def _of_posts(store: Store, where: PostFilter) -> tuple[list[str], list[object]]:
    """Rows of the posts ``where`` selects; every row when it selects all."""
    conds, args = where.where(store)
    if not conds:
        return [], []
    return [f"uid IN (SELECT uid FROM posts WHERE {' AND '.join(conds)})"], args


def selection(store: Store, table: Table, where: PostFilter) -> tuple[str, list[object]]:
    """The query that selects ``table``'s rows for an export filtered by ``where``."""
    conds, args = _of_posts(store, where)
    sql = f"SELECT * FROM {_SQL_TABLE[table.name]}" + (f" WHERE {conds[0]}" if conds else "")
    return placeholders(sql + f" ORDER BY {', '.join(table.key)}", store), args


async def iter_rows(
    store: Store, table: Table, where: PostFilter, page_size: int = PAGE_SIZE
) -> AsyncIterator[list[HistoryRow]]:
    columns = [name for name, _ in table.fields] + ["raw"]
    columns += ["context"] if table.has_context else []
    conds, args = _of_posts(store, where)
    pages = iter_keyed(
        store, _SQL_TABLE[table.name], columns, table.key, conds, args, page_size=page_size
    )
    async for rows in pages:
        yield [_row(table, columns, r) for r in rows]


def _row(table: Table, columns: list[str], r: tuple[object, ...]) -> HistoryRow:
    values: dict[str, Any] = {}
    for (name, kind), value in zip(table.fields, r, strict=False):
        values[name] = as_time(value) if kind == "time" else value
    raw = r[columns.index("raw")]
    context = r[columns.index("context")] if table.has_context else None
    return HistoryRow(
        values=values,
        raw=bytes(raw) if isinstance(raw, bytes | bytearray | memoryview) else str(raw).encode(),
        context=orjson.loads(context) if isinstance(context, str | bytes) else None,
    )
