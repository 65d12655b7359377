"""Running a live collector in a test: until a condition holds, then a clean stop."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from agents.base import Collector, CollectorStats


async def run_until(
    collector: Collector, done: Callable[[], bool], timeout: float = 30
) -> CollectorStats:
    """Run ``collector`` until ``done()``; fail if it returns first or never gets there."""
    task = asyncio.create_task(collector.run())
    deadline = time.monotonic() + timeout
    while not done():
        if task.done():
            await task
            pytest.fail("collector returned before the test's condition held")
        if time.monotonic() > deadline:
            collector.stop()
            await asyncio.wait_for(task, 10)
            pytest.fail("condition not reached in time")
        await asyncio.sleep(0.02)
    collector.stop()
    return await asyncio.wait_for(task, 10)
