"""The live dashboard: an aiohttp app fed by a background consumer of the output topics.

- ``GET /api/snapshot`` is every aggregate as JSON; ``GET /events`` is server-sent events: a
  ``snapshot`` event on connect, then at most one ``update`` event per push interval (500 ms)
  carrying the aggregates and only the new posts, alerts and changed minutes.
- Access (loopback by default, a token anywhere else) is ``pipeline.dashboard.access``; the
  state is fed by ``pipeline.dashboard.feeder``.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import orjson
from aiohttp import web

from pipeline.core.settings import Settings
from pipeline.core.topics import Topics, create_topics
from pipeline.dashboard.access import (
    ALLOWED_HOSTS,
    TOKEN,
    AccessLogger,
    check_bind,
    guard,
    security_headers,
)
from pipeline.dashboard.feeder import Feeder
from pipeline.dashboard.hub import Hub
from pipeline.dashboard.state import DashboardState

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
PUSH_INTERVAL = 0.5
KEEPALIVE = 15.0
STATE = web.AppKey("state", DashboardState)
HUB = web.AppKey("hub", Hub)


async def index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "index.html")


async def snapshot(request: web.Request) -> web.Response:
    body = orjson.dumps(request.app[STATE].snapshot())
    return web.Response(body=body, content_type="application/json")


async def events(request: web.Request) -> web.StreamResponse:
    hub = request.app[HUB]
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream; charset=utf-8",
            "Cache-Control": "no-cache, no-store",
            "X-Accel-Buffering": "no",
        }
    )
    await response.prepare(request)
    client, first = hub.register()
    try:
        await response.write(b"retry: 3000\n\n" + first)
        while True:
            try:
                message = await asyncio.wait_for(client.queue.get(), KEEPALIVE)
            except TimeoutError:
                await response.write(b": keepalive\n\n")
                continue
            if message is None:
                break
            await response.write(message)
    except (ConnectionResetError, ConnectionError):
        pass
    finally:
        hub.unregister(client)
    return response


def make_app(
    state: DashboardState, token: str | None, allowed_hosts: frozenset[str] | None
) -> web.Application:
    app = web.Application(middlewares=[guard])
    hub = Hub(state)
    app[STATE] = state
    app[HUB] = hub
    app[TOKEN] = token
    app[ALLOWED_HOSTS] = allowed_hosts
    app.router.add_get("/", index)
    app.router.add_get("/index.html", index)
    app.router.add_get("/api/snapshot", snapshot)
    app.router.add_get("/events", events)
    app.router.add_static("/static", STATIC, follow_symlinks=False)
    app.on_response_prepare.append(security_headers)

    async def close_streams(app: web.Application) -> None:
        hub.close()

    app.on_shutdown.append(close_streams)
    return app


@dataclass
class DashboardHandle:
    """A running dashboard: ``url`` to open, ``state`` to inspect, ``close()`` to stop."""

    host: str
    port: int
    state: DashboardState
    runner: web.AppRunner
    feeder: Feeder

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    async def close(self) -> None:
        await self.feeder.stop()
        await self.runner.cleanup()

    async def __aenter__(self) -> DashboardHandle:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


async def serve_dashboard(
    settings: Settings,
    bootstrap: str,
    host: str | None = None,
    port: int | None = None,
    *,
    push_interval: float = PUSH_INTERVAL,
) -> DashboardHandle:
    """Start the dashboard in this event loop; ``port=0`` picks a free port.

    ``bootstrap`` is ``host:port`` (a ``kafka://`` prefix is accepted). Raises
    :class:`DashboardConfigError` before binding anything if the bind would be unsafe.
    """
    host = host if host is not None else settings.dashboard_host
    port = settings.dashboard_port if port is None else port
    token = settings.dashboard_token.get_secret_value() if settings.dashboard_token else None
    token = token or None
    check_bind(host, token)
    bootstrap = bootstrap.removeprefix("kafka://")
    topics = Topics(settings.topic_prefix)
    try:
        await create_topics(bootstrap, topics, settings.partitions)
    except Exception as exc:  # e.g. no create rights on a production cluster: read what exists
        log.warning("dashboard: could not ensure the topics exist: %s", exc)
    allowed = None
    if not token:  # loopback only: answer loopback names, nothing a rebinding page could use
        bound_name = f"[{host.lower()}]" if ":" in host else host.lower()
        allowed = frozenset({"127.0.0.1", "localhost", "[::1]", bound_name})
    state = DashboardState()
    app = make_app(state, token, allowed)
    runner = web.AppRunner(app, access_log_class=AccessLogger, shutdown_timeout=2.0)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    bound = port
    for address in runner.addresses:
        if isinstance(address, tuple) and len(address) >= 2:
            bound = int(address[1])
            break
    feeder = Feeder(state, app[HUB], bootstrap, topics, push_interval)
    feeder.start()
    handle = DashboardHandle(host=host, port=bound, state=state, runner=runner, feeder=feeder)
    log.info(
        "dashboard on %s (topics %s.*%s)",
        handle.url,
        topics.prefix,
        ", token required" if token else "",
    )
    return handle
