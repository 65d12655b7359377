"""JSONL: each post exactly as it arrived, one per line, the way twarc2 writes them.

For X that is the stream line, the flattened line, or (from a search page) a one-item page
holding the item's exact bytes with only its own expansions (``twarc.page_of``): twarc2,
twarc-csv and ``hashwatch run`` all read these back, and ``hashwatch run`` gets the same
bytes and SHA-256 again. Gaps are Gap v1 records, one per line.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import BinaryIO

import orjson

from pipeline.exports.history import Fields, HistoryRow
from pipeline.exports.reader import GapRow, StoredPost
from pipeline.exports.twarc import page_of
from schemas.codec import encode
from schemas.gap import Gap

EXTENSION = "jsonl"
NEEDS_CHILDREN = False
BINARY = True


class PostWriter:
    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream

    def write(self, posts: Sequence[StoredPost]) -> None:
        self.stream.write(b"".join(one_line(payload_line(p)) + b"\n" for p in posts))

    def close(self) -> None:
        self.stream.flush()


class TableWriter:
    """Versions and deletions: one JSON object per row, with its payload (``HistoryRow``)."""

    def __init__(self, stream: BinaryIO, fields: Fields) -> None:
        self.stream, self.fields = stream, fields

    def write(self, rows: Sequence[HistoryRow]) -> None:
        self.stream.write(b"".join(r.json_line(self.fields) + b"\n" for r in rows))

    def close(self) -> None:
        self.stream.flush()


def payload_line(post: StoredPost) -> bytes:
    """The post as the platform's archive line: X page items go back into a one-item page."""
    return page_of(post.raw, post.context) if post.platform == "x" else post.raw


def one_line(raw: bytes) -> bytes:
    """The payload byte for byte, unless it spans lines (pretty-printed): then re-encoded."""
    if b"\n" not in raw and b"\r" not in raw:
        return raw
    try:
        return orjson.dumps(orjson.loads(raw))
    except orjson.JSONDecodeError:
        return orjson.dumps(raw.decode("utf-8", "replace"))


def write_gaps(stream: BinaryIO, gaps: Sequence[GapRow]) -> None:
    for g in gaps:
        record = Gap(
            id=g.id,
            collector=g.collector,
            start=g.start,
            end=g.end,
            reason=g.reason,
            recovered=g.recovered,
        )
        stream.write(encode(record) + b"\n")
