"""Rate-limit headers as X, Bluesky and Mastodon send them, and the waits they cause."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

from agents.testing import FastClock
from pipeline.core.backoff import Waiter
from pipeline.core.ratelimit import RateLimit


async def test_headers_in_unix_seconds_or_iso_time_set_the_waits() -> None:
    clock = FastClock()
    waiter = Waiter(clock, "test")
    reset = int(time.time()) + 30
    bluesky = RateLimit(waiter, "ratelimit-remaining", "ratelimit-reset", "searchPosts")
    bluesky.note({"RateLimit-Remaining": "0", "RateLimit-Reset": str(reset)})  # any case
    await bluesky.respect(None)
    assert abs(clock.sleeps[-1] - 31) < 1.5 and bluesky.remaining is None
    await bluesky.respect(None)  # waited once; the next request goes
    assert len(clock.sleeps) == 1

    mastodon = RateLimit(waiter, "X-RateLimit-Remaining", "X-RateLimit-Reset", "timeline")
    iso = datetime.fromtimestamp(reset, UTC).isoformat().replace("+00:00", "Z")
    mastodon.note({"X-RateLimit-Remaining": "12", "X-RateLimit-Reset": iso})
    assert mastodon.remaining == 12 and mastodon.reset == reset
    await mastodon.respect(None)
    assert len(clock.sleeps) == 1  # requests remain: no wait

    mastodon.note({"X-RateLimit-Remaining": "many", "X-RateLimit-Reset": "soon"})
    assert (mastodon.remaining, mastodon.reset) == (None, None)
    await mastodon.wait_for_reset("timeline answered 429", None)  # a 429 naming no reset
    assert clock.sleeps[-1] == 60.0
    assert [d.schedule for d in waiter.history] == ["rate-limit-reset"] * 2
    assert waiter.history[0].reason == "searchPosts rate limit used up"

    stop = asyncio.Event()
    stop.set()
    bluesky.note({"ratelimit-remaining": "0", "ratelimit-reset": str(reset + 900)})
    await bluesky.respect(stop)  # a stop cuts the wait short
    assert len(clock.sleeps) == 2
