"""How a command runs: until done or signalled, so every stop is graceful."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Coroutine
from typing import Any


def run_until_signal(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run until done; SIGINT and SIGTERM cancel it, and the cancelled run returns None."""

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
