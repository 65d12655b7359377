"""Server-sent events fan-out: one update built per push, queued to every connected page."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import orjson

from pipeline.dashboard.state import DashboardState

CLIENT_QUEUE = 16


def sse(event: str, data: Any) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


@dataclass(eq=False)
class Client:
    queue: asyncio.Queue[bytes | None] = field(default_factory=lambda: asyncio.Queue(CLIENT_QUEUE))


class Hub:
    """One update built per push, queued to every connected page.

    A page that falls behind has its queue replaced by one fresh snapshot instead of
    buffering without bound.
    """

    def __init__(self, state: DashboardState) -> None:
        self.state = state
        self.clients: set[Client] = set()
        self.pushed = 0

    def register(self) -> tuple[Client, bytes]:
        """A new client and its first event, taken in the same step so no update is missed."""
        client = Client()
        self.clients.add(client)
        return client, sse("snapshot", self.state.snapshot())

    def unregister(self, client: Client) -> None:
        self.clients.discard(client)

    def push(self) -> None:
        if not self.clients:
            self.state.discard_changes()
            return
        update = self.state.take_update()
        if update is None:
            return
        self.pushed += 1
        message = sse("update", update)
        resync: bytes | None = None
        for client in self.clients:
            try:
                client.queue.put_nowait(message)
            except asyncio.QueueFull:
                if resync is None:
                    resync = sse("snapshot", self.state.snapshot())
                _drain(client.queue)
                client.queue.put_nowait(resync)

    def close(self) -> None:
        for client in self.clients:
            _drain(client.queue)
            client.queue.put_nowait(None)


def _drain(queue: asyncio.Queue[Any]) -> None:
    while not queue.empty():
        queue.get_nowait()
