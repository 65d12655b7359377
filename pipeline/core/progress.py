"""Progress of long work (run, replay, backfill, export) for the person waiting on it.

On a terminal it is one bar redrawn in place, with rate and ETA; anywhere else (a log file,
CI, ``nohup``) it is a plain line every ``interval`` seconds, so logs stay readable. No
dependency: the bar is a few characters, and drawing happens only when an update is due, so
``advance`` can be called once per post.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import time
from collections import deque
from collections.abc import Callable
from types import TracebackType
from typing import TextIO

TTY_INTERVAL = 0.2  # redraws per second on a terminal: smooth enough, cheap enough
LINE_INTERVAL = 5.0  # same pace as the collectors' progress log lines
RATE_WINDOW = 10.0  # seconds of history behind the rate (and so the ETA)


def is_terminal(stream: TextIO) -> bool:
    """A real terminal that can redraw a line (not ``TERM=dumb``, not a pipe or a file)."""
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):  # closed or a bare writer
        return False
    return tty and os.environ.get("TERM", "") != "dumb"


def format_duration(seconds: float) -> str:
    """``0:07``, ``12:30``, ``3:04:05``: short enough for a status line."""
    total = max(int(seconds + 0.5), 0)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def format_rate(rate: float) -> str:
    return f"{rate:,.0f}/s" if rate >= 10 else f"{rate:.1f}/s"


class Progress:
    """Count work done against an optional total and show it on ``stream``.

    ``total=None`` shows a count and a rate (no ETA); ``set_total`` can supply the total once
    it is known (e.g. ``hashwatch run`` knows how many posts to drain only after replaying).
    ``advance(n)`` adds to the count, ``update(done)`` sets it (for counters kept elsewhere).
    Off a terminal, ``log`` (if given) takes the lines instead of ``stream``, so they follow
    ``--log-format json`` like every other line a long-running process writes.
    """

    def __init__(
        self,
        total: int | None,
        label: str,
        stream: TextIO | None = None,
        interval: float | None = None,
        *,
        unit: str = "",
        log: logging.Logger | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total = total
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.tty = is_terminal(self.stream)
        self.interval = (
            interval if interval is not None else (TTY_INTERVAL if self.tty else LINE_INTERVAL)
        )
        self.unit = unit
        self.log = log
        self.done = 0
        self.closed = False
        self._clock = clock
        self._started = clock()
        self._next_draw = self._started + self.interval
        self._history: deque[tuple[float, int]] = deque([(self._started, 0)])

    # -- counting ---------------------------------------------------------------------------

    def advance(self, n: int = 1) -> None:
        self.done += n
        self._maybe_draw()

    def update(self, done: int) -> None:
        self.done = done
        self._maybe_draw()

    def set_total(self, total: int | None) -> None:
        self.total = total
        self._maybe_draw()

    def close(self) -> None:
        """Draw the final state (always, even if nothing was due) and end the line."""
        if self.closed:
            return
        self.closed = True
        now = self._clock()
        self._history.append((now, self.done))
        if self.tty:
            self._write("\r\x1b[2K" + self._bar_line(now, final=True) + "\n")
        else:
            self._line(self._plain_line(now, final=True))

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- figures ----------------------------------------------------------------------------

    def rate(self, now: float | None = None) -> float:
        """Units per second over the last ``RATE_WINDOW`` seconds (the whole run if shorter)."""
        now = self._clock() if now is None else now
        then, done_then = self._history[-1]
        for t, d in self._history:
            if now - t <= RATE_WINDOW:
                then, done_then = t, d
                break
        elapsed = now - then
        if elapsed <= 0:
            return 0.0
        return max(self.done - done_then, 0) / elapsed

    def eta(self, now: float | None = None) -> float | None:
        """Seconds left at the current rate; None without a total or before any progress."""
        if self.total is None:
            return None
        left = self.total - self.done
        if left <= 0:
            return 0.0
        rate = self.rate(now)
        return left / rate if rate > 0 else None

    # -- drawing ----------------------------------------------------------------------------

    def _maybe_draw(self) -> None:
        if self.closed:
            return
        now = self._clock()
        if now < self._next_draw:
            return
        self._next_draw = now + self.interval
        self._history.append((now, self.done))
        while len(self._history) > 2 and now - self._history[1][0] > RATE_WINDOW:
            self._history.popleft()
        if self.tty:
            self._write("\r\x1b[2K" + self._bar_line(now))
        else:
            self._line(self._plain_line(now))

    def _count(self) -> str:
        unit = f" {self.unit}" if self.unit else ""
        if self.total is None:
            return f"{self.done:,}{unit}"
        return f"{self.done:,}/{self.total:,}{unit}"

    def _percent(self) -> float | None:
        if not self.total:
            return None
        return min(100.0 * self.done / self.total, 100.0)

    def _tail(self, now: float, final: bool) -> str:
        elapsed = format_duration(now - self._started)
        if final:
            overall = self.done / (now - self._started) if now > self._started else 0.0
            return f"{format_rate(overall)}, {elapsed}"
        eta = self.eta(now)
        left = f"ETA {format_duration(eta)}" if eta is not None else f"{elapsed} elapsed"
        return f"{format_rate(self.rate(now))}, {left}"

    def _plain_line(self, now: float, final: bool = False) -> str:
        pct = self._percent()
        share = f" ({pct:.0f}%)" if pct is not None else ""
        state = " done" if final else ""
        return f"{self.label}:{state} {self._count()}{share}, {self._tail(now, final)}"

    def _bar_line(self, now: float, final: bool = False) -> str:
        pct = self._percent()
        tail = f"  {self._count()}  {self._tail(now, final)}"
        width = shutil.get_terminal_size((80, 24)).columns - 1
        if pct is None:
            return (self.label + tail)[:width]
        head = f"{self.label} {pct:3.0f}% "
        room = max(width - len(head) - len(tail) - 2, 10)
        filled = int(room * pct / 100)
        bar = "[" + "#" * filled + "-" * (room - filled) + "]"
        return (head + bar + tail)[:width]

    def _line(self, text: str) -> None:
        if self.log is not None:
            self.log.info("%s", text)
        else:
            self._write(text + "\n")

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):  # a closed pipe must never stop the work itself
            pass
