"""What an API's rate-limit headers say, and waiting for the window to reset.

X sends ``x-rate-limit-remaining`` / ``x-rate-limit-reset``, Bluesky ``ratelimit-remaining`` /
``ratelimit-reset`` (both Unix seconds), Mastodon ``X-RateLimit-Remaining`` /
``X-RateLimit-Reset`` (an ISO 8601 time). A ``RateLimit`` keeps the last answer's: with nothing
remaining the next request waits for the reset, and a 429 waits for the reset it names (a
minute without one). Every wait goes through the collector's ``Waiter``, logged with why.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import datetime

from pipeline.core.backoff import Waiter

NO_RESET_WAIT = 60.0  # a 429 that names no reset time


def _reset_time(value: str) -> float:
    """Unix seconds, or an ISO 8601 time."""
    try:
        return float(value)
    except ValueError:
        return datetime.fromisoformat(value.strip().replace("Z", "+00:00")).timestamp()


class RateLimit:
    def __init__(self, waiter: Waiter, remaining: str, reset: str, what: str) -> None:
        self.waiter = waiter
        self.headers = (remaining, reset)  # header names, matched without regard to case
        self.what = what  # named in the reasons logged: "recent search", "searchPosts"
        self.remaining: int | None = None
        self.reset: float | None = None

    def note(self, headers: Mapping[str, str] | None) -> None:
        """Keep what a response said (nothing, when it said nothing readable)."""
        if headers is None:
            return
        found = {k.lower(): v for k, v in headers.items()}
        remaining, reset = (found.get(name.lower()) for name in self.headers)
        try:
            self.remaining = int(remaining) if remaining is not None else None
            self.reset = _reset_time(reset) if reset is not None else None
        except ValueError:
            self.remaining = self.reset = None

    async def respect(self, interrupt: asyncio.Event | None) -> None:
        """Before a request: with nothing remaining, wait until the window resets."""
        if self.remaining == 0 and self.reset is not None:
            delay = self.reset - self.waiter.clock.time() + 1  # resets are whole seconds
            if delay > 0:
                reason = f"{self.what} rate limit used up"
                await self.waiter.wait(delay, "rate-limit-reset", reason, interrupt)
            self.remaining = None

    async def wait_for_reset(self, reason: str, interrupt: asyncio.Event | None) -> None:
        """After a 429: until the reset it named, then the request is tried again."""
        reset = self.reset
        delay = NO_RESET_WAIT if reset is None else reset - self.waiter.clock.time() + 1
        await self.waiter.wait(delay, "rate-limit-reset", reason, interrupt)
        self.remaining = None
