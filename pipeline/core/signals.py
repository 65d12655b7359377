"""How a command runs: until done or signalled, so every stop is graceful."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Coroutine
from typing import Any

import uvloop


def run_until_signal(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run until done; SIGINT and SIGTERM cancel it, and the cancelled run returns None.

    Every event loop of the process runs on uvloop, Faust's consumer thread's too: a worker
    moved more posts/s in every A/B pair of `bench/throughput_bench.py` (cascade +12 % by the
    median of five pairs, fastText +5 % of three), with the same latency at 1,000 posts/s
    (which batch timing, not the loop, sets)."""
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())

    async def main() -> Any:
        task = asyncio.ensure_future(coro)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)
        try:
            return await task
        except asyncio.CancelledError:
            return None

    return asyncio.run(main())
