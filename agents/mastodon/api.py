"""The REST calls the Mastodon collector makes: where an instance streams, and its tag
timeline page by page, within its rate limit.

Why a thin aiohttp client and not Mastodon.py: Mastodon.py can be pointed at any base URL
(a test server included) and parses ``Link`` headers, but (1) it hands back parsed objects
with dates converted, so the exact bytes of each status — a post's ``raw`` and its SHA-256 —
are gone; (2) it is synchronous, and its rate-limit modes sleep in ``time.sleep`` inside the
request, where a stop cannot interrupt them, the wait is not logged with its reason and a
test clock cannot see it; (3) its pagination drops ``since_id`` from the next page, as the
server's links do, so a bounded walk needs its own stop anyway. The calls needed are two GETs;
here they share the collector's ``Waiter`` (every delay logged with its reason), its clock and
its stop.

Rate limits: Mastodon allows 300 requests per 5 minutes per account (and per IP) and says
where one stands in ``X-RateLimit-Limit``, ``-Remaining`` and ``-Reset`` (an ISO 8601 time).
With nothing remaining the next request waits until the reset; a 429 waits until the reset it
names and retries the same request. The reset is read against the server's own ``Date`` header,
so a clock difference between the two machines does not shorten the wait. Server errors back
off exponentially from 5 s, network errors linearly from 250 ms, ``max_retries`` times.

The token travels in the ``Authorization`` header only, to the instance's own origin only: a
``Link`` to another host is not followed.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import logging
import re
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import aiohttp
import orjson

from pipeline import __version__
from pipeline.core.backoff import ExponentialBackoff, LinearBackoff, Waiter

log = logging.getLogger(__name__)

USER_AGENT = f"hashwatch/{__version__} (+https://github.com/hashwatch)"
_LINK = re.compile(r"<([^>]*)>\s*((?:;\s*[^;,<]*)*)")
_REL = re.compile(r"""rel\s*=\s*(?:"([^"]*)"|([^\s;,]+))""")


class ApiError(RuntimeError):
    """A call that retrying will not fix (refused token, no such timeline), or gave up."""


class TokenRefused(ApiError):
    """The instance answered 401 or 403: the token is wrong, expired or lacks the scope."""


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: bytes
    url: str  # as requested: the token is never in it
    next: str | None  # the ``Link`` rel="next" page, on the same origin


@dataclass(frozen=True, slots=True)
class Token:
    """A secret and the name of the variable it came from (which is what messages show)."""

    value: str
    variable: str

    def __repr__(self) -> str:
        return f"Token(variable={self.variable!r})"


def parse_links(header: str | None) -> dict[str, str]:
    """An RFC 8288 ``Link`` header as rel -> URL (the first of each rel)."""
    found: dict[str, str] = {}
    for match in _LINK.finditer(header or ""):
        url, params = match.groups()
        for rel in _REL.finditer(params):
            for name in (rel.group(1) or rel.group(2) or "").split():
                found.setdefault(name.lower(), url.strip())
    return found


def origin(url: str) -> str:
    try:
        parts = urlsplit(url)
    except ValueError:
        return ""
    return f"{parts.scheme}://{parts.netloc}".lower()


def parse_reset(value: str | None) -> float | None:
    """``X-RateLimit-Reset`` as epoch seconds: Mastodon sends ISO 8601, some servers epoch."""
    if not value:
        return None
    value = value.strip()
    try:
        return float(value)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except (ValueError, OverflowError):
        return None


def _server_time(headers: Any) -> float | None:
    try:
        return email.utils.parsedate_to_datetime(headers.get("Date", "")).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


class MastodonApi:
    """One instance's REST API; one request at a time, since the rate limit is shared."""

    def __init__(
        self,
        instance: str,
        token: Token,
        waiter: Waiter,
        *,
        connect_timeout: float = 10.0,
        read_timeout: float = 60.0,
        max_retries: int = 8,
    ) -> None:
        self.instance = instance.rstrip("/")
        self.waiter = waiter
        self.max_retries = max_retries
        self._token = token
        self._timeout = aiohttp.ClientTimeout(sock_connect=connect_timeout, sock_read=read_timeout)
        self._session: aiohttp.ClientSession | None = None
        self._streams: aiohttp.ClientSession | None = None
        self._lock = asyncio.Lock()
        self._remaining: int | None = None
        self._reset_at: float | None = None  # on the waiter's clock

    @property
    def session(self) -> aiohttp.ClientSession:
        """For REST calls (made in the running loop, on first use; connections kept alive)."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(headers={"User-Agent": USER_AGENT})
        return self._session

    @property
    def stream_session(self) -> aiohttp.ClientSession:
        """For the instance's streams: a new connection each time, so a connection the server
        closed is an outage the collector sees, never a request aiohttp quietly retries."""
        if self._streams is None or self._streams.closed:
            self._streams = aiohttp.ClientSession(
                headers={"User-Agent": USER_AGENT},
                connector=aiohttp.TCPConnector(force_close=True),
            )
        return self._streams

    def headers(self, accept: str = "application/json") -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token.value}", "Accept": accept}

    def refused(self, status: int) -> str:
        return (
            f"{self.instance} refused the token (HTTP {status}): check {self._token.variable} "
            "(a user token with the read:statuses scope)"
        )

    async def close(self) -> None:
        for session in (self._session, self._streams):
            if session is not None:
                await session.close()
        self._session = self._streams = None

    # --- calls -------------------------------------------------------------------------------

    async def streaming_base(self, interrupt: asyncio.Event | None = None) -> str:
        """Where the instance streams: ``configuration.urls.streaming`` of
        ``GET /api/v2/instance`` (a ``wss://`` URL, used over HTTPS), else the instance."""
        url = f"{self.instance}/api/v2/instance"
        response = await self.get(url, "instance information", interrupt)
        if response is None or response.status != 200:
            return self.instance
        try:
            urls = orjson.loads(response.body)["configuration"]["urls"]
            streaming = urls.get("streaming") if isinstance(urls, dict) else None
        except (orjson.JSONDecodeError, KeyError, TypeError):
            streaming = None
        if not isinstance(streaming, str) or not streaming.startswith(("ws", "http")):
            return self.instance
        base = re.sub(r"^ws(s?)://", r"http\1://", streaming.strip()).rstrip("/")
        return base if origin(base) else self.instance

    async def tag_timeline(
        self,
        tag: str,
        *,
        since_id: str | None = None,
        max_id: str | None = None,
        limit: int = 40,
        interrupt: asyncio.Event | None = None,
    ) -> AsyncGenerator[Response, None]:
        """``GET /api/v1/timelines/tag/:hashtag``, newest first, following ``Link`` rel=next.
        The first page is bounded by ``since_id`` and ``max_id``; later pages come from the
        server's links, which keep neither bound, so the caller stops at ``since_id``."""
        params: dict[str, Any] = {"limit": max(1, min(limit, 40))}
        if max_id is not None:
            params["max_id"] = max_id
        if since_id is not None:
            params["since_id"] = since_id
        url: str | None = (
            f"{self.instance}/api/v1/timelines/tag/{quote(tag, safe='')}?{urlencode(params)}"
        )
        while url is not None:
            response = await self.get(url, f"tag timeline #{tag}", interrupt)
            if response is None:
                return
            if response.status != 200:
                raise ApiError(
                    f"{self.instance} answered HTTP {response.status} for the tag timeline "
                    f"#{tag}: {response.body[:200].decode('utf-8', 'replace')}"
                )
            yield response
            url = response.next

    async def get(
        self, url: str, what: str, interrupt: asyncio.Event | None = None
    ) -> Response | None:
        """One GET with retries; None if ``interrupt`` was set. A 401 or 403 raises."""
        network = LinearBackoff(0.25, 16.0)
        server = ExponentialBackoff(5.0, 320.0)
        async with self._lock:
            for _ in range(self.max_retries + 1):
                if interrupt is not None and interrupt.is_set():
                    return None
                await self._respect_rate_limit(what, interrupt)
                try:
                    async with self.session.get(
                        url, headers=self.headers(), timeout=self._timeout, allow_redirects=False
                    ) as resp:
                        body = await resp.read()
                        status, headers = resp.status, resp.headers
                except (aiohttp.ClientError, TimeoutError) as exc:
                    await self.waiter.wait(
                        network.next(),
                        "network",
                        f"{what} at {self.instance}: network error {type(exc).__name__}",
                        interrupt,
                    )
                    continue
                self._note(headers)
                if status == 429:
                    await self._wait_for_reset(f"{what} at {self.instance} answered 429", interrupt)
                    continue
                if status >= 500 or status == 408:
                    await self.waiter.wait(
                        server.next(),
                        "http",
                        f"{what} at {self.instance} answered HTTP {status}",
                        interrupt,
                    )
                    continue
                if status in (401, 403):
                    raise TokenRefused(self.refused(status))
                return Response(status, body, url, self._next(headers))
        raise ApiError(f"{what} at {self.instance} still failing after {self.max_retries} retries")

    # --- rate limit --------------------------------------------------------------------------

    def _next(self, headers: Any) -> str | None:
        link = parse_links(headers.get("Link")).get("next")
        if link is None:
            return None
        if origin(link) != origin(self.instance):
            log.warning("%s: not following a Link to another host: %s", self.instance, link)
            return None
        return link

    def _note(self, headers: Any) -> None:
        remaining = headers.get("X-RateLimit-Remaining")
        reset = parse_reset(headers.get("X-RateLimit-Reset"))
        if remaining is None and reset is None:
            return
        with contextlib.suppress(ValueError):
            self._remaining = int(remaining) if remaining is not None else None
        if reset is not None:
            server_now = _server_time(headers)
            now = self.waiter.clock.time()
            self._reset_at = now + (reset - (server_now if server_now is not None else now))

    async def _respect_rate_limit(self, what: str, interrupt: asyncio.Event | None) -> None:
        if self._remaining is not None and self._remaining <= 0:
            await self._wait_for_reset(f"{what} at {self.instance}: rate limit used up", interrupt)

    async def _wait_for_reset(self, reason: str, interrupt: asyncio.Event | None) -> None:
        now = self.waiter.clock.time()
        delay = 60.0 if self._reset_at is None else self._reset_at - now
        await self.waiter.wait(delay, "rate-limit-reset", reason, interrupt)
        self._remaining = None
