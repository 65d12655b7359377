"""Server-sent events, parsed incrementally from the bytes as they arrive.

Written here rather than taken from an SSE client library for two reasons: each event's data
must stay the exact bytes the server sent (they become a post's ``raw`` and its SHA-256), and
comment lines must be seen — Mastodon's ``:thump`` heartbeat is a comment, which the
EventSource specification (and so the libraries) swallow, and it is how a stalled stream is
told from a quiet one.

The framing follows the specification (html.spec.whatwg.org, "Interpreting an event
stream"): lines end in CRLF, LF or CR; ``field: value`` with one optional space after the
colon; ``data`` lines are joined with LF; a blank line dispatches the event; a line starting
with ``:`` is a comment. A line or an event larger than ``max_event`` is not kept in memory:
it is reported as ``Oversized`` with its first bytes, and the stream reads on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_LINE_END = re.compile(rb"\r\n|\r|\n")
_HEAD = 512  # bytes of an oversized event kept for its dead letter
_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True, slots=True)
class Event:
    event: str  # "message" when the server names none
    data: bytes  # the data lines joined by LF, as sent


@dataclass(frozen=True, slots=True)
class Comment:
    text: bytes  # without the leading colon: b"thump", b")"


@dataclass(frozen=True, slots=True)
class Oversized:
    size: int  # at least this many bytes
    head: bytes  # the first bytes, for the dead letter


Item = Event | Comment | Oversized


class SseParser:
    def __init__(self, max_event: int = 8 * 1024 * 1024) -> None:
        self.max_event = max_event
        self._buffer = bytearray()
        self._after_cr = False  # the last chunk ended in CR: a leading LF belongs to it
        self._event = ""
        self._data: list[bytes] = []
        self._size = 0
        self._dropping: Oversized | None = None  # inside an oversized event
        self._started = False

    def feed(self, chunk: bytes) -> list[Item]:
        """Everything ``chunk`` completes, in order."""
        if self._after_cr and chunk.startswith(b"\n"):
            chunk = chunk[1:]
        self._after_cr = False
        if not chunk:
            return []
        self._buffer += chunk
        if not self._started:  # a byte order mark before the first line is not content
            if len(self._buffer) < len(_BOM) and _BOM.startswith(self._buffer):
                return []
            self._started = True
            if self._buffer.startswith(_BOM):
                del self._buffer[: len(_BOM)]
        out: list[Item] = []
        start = 0
        for match in _LINE_END.finditer(self._buffer):
            end = match.start()
            if match.group() == b"\r" and match.end() == len(self._buffer):
                self._after_cr = True
            self._line(bytes(self._buffer[start:end]), out)
            start = match.end()
        del self._buffer[:start]
        if len(self._buffer) > self.max_event:  # a line that never ends: drop, keep the head
            self._oversized(len(self._buffer), bytes(self._buffer[:_HEAD]), out)
            self._buffer.clear()
        return out

    def _oversized(self, size: int, head: bytes, out: list[Item]) -> None:
        if self._dropping is None:
            head = b"\n".join(self._data)[:_HEAD] if self._data else head
            self._dropping = Oversized(size=self._size + size, head=head)
            out.append(self._dropping)
        self._data.clear()
        self._size = 0

    def _line(self, line: bytes, out: list[Item]) -> None:
        if not line:
            self._dispatch(out)
            return
        if line.startswith(b":"):
            out.append(Comment(line[1:]))
            return
        name, colon, value = line.partition(b":")
        if colon and value.startswith(b" "):
            value = value[1:]
        if self._dropping is not None:
            return
        if name == b"data":
            if self._size + len(value) > self.max_event:
                self._oversized(len(value), value[:_HEAD], out)
                return
            self._size += len(value) + 1
            self._data.append(value)
        elif name == b"event":
            self._event = value.decode("utf-8", "replace")
        # ``id`` and ``retry`` are for EventSource reconnection, which hashwatch does itself

    def _dispatch(self, out: list[Item]) -> None:
        if self._dropping is None and self._data:
            out.append(Event(self._event or "message", b"\n".join(self._data)))
        self._event = ""
        self._data.clear()
        self._size = 0
        self._dropping = None
