"""Jobs handled strictly in the order they were put, while the one who puts them goes on.

The enrich agent puts a batch's work (running in the enrich process) and takes its next
batch at once; here each job's result is handled (published) only after every job put before
it was, so records reach the broker in the order their batches were read, marks always after
the facts they cover. (Faust acks a batch's events when the agent takes the next one: the
agent holds one more reference to them, dropped when they are published, so no offset is
committed before what its events caused is on the broker.)
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Outbox(Generic[T]):
    def __init__(
        self,
        handle: Callable[[T], Awaitable[None]],
        *,
        on_error: Callable[[BaseException], Awaitable[None]],
        depth: int = 4,
    ) -> None:
        self._handle = handle
        self._on_error = on_error
        self._failed = False
        self._slots = asyncio.Semaphore(depth)  # jobs outstanding at once: back-pressure
        self._last: asyncio.Future[None] | None = None

    async def put(self, job: Awaitable[T]) -> None:
        """Queue ``job``'s result to be handled after every job put before it; waits while
        ``depth`` jobs are outstanding. A failed job fails every job after it, and ``put``
        and ``settled`` raise its error from then on."""
        try:
            self._raise_if_failed()
        except RuntimeError:
            if asyncio.iscoroutine(job):
                job.close()  # refused: it never runs
            raise
        await self._slots.acquire()
        self._last = asyncio.ensure_future(self._run(self._last, asyncio.ensure_future(job)))

    async def _run(self, before: asyncio.Future[None] | None, job: asyncio.Future[T]) -> None:
        try:
            if before is not None:
                await before
            await self._handle(await job)
        except BaseException as exc:
            job.cancel()
            if not self._failed and not isinstance(exc, asyncio.CancelledError):
                self._failed = True  # the first failure; the jobs after it fail with it
                await self._on_error(exc)
            raise
        finally:
            self._slots.release()

    def idle(self) -> bool:
        return self._last is None or self._last.done()

    async def settled(self) -> None:
        """Every job put so far handled (or the error of the first that failed)."""
        if self._last is not None:
            await asyncio.shield(self._last)

    def _raise_if_failed(self) -> None:
        last = self._last
        if last is not None and last.done() and not last.cancelled() and last.exception():
            raise RuntimeError("an earlier batch could not be published") from last.exception()
