"""Parquet: the CSV's columns with their types (timestamps, integers, booleans, string lists).

Rows are buffered into row groups of ``ROW_GROUP`` posts, so memory stays bounded whatever the
size of the export.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.exports.columns import COLUMNS, row
from pipeline.exports.history import Fields, HistoryRow
from pipeline.exports.reader import GapRow, StoredPost

EXTENSION = "parquet"
NEEDS_CHILDREN = True
BINARY = True
ROW_GROUP = 10_000

TIME = pa.timestamp("us", tz="UTC")
_TYPES: dict[str, pa.DataType] = {
    "str": pa.string(),
    "json": pa.string(),
    "int": pa.int64(),
    "float": pa.float64(),
    "bool": pa.bool_(),
    "time": TIME,
    "strs": pa.list_(pa.string()),
}
POST_SCHEMA = pa.schema([pa.field(name, _TYPES[kind]) for name, kind in COLUMNS])
GAP_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("collector", pa.string(), nullable=False),
        pa.field("start", TIME, nullable=False),
        pa.field("end", TIME),
        pa.field("reason", pa.string(), nullable=False),
        pa.field("recovered", pa.int64(), nullable=False),
    ]
)


class PostWriter:
    def __init__(self, stream: BinaryIO) -> None:
        self.writer = pq.ParquetWriter(stream, POST_SCHEMA, compression="zstd")
        self.batches: list[pa.RecordBatch] = []  # Arrow memory, compact, until a row group
        self.buffered = 0

    def write(self, posts: Sequence[StoredPost]) -> None:
        if not posts:
            return
        columns = list(zip(*(row(p) for p in posts), strict=True))
        arrays = [
            pa.array(values, type=field.type)
            for values, field in zip(columns, POST_SCHEMA, strict=True)
        ]
        self.batches.append(pa.RecordBatch.from_arrays(arrays, schema=POST_SCHEMA))
        self.buffered += len(posts)
        if self.buffered >= ROW_GROUP:
            self._flush()

    def close(self) -> None:
        self._flush()
        self.writer.close()

    def _flush(self) -> None:
        if self.batches:
            self.writer.write_table(pa.Table.from_batches(self.batches, schema=POST_SCHEMA))
        self.batches, self.buffered = [], 0


class TableWriter:
    """Versions and deletions: their fields as typed columns, in row groups."""

    def __init__(self, stream: BinaryIO, fields: Fields) -> None:
        self.fields = fields
        self.schema = pa.schema([pa.field(name, _TYPES[kind]) for name, kind in fields])
        self.writer = pq.ParquetWriter(stream, self.schema, compression="zstd")

    def write(self, rows: Sequence[HistoryRow]) -> None:
        if rows:
            columns = {name: [r.values.get(name) for r in rows] for name, _ in self.fields}
            self.writer.write_table(pa.Table.from_pydict(columns, schema=self.schema))

    def close(self) -> None:
        self.writer.close()


def write_gaps(stream: BinaryIO, gaps: Sequence[GapRow]) -> None:
    table = pa.Table.from_pydict(
        {
            "id": [g.id for g in gaps],
            "collector": [g.collector for g in gaps],
            "start": [g.start for g in gaps],
            "end": [g.end for g in gaps],
            "reason": [g.reason for g in gaps],
            "recovered": [g.recovered for g in gaps],
        },
        schema=GAP_SCHEMA,
    )
    pq.write_table(table, stream, compression="zstd")
