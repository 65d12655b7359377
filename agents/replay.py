"""Replay archives (plain or gzipped JSON lines) into the raw topic, whatever the platform.

Each line is offered to the platforms' archive formats in turn (``FORMATS``, most specific
first), so one archive may mix twarc2 output with other platforms' captures. A line that is
not JSON or cannot be mapped is dead-lettered with its bytes and the replay goes on; so does a
file that cannot be read to its end (a cut gzip, a directory): what was read of it is kept,
the rest is an ``unreadable-archive`` dead letter, and the next file is read.
"""

from __future__ import annotations

import asyncio
import gzip
import logging
import time
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any, cast

import orjson

from agents.base import Collector
from agents.bluesky.archive import BlueskyArchive
from agents.mastodon.archive import MastodonArchive, is_sse, sse_events
from agents.payloads import ArchiveFormat, MappingError, NotAPost
from agents.publisher import Publisher
from agents.x.payload import XArchive
from schemas.post import PostDeletion

log = logging.getLogger(__name__)

# Most specific first: X's shapes are the loosest, so they come last.
FORMATS: list[ArchiveFormat] = [BlueskyArchive(), MastodonArchive(), XArchive()]


def open_archive(path: Path) -> IO[bytes]:
    """gzip is recognised by its magic bytes, not the file name."""
    with open(path, "rb") as probe:
        magic = probe.read(2)
    if magic == b"\x1f\x8b":
        return cast(IO[bytes], gzip.GzipFile(path, "rb"))
    return open(path, "rb")


# A file this small whose first line is not JSON may be one pretty-printed JSON document (an
# API response saved as is); bigger ones are read as JSON lines, bad lines dead-lettered.
WHOLE_DOCUMENT_LIMIT = 64 * 1024 * 1024


def archive_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """Each non-blank line, numbered; a pretty-printed JSON document as one line; a capture of
    Mastodon's streaming API (server-sent events) as its events."""
    whole = _one_document(path)
    if whole is not None:
        yield 1, whole
        return
    with open_archive(path) as fh:
        first = next((line for line in fh if line.strip()), b"")
    with open_archive(path) as fh:
        if is_sse(first):
            yield from sse_events(fh)
            return
        for number, line in enumerate(fh, start=1):
            if line.strip():
                yield number, line.rstrip(b"\r\n")


def _one_document(path: Path) -> bytes | None:
    with open_archive(path) as fh:
        first = next((line for line in fh if line.strip()), b"")
        try:
            orjson.loads(first)
            return None  # JSON lines
        except orjson.JSONDecodeError:
            pass
        rest = fh.read(WHOLE_DOCUMENT_LIMIT + 1)
    document = first + rest
    if len(document) > WHOLE_DOCUMENT_LIMIT:
        return None
    try:
        orjson.loads(document)
    except orjson.JSONDecodeError:
        return None
    return document.strip()


class ReplayCollector(Collector):
    """As fast as possible by default; ``speed=N`` keeps N times the original pace."""

    name = "replay"

    def __init__(
        self, publisher: Publisher, paths: Sequence[Path], *, speed: float | None = None
    ) -> None:
        super().__init__(publisher)
        self.paths = list(paths)
        self.speed = speed
        self._first_event: float | None = None
        self._wall_start = 0.0

    def parameters(self) -> dict[str, Any]:
        return {"files": [str(p) for p in self.paths], "speed": self.speed}

    async def collect(self) -> None:
        for path in self.paths:
            number = 0
            try:
                for number, line in archive_lines(path):
                    if not self.running:
                        return
                    await self._replay_line(line, f"{path}:{number}")
                    if number % 1000 == 0:
                        await asyncio.sleep(0)  # let the producer and the worker breathe
            except (OSError, EOFError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError
                where = f"after line {number}" if number else "before its first line"
                detail = f"cannot read {path} {where}: {type(exc).__name__}: {exc}"
                await self.reject("unreadable-archive", detail, str(path), b"")

    async def _replay_line(self, line: bytes, source: str) -> None:
        self.stats.read += 1
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            await self.reject("invalid-json", str(exc), source, line)
            return
        fmt = next((f for f in FORMATS if f.accepts(obj)), None)
        if fmt is None:
            self.stats.skipped["unknown-format"] += 1
            return
        try:
            results = list(fmt.read(obj, line, self.provenance(source)))
        except NotAPost as exc:
            self.stats.skipped[str(exc)] += 1
            return
        except (LookupError, TypeError, AttributeError, ValueError, RecursionError) as exc:
            # A shape no mapping foresaw: a bug to fix, but never one that stops the replay.
            log.error("%s: %s mapping failed at %s", self.name, fmt.platform, source, exc_info=exc)
            detail = f"unexpected payload shape: {type(exc).__name__}: {exc}"[:500]
            await self.reject(fmt.invalid, detail, source, line)
            return
        for result in results:
            if isinstance(result, MappingError):
                await self.reject(fmt.invalid, str(result), source, line)
            elif isinstance(result, PostDeletion):
                await self.emit_deletion(result)
            else:
                if self.speed:
                    await self._keep_pace(result.created_at.timestamp())
                await self.emit(result)

    async def _keep_pace(self, event_ts: float) -> None:
        if self._first_event is None:
            self._first_event, self._wall_start = event_ts, time.monotonic()
            return
        assert self.speed
        due = self._wall_start + max(event_ts - self._first_event, 0.0) / self.speed
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
