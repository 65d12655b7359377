"""The live dashboard: an aiohttp app fed by a background consumer of the output topics.

- A consumer with no group reads ``posts.enriched``, ``metrics`` and ``alerts`` from the
  earliest offsets (a page opened late still shows the whole campaign) into
  :class:`~pipeline.dashboard.state.DashboardState`; gaps are polled from the store.
- ``GET /api/snapshot`` is every aggregate as JSON; ``GET /events`` is server-sent events: a
  ``snapshot`` event on connect, then at most one ``update`` event per push interval (500 ms)
  carrying the aggregates and only the new posts, alerts and changed minutes.
- Bound to loopback by default. Anywhere else needs ``HASHWATCH_DASHBOARD_TOKEN``; when a
  token is set it is required on ``/api/*`` and ``/events`` (header ``X-Hashwatch-Token``,
  ``Authorization: Bearer``, or ``?token=`` since EventSource cannot send headers), compared
  in constant time and never logged (the access log drops query strings).
- Without a token, only loopback Host headers are answered, so a web page elsewhere cannot
  read the dashboard through DNS rebinding.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import orjson
from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiokafka import AIOKafkaConsumer, TopicPartition

from pipeline.dashboard.state import DashboardState
from pipeline.settings import Settings, redact_url
from pipeline.sinks import Store, open_store
from pipeline.topics import Topics, create_topics
from schemas.alert import Alert
from schemas.codec import DecodeError, decode
from schemas.enriched import EnrichedPost
from schemas.metrics import MetricsWindow

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
TOKEN_HEADER = "X-Hashwatch-Token"
MIN_TOKEN_LENGTH = 16
PUSH_INTERVAL = 0.5
GAPS_INTERVAL = 5.0
KEEPALIVE = 15.0
CLIENT_QUEUE = 16
GAPS_SQL = 'SELECT id, collector, start, "end", reason, recovered FROM gaps ORDER BY start DESC'
_LOOPBACK_NAMES = {"localhost", "localhost.", "ip6-localhost"}


CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)


class DashboardConfigError(ValueError):
    """The dashboard was asked to start in a way that would expose it."""


def is_loopback(host: str) -> bool:
    host = host.strip().strip("[]").lower()
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: it may resolve anywhere


def check_bind(host: str, token: str | None) -> None:
    """Refuse a non-loopback bind without a token, and any token too short to be one."""
    if token is not None and len(token) < MIN_TOKEN_LENGTH:
        raise DashboardConfigError(
            f"HASHWATCH_DASHBOARD_TOKEN must be at least {MIN_TOKEN_LENGTH} characters; "
            'make one with: python3 -c "import secrets; print(secrets.token_urlsafe(24))"'
        )
    if not token and not is_loopback(host):
        raise DashboardConfigError(
            f"refusing to serve the dashboard on {host}: anything but loopback (127.0.0.1) "
            "needs an access token. Set HASHWATCH_DASHBOARD_TOKEN (the page asks for it), "
            "or bind to 127.0.0.1 and use an SSH tunnel."
        )


def _sse(event: str, data: Any) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


# ---- SSE fan-out -------------------------------------------------------------------------


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
        return client, _sse("snapshot", self.state.snapshot())

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
        message = _sse("update", update)
        resync: bytes | None = None
        for client in self.clients:
            try:
                client.queue.put_nowait(message)
            except asyncio.QueueFull:
                if resync is None:
                    resync = _sse("snapshot", self.state.snapshot())
                _drain(client.queue)
                client.queue.put_nowait(resync)

    def close(self) -> None:
        for client in self.clients:
            _drain(client.queue)
            client.queue.put_nowait(None)


def _drain(queue: asyncio.Queue[Any]) -> None:
    while not queue.empty():
        queue.get_nowait()


# ---- HTTP ----------------------------------------------------------------------------------

STATE = web.AppKey("state", DashboardState)
HUB = web.AppKey("hub", Hub)
TOKEN: web.AppKey[str | None] = web.AppKey("token")
ALLOWED_HOSTS: web.AppKey[frozenset[str] | None] = web.AppKey("allowed_hosts")


class AccessLogger(AbstractAccessLogger):
    """Method, path and status only: a query string may carry the token."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.debug(
            "%s %s %s %.0fms", request.method, request.path, response.status, time * 1000
        )


def _supplied_token(request: web.Request) -> str | None:
    value = request.headers.get(TOKEN_HEADER)
    if value is None:
        scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and credentials:
            value = credentials.strip()
    if value is None:
        value = request.query.get("token")
    return value


def token_matches(supplied: str | None, token: str) -> bool:
    if supplied is None:
        return False
    return hmac.compare_digest(supplied.encode("utf-8"), token.encode("utf-8"))


def _hostname(host_header: str) -> str:
    """The host of a Host header: ``127.0.0.1:8080`` -> ``127.0.0.1``, ``[::1]:80`` -> ``[::1]``."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host.split("]", 1)[0] + "]"
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _protected(path: str) -> bool:
    return path.startswith("/api/") or path == "/events"


@web.middleware
async def guard(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    allowed = request.app[ALLOWED_HOSTS]
    if allowed is not None and _hostname(request.host or "") not in allowed:
        return web.Response(status=421, text="misdirected request: unexpected Host header")
    token = request.app[TOKEN]
    if token and _protected(request.path) and not token_matches(_supplied_token(request), token):
        return web.json_response(
            {"error": "access token required"},
            status=401,
            headers={"WWW-Authenticate": 'Bearer realm="hashwatch"'},
        )
    return await handler(request)


async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Cache-Control", "no-cache")


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
    app.on_response_prepare.append(_security_headers)

    async def close_streams(app: web.Application) -> None:
        hub.close()

    app.on_shutdown.append(close_streams)
    return app


# ---- feeding the state ---------------------------------------------------------------------


class Feeder:
    """The background work: topic consumer, gap poller, SSE pusher."""

    def __init__(
        self,
        state: DashboardState,
        hub: Hub,
        bootstrap: str,
        topics: Topics,
        store_url: str | None,
        push_interval: float,
        gaps_interval: float,
    ) -> None:
        self.state = state
        self.hub = hub
        self.bootstrap = bootstrap
        self.topics = topics
        self.store_url = store_url
        self.push_interval = push_interval
        self.gaps_interval = gaps_interval
        self.positions: dict[TopicPartition, int] = {}
        self.store: Store | None = None
        self.tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self.tasks = [
            asyncio.create_task(self.consume(), name="dashboard-consumer"),
            asyncio.create_task(self.push(), name="dashboard-push"),
        ]
        if self.store_url:
            self.state.set_store(configured=True)
            self.tasks.append(asyncio.create_task(self.poll_gaps(), name="dashboard-gaps"))

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self.store is not None:
            with contextlib.suppress(Exception):
                await self.store.close()
            self.store = None

    async def push(self) -> None:
        while True:
            await asyncio.sleep(self.push_interval)
            try:
                self.hub.push()
            except Exception:
                log.exception("dashboard: building an update failed")

    async def consume(self) -> None:
        backoff = 1.0
        while True:
            consumer = AIOKafkaConsumer(
                bootstrap_servers=self.bootstrap,
                client_id="hashwatch-dashboard",
                group_id=None,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                request_timeout_ms=10_000,
            )
            try:
                await consumer.start()
                await self._assign(consumer)
                self.state.set_consumer(connected=True, error=None)
                backoff = 1.0
                while True:
                    batches = await consumer.getmany(timeout_ms=500, max_records=5000)
                    for tp, records in batches.items():
                        self._apply(tp.topic, [r.value for r in records if r.value is not None])
                        if records:
                            self.positions[tp] = records[-1].offset + 1
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.state.set_consumer(connected=False, error=f"{type(exc).__name__}: {exc}")
                log.warning("dashboard consumer: %s; retrying in %.0fs", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 30.0)
            finally:
                with contextlib.suppress(Exception):
                    await consumer.stop()

    async def _assign(self, consumer: AIOKafkaConsumer) -> None:
        """Every partition of the three topics, resuming where a previous consumer stopped."""
        wanted = [self.topics.enriched, self.topics.metrics, self.topics.alerts]
        deadline = time.monotonic() + 30
        partitions: list[TopicPartition] = []
        while True:
            await consumer.topics()  # refreshes metadata
            partitions = [
                TopicPartition(t, p)
                for t in wanted
                for p in sorted(consumer.partitions_for_topic(t) or ())
            ]
            if {tp.topic for tp in partitions} == set(wanted) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
        if not partitions:
            raise RuntimeError(f"none of the topics {', '.join(wanted)} exist")
        consumer.assign(partitions)
        fresh = [tp for tp in partitions if tp not in self.positions]
        if fresh:
            await consumer.seek_to_beginning(*fresh)
        for tp in partitions:
            if tp in self.positions:
                consumer.seek(tp, self.positions[tp])

    def _apply(self, topic: str, values: list[bytes]) -> None:
        self.state.consumer["records"] = self.state.consumer.get("records", 0) + len(values)
        if topic == self.topics.enriched:
            posts = []
            for value in values:
                try:
                    posts.append(decode(value, EnrichedPost))
                except DecodeError:
                    self.state.invalid[topic] += 1
            self.state.add_posts(posts)
        elif topic == self.topics.alerts:
            for value in values:
                try:
                    self.state.add_alert(decode(value, Alert))
                except DecodeError:
                    self.state.invalid[topic] += 1
        elif topic == self.topics.metrics:
            for value in values:
                try:
                    self.state.add_metrics(decode(value, MetricsWindow))
                except DecodeError:
                    self.state.invalid[topic] += 1

    async def poll_gaps(self) -> None:
        assert self.store_url
        last_error: str | None = None
        while True:
            try:
                if self.store is None and _store_present(self.store_url):
                    store = open_store(self.store_url)
                    await store.open()
                    self.store = store
                if self.store is not None:
                    self.state.set_gaps(await self.store.query(GAPS_SQL))
                    self.state.set_store(error=None)
                    last_error = None
                else:
                    self.state.set_store(error="store not created yet")
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                message = f"{type(exc).__name__}: {exc}"
                self.state.set_store(error=message)
                if message != last_error:
                    log.warning("dashboard: reading gaps from the store failed: %s", message)
                    last_error = message
            await asyncio.sleep(self.gaps_interval)


def _store_present(url: str) -> bool:
    """Never create an empty SQLite file where the pipeline's store is expected."""
    if url.startswith("sqlite://"):
        return Path(url.removeprefix("sqlite://")).exists()
    return True


# ---- the handle ----------------------------------------------------------------------------


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
    store_url: str | None,
    host: str | None = None,
    port: int | None = None,
    *,
    push_interval: float = PUSH_INTERVAL,
    gaps_interval: float = GAPS_INTERVAL,
) -> DashboardHandle:
    """Start the dashboard in this event loop; ``port=0`` picks a free port.

    ``bootstrap`` is ``host:port`` (a ``kafka://`` prefix is accepted); ``store_url`` is
    where collection gaps are read from (None: no gaps panel). Raises
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
    feeder = Feeder(state, app[HUB], bootstrap, topics, store_url, push_interval, gaps_interval)
    feeder.start()
    handle = DashboardHandle(host=host, port=bound, state=state, runner=runner, feeder=feeder)
    log.info(
        "dashboard on %s (topics %s.*, store %s%s)",
        handle.url,
        topics.prefix,
        redact_url(store_url) if store_url else "none",
        ", token required" if token else "",
    )
    return handle
