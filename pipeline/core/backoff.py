"""Reconnect and retry delays, apart from any HTTP client, with an injectable clock.

X's published reconnect rules for the filtered stream
(docs: x-api/posts/filtered-stream/integrate/handling-disconnections):

- network errors (TCP/IP level, and a stalled stream): back off *linearly*, 250 ms more each
  attempt, up to 16 s;
- HTTP errors worth retrying (5xx and the like): back off *exponentially*, from 5 s doubling
  up to 320 s;
- HTTP 429 (rate limited / too many connections): exponentially from 60 s. X names no ceiling;
  we stop doubling at 960 s, the first step past one 15-minute rate-limit window.

Every schedule restarts after a successful connection (``ReconnectPolicy.reset``). Every wait
goes through a ``Waiter``, which logs the delay with its reason and keeps a history, and sleeps
on a ``Clock`` that tests replace so they run fast and can assert the exact schedule.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Literal, Protocol

Schedule = Literal["network", "http", "http-429"]

log = logging.getLogger(__name__)


class Clock(Protocol):
    """Wall time (epoch seconds, for API timestamps and gap bounds) and sleeping."""

    def time(self) -> float: ...
    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def time(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class LinearBackoff:
    """``step``, 2×``step``, 3×``step``… capped at ``cap``."""

    def __init__(self, step: float = 0.25, cap: float = 16.0) -> None:
        self.step = step
        self.cap = cap
        self.attempts = 0

    def next(self) -> float:
        self.attempts += 1
        return min(self.step * self.attempts, self.cap)

    def reset(self) -> None:
        self.attempts = 0


class ExponentialBackoff:
    """``start``, then doubled (×``factor``) each attempt, capped at ``cap``."""

    def __init__(self, start: float, cap: float, factor: float = 2.0) -> None:
        self.start = start
        self.cap = cap
        self.factor = factor
        self.attempts = 0

    def next(self) -> float:
        delay = min(self.start * self.factor**self.attempts, self.cap)
        self.attempts += 1
        return delay

    def reset(self) -> None:
        self.attempts = 0


@dataclass
class ReconnectPolicy:
    """X's three reconnect schedules, each advancing on its own, all reset on success."""

    network: LinearBackoff = field(default_factory=lambda: LinearBackoff(0.25, 16.0))
    http: ExponentialBackoff = field(default_factory=lambda: ExponentialBackoff(5.0, 320.0))
    rate_limited: ExponentialBackoff = field(
        default_factory=lambda: ExponentialBackoff(60.0, 960.0)
    )

    def next(self, schedule: Schedule) -> float:
        if schedule == "network":
            return self.network.next()
        if schedule == "http":
            return self.http.next()
        return self.rate_limited.next()

    def reset(self) -> None:
        self.network.reset()
        self.http.reset()
        self.rate_limited.reset()


@dataclass(frozen=True, slots=True)
class Delay:
    seconds: float
    schedule: str  # "network", "http", "http-429", "rate-limit-reset", ...
    reason: str


class Waiter:
    """Sleeps on the clock; every delay is logged with its reason and kept in ``history``."""

    def __init__(self, clock: Clock, name: str) -> None:
        self.clock = clock
        self.name = name
        self.history: list[Delay] = []

    async def wait(
        self, seconds: float, schedule: str, reason: str, interrupt: asyncio.Event | None = None
    ) -> None:
        """Wait ``seconds``; returns early if ``interrupt`` is set (a stop)."""
        seconds = max(seconds, 0.0)
        self.history.append(Delay(seconds, schedule, reason))
        log.warning("%s: waiting %.2f s (%s): %s", self.name, seconds, schedule, reason)
        if interrupt is None:
            await self.clock.sleep(seconds)
            return
        if interrupt.is_set():
            return
        sleeper = asyncio.ensure_future(self.clock.sleep(seconds))
        stopper = asyncio.ensure_future(interrupt.wait())
        try:
            await asyncio.wait({sleeper, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            stopper.cancel()
