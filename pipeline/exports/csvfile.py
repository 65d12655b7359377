"""CSV in twarc-csv's conventions: its columns and order, lists as JSON, newlines as ``\\n``.

hashwatch's own columns follow, prefixed ``hashwatch.``. Times are ISO 8601 UTC with
milliseconds and ``Z`` (X's own format), booleans ``True``/``False`` (what pandas writes and
reads back). Text keeps every character but CR, and LF becomes the two characters ``\\n`` as
twarc-csv does, so line-based tools never split a post; the JSONL and Parquet exports keep the
text exactly.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TextIO

import orjson

from pipeline.exports.columns import COLUMNS, NAMES, row
from pipeline.exports.history import Fields, HistoryRow
from pipeline.exports.reader import GapRow, StoredPost

EXTENSION = "csv"
NEEDS_CHILDREN = True
BINARY = False
GAP_COLUMNS = ("id", "collector", "start", "end", "reason", "recovered")


def cell(value: Any, kind: str) -> str:
    return "" if value is None else _CELL[kind](value)


def _text(value: str) -> str:
    return value.replace("\r", "").replace("\n", "\\n") if "\n" in value or "\r" in value else value


def _plain(value: Any) -> str:
    if isinstance(value, bool):
        return "True" if value else "False"
    return str(value)


def format_time(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class PostWriter:
    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.writer = csv.writer(stream, lineterminator="\n")
        self.writer.writerow(NAMES)

    def write(self, posts: Sequence[StoredPost]) -> None:
        self.writer.writerows(
            ["" if v is None else f(v) for v, f in zip(row(p), _CELLS, strict=True)] for p in posts
        )

    def close(self) -> None:
        self.stream.flush()


class TableWriter:
    """Versions and deletions: their fields as columns (the payloads are in the JSONL export)."""

    def __init__(self, stream: TextIO, fields: Fields) -> None:
        self.stream, self.fields = stream, fields
        self.writer = csv.writer(stream, lineterminator="\n")
        self.writer.writerow([name for name, _ in fields])

    def write(self, rows: Sequence[HistoryRow]) -> None:
        self.writer.writerows(
            [cell(r.values.get(name), kind) for name, kind in self.fields] for r in rows
        )

    def close(self) -> None:
        self.stream.flush()


def write_gaps(stream: TextIO, gaps: Sequence[GapRow]) -> None:
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(GAP_COLUMNS)
    for g in gaps:
        writer.writerow(
            [
                g.id,
                g.collector,
                format_time(g.start),
                format_time(g.end) if g.end else "",
                cell(g.reason, "str"),
                g.recovered,
            ]
        )


def _list(value: list[str]) -> str:
    return orjson.dumps(value).decode()


_CELL: dict[str, Callable[[Any], str]] = {
    "str": _text,
    "json": _text,
    "strs": _list,
    "time": format_time,
    "int": _plain,
    "float": _plain,
    "bool": _plain,
}
_CELLS = [_CELL[kind] for _, kind in COLUMNS]
