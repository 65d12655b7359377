"""``app.bsky.feed.searchPosts``: the backfill of what Jetstream can no longer replay.

Search needs an account since 2025: ``com.atproto.server.createSession`` with the handle and an
app password gives an access token, sent as a bearer token; when it expires (``ExpiredToken``)
``refreshSession`` renews it, and when that fails too the session is created again. The app
password and the tokens are never logged, recorded or shown in an error.

A client of its own on aiohttp (already hashwatch's HTTP library) rather than the ``atproto``
SDK: the SDK can be pointed at any host and is async, but it parses every response into its
models, while hashwatch keeps each post's exact bytes and must read records the models reject;
and its session and retry handling would sit beside the collector's own.

Rate limits (pipeline/core/ratelimit.py): with ``ratelimit-remaining`` at 0 the next request
waits for ``ratelimit-reset``, and a 429 waits for the reset it names (60 s without one) and
is retried. 5xx answers back off exponentially from
5 s, network errors linearly from 250 ms, ``max_retries`` times. searchPosts stops around
10,000 results per query: when a query comes that close, the window is searched again below
the oldest post found, until the window is exhausted.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import aiohttp
import orjson

from agents.bluesky.views import sort_at
from agents.live import StreamError
from pipeline.core.backoff import ExponentialBackoff, LinearBackoff, Waiter
from pipeline.core.ratelimit import RateLimit

log = logging.getLogger(__name__)

SEARCH = "app.bsky.feed.searchPosts"
RESULT_CAP = 10_000  # searchPosts stops around here, whatever the cursor says


class SearchError(StreamError):
    """searchPosts cannot be used (bad credentials, a refused query) or kept failing."""


@dataclass(frozen=True)
class Credentials:
    """An XRPC host and an account on it; the app password never shows in a repr."""

    api_url: str  # e.g. https://bsky.social (the account's PDS proxies to the appview)
    handle: str
    password: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class SearchPage:
    body: bytes  # the response as the server sent it
    source: str  # the request, for provenance (never holds a secret)


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _error(body: bytes) -> tuple[str, str]:
    """An XRPC error's name and message (``{"error": ..., "message": ...}``)."""
    try:
        obj = orjson.loads(body)
    except orjson.JSONDecodeError:
        return "", ""
    if not isinstance(obj, dict):
        return "", ""
    return str(obj.get("error") or "")[:100], str(obj.get("message") or "")[:300]


class BlueskySearch:
    def __init__(
        self,
        credentials: Credentials,
        waiter: Waiter,
        *,
        page_size: int = 100,
        result_cap: int = RESULT_CAP,
        timeout: float = 30.0,
        max_retries: int = 8,
    ) -> None:
        self.credentials = credentials
        self.base_url = credentials.api_url.rstrip("/")
        self.waiter = waiter
        self.page_size = max(1, min(page_size, 100))  # searchPosts takes 1..100
        self.result_cap = result_cap
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self.max_retries = max_retries
        self.logins = 0
        self._access: str | None = None
        self._refresh: str | None = None
        self.limit = RateLimit(waiter, "ratelimit-remaining", "ratelimit-reset", "searchPosts")
        self._session: aiohttp.ClientSession | None = None
        self._lock = asyncio.Lock()  # one request at a time: the rate limit is shared

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    # --- pages ---------------------------------------------------------------------------

    async def pages(
        self, tag: str, since: datetime, until: datetime, interrupt: asyncio.Event
    ) -> AsyncIterator[SearchPage]:
        """Every page of posts tagged ``tag`` from ``since`` up to ``until``, newest first."""
        upper = until
        while True:
            found, oldest = 0, None
            params: dict[str, Any] = {
                "q": f"#{tag}",
                "tag": tag,
                "sort": "latest",
                "since": _iso(since),
                "until": _iso(upper),
                "limit": self.page_size,
            }
            while True:
                body = await self._get(SEARCH, params, interrupt)
                if body is None:
                    return  # interrupted
                yield SearchPage(
                    body=body, source=f"{self.base_url}/xrpc/{SEARCH}?{urlencode(params)}"
                )
                try:
                    page = orjson.loads(body)
                    views = [v for v in page.get("posts") or () if isinstance(v, dict)]
                    cursor = page.get("cursor")
                except (orjson.JSONDecodeError, AttributeError, TypeError):
                    return  # the caller dead-letters the page; nothing says there is more
                found += len(views)
                for view in views:
                    at = sort_at(view)
                    if at is not None and (oldest is None or at < oldest):
                        oldest = at
                if not views or not isinstance(cursor, str) or not cursor:
                    break
                params["cursor"] = cursor
            if found < self.result_cap - self.page_size or oldest is None:
                return
            below = oldest + timedelta(milliseconds=1)  # until is exclusive; repeats are deduped
            if below >= upper or oldest <= since:
                return
            log.info(
                "searchPosts stops at about %d results per query: #%s again before %s",
                self.result_cap,
                tag,
                _iso(below),
            )
            upper = below

    # --- requests ------------------------------------------------------------------------

    async def _get(
        self, method: str, params: dict[str, Any], interrupt: asyncio.Event
    ) -> bytes | None:
        """A query with the session's token; None if a stop interrupted it."""
        async with self._lock:
            for _ in range(3):  # the token, a renewed one, a new session: then it must work
                if self._access is None and not await self._login(interrupt):
                    return None
                headers = {"Authorization": f"Bearer {self._access}"}
                answer = await self._call("GET", method, interrupt, params=params, headers=headers)
                if answer is None:
                    return None
                status, body = answer
                if status == 200:
                    return body
                error, message = _error(body)
                if error == "ExpiredToken":
                    await self._renew()
                elif status == 401:  # the token was refused: log in again
                    self._access = None
                else:
                    raise SearchError(f"{method} answered HTTP {status} {error}: {message}".strip())
        raise SearchError(f"{method} kept refusing the session (HTTP 401)")

    async def _login(self, interrupt: asyncio.Event) -> bool:
        """createSession; False if a stop interrupted it."""
        body = {"identifier": self.credentials.handle, "password": self.credentials.password}
        answer = await self._call("POST", "com.atproto.server.createSession", interrupt, json=body)
        if answer is None:
            return False
        status, tokens = answer
        if status == 200:
            self.logins += 1
            self._take_tokens(tokens)
            return True
        error, _ = _error(tokens)
        if status in (400, 401):
            raise SearchError(
                f"Bluesky refused the login (HTTP {status} {error}): check BLUESKY_HANDLE "
                "and BLUESKY_APP_PASSWORD"
            )
        raise SearchError(f"createSession answered HTTP {status} {error}".strip())

    async def _call(
        self, verb: str, method: str, interrupt: asyncio.Event, **kwargs: Any
    ) -> tuple[int, bytes] | None:
        """One XRPC call, retried through network errors, 429 and 5xx answers; its status and
        body otherwise, or None if a stop interrupted it."""
        network = LinearBackoff(0.25, 16.0)
        server = ExponentialBackoff(5.0, 320.0)
        for _ in range(self.max_retries + 1):
            if interrupt.is_set():
                return None
            await self.limit.respect(interrupt)
            try:
                status, body = await self._request(verb, method, **kwargs)
            except (aiohttp.ClientError, TimeoutError) as exc:
                reason = f"{method} network error: {type(exc).__name__}"
                await self.waiter.wait(network.next(), "network", reason, interrupt)
                continue
            if status == 429:
                await self.limit.wait_for_reset(f"{method} answered 429", interrupt)
            elif status >= 500:
                reason = f"{method} answered HTTP {status}"
                await self.waiter.wait(server.next(), "http", reason, interrupt)
            else:
                return status, body
        raise SearchError(f"{method} still failing after {self.max_retries} retries")

    async def _renew(self) -> None:
        """refreshSession after an ExpiredToken; a new session when that fails too."""
        self._access = None
        if self._refresh is None:
            return
        headers = {"Authorization": f"Bearer {self._refresh}"}
        self._refresh = None
        try:
            status, answer = await self._request(
                "POST", "com.atproto.server.refreshSession", headers=headers
            )
        except (aiohttp.ClientError, TimeoutError):
            return  # the next request logs in again
        if status == 200:
            self._take_tokens(answer)
            log.info("bluesky search: session refreshed")

    def _take_tokens(self, body: bytes) -> None:
        try:
            tokens = orjson.loads(body)
            access, refresh = tokens["accessJwt"], tokens.get("refreshJwt")
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            raise SearchError(f"the session answer holds no token ({type(exc).__name__})") from None
        if not isinstance(access, str) or not access:
            raise SearchError("the session answer holds no access token")
        self._access = access
        self._refresh = refresh if isinstance(refresh, str) and refresh else None

    async def _request(self, verb: str, method: str, **kwargs: Any) -> tuple[int, bytes]:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
        url = f"{self.base_url}/xrpc/{method}"
        async with self._session.request(verb, url, **kwargs) as response:
            body = await response.read()
            self.limit.note(response.headers)
            return response.status, body
