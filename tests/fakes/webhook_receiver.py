"""A real HTTP webhook receiver on 127.0.0.1 that records what it is sent."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from aiohttp import web


@dataclass
class Received:
    body: bytes
    headers: dict[str, str]


@dataclass
class Receiver:
    url: str = ""
    received: list[Received] = field(default_factory=list)
    fail_first: int = 0  # answer 503 to this many requests first
    status_after: int = 200


@asynccontextmanager
async def webhook_receiver(fail_first: int = 0) -> AsyncIterator[Receiver]:
    receiver = Receiver(fail_first=fail_first)

    async def handle(request: web.Request) -> web.Response:
        if receiver.fail_first > 0:
            receiver.fail_first -= 1
            return web.Response(status=503)
        receiver.received.append(Received(await request.read(), dict(request.headers)))
        return web.Response(status=receiver.status_after)

    app = web.Application()
    app.router.add_post("/hook", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    receiver.url = f"http://127.0.0.1:{port}/hook"
    try:
        yield receiver
    finally:
        await runner.cleanup()
