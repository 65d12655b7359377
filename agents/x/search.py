"""X API v2 recent search through tweepy, and the HTTP plumbing the stream shares with it.

Pointing tweepy at ``X_API_BASE_URL``: tweepy 4.17 writes ``https://api.twitter.com`` into
every URL it builds (``BaseClient.request`` and ``StreamingClient._connect`` hold it in a
local variable; there is no host attribute or parameter). Instead of patching tweepy, we use
requests' documented extension point: a transport adapter, mounted for that prefix on the
``session`` attribute tweepy documents for ``Client`` and ``StreamingClient``. The adapter
rewrites the prefix to the configured base URL (a proxy, or the test server) and applies our
timeouts — tweepy's filter() has no timeout parameter, and the stream's read timeout is how a
stalled stream is noticed.

The bearer token: tweepy logs request headers, Authorization included, at DEBUG. ``protect``
installs a filter on tweepy's loggers that masks the token in every record before any handler
sees it; nothing in hashwatch itself ever formats the token.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import orjson
import requests
import tweepy
from requests.adapters import HTTPAdapter
from requests.utils import should_bypass_proxies

from pipeline.core.backoff import ExponentialBackoff, LinearBackoff, Waiter

log = logging.getLogger(__name__)

TWEEPY_HOST = "https://api.twitter.com"  # what tweepy 4.17 hard-codes in every URL

# Everything Post v1 (agents/x_payload.py) reads, for the stream and for search alike.
EXPANSIONS = [
    "author_id",
    "referenced_tweets.id",
    "referenced_tweets.id.author_id",
    "attachments.media_keys",
    "entities.mentions.username",
    "in_reply_to_user_id",
]
TWEET_FIELDS = [
    "attachments",
    "author_id",
    "conversation_id",
    "created_at",
    "edit_history_tweet_ids",
    "entities",
    "in_reply_to_user_id",
    "lang",
    "note_tweet",
    "possibly_sensitive",
    "referenced_tweets",
]
MEDIA_FIELDS = [
    "alt_text",
    "duration_ms",
    "height",
    "media_key",
    "preview_image_url",
    "type",
    "url",
    "variants",
    "width",
]
USER_FIELDS = ["name", "username"]


def request_fields() -> dict[str, list[str]]:
    """tweepy keyword arguments asking for every field and expansion Post v1 needs."""
    return {
        "expansions": list(EXPANSIONS),
        "tweet_fields": list(TWEET_FIELDS),
        "media_fields": list(MEDIA_FIELDS),
        "user_fields": list(USER_FIELDS),
    }


class BaseUrlAdapter(HTTPAdapter):
    """Sends tweepy's ``https://api.twitter.com/...`` requests to ``base_url`` instead."""

    def __init__(self, base_url: str, timeout: tuple[float, float | None]) -> None:
        super().__init__()
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: bool | str = True,
        cert: Any = None,
        proxies: Any = None,
    ) -> requests.Response:
        url = request.url or ""
        if self.base_url != TWEEPY_HOST and url.startswith(TWEEPY_HOST + "/"):
            request.url = self.base_url + url[len(TWEEPY_HOST) :]
            if should_bypass_proxies(request.url, no_proxy=None):
                proxies = {}  # chosen for api.twitter.com; NO_PROXY may exempt the new host
        return super().send(
            request, stream=stream, timeout=self.timeout, verify=verify, cert=cert, proxies=proxies
        )


def point_session(
    session: requests.Session, base_url: str, *, connect_timeout: float, read_timeout: float | None
) -> None:
    session.mount(TWEEPY_HOST + "/", BaseUrlAdapter(base_url, (connect_timeout, read_timeout)))


class _MaskSecret(logging.Filter):
    def __init__(self, secret: str) -> None:
        super().__init__()
        self.secret = secret

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self.secret in message:
            record.msg = message.replace(self.secret, "***")
            record.args = None
        return True


_PROTECTED: set[str] = set()
_PROTECT_LOCK = threading.Lock()
# Loggers of the libraries that see the request: tweepy logs headers at DEBUG.
_LIBRARY_LOGGERS = ("tweepy.client", "tweepy.streaming", "urllib3.connectionpool")


def protect(secret: str) -> None:
    """Mask ``secret`` in every record the HTTP libraries log (idempotent)."""
    if len(secret) < 8:
        return  # nothing that short is a real token; masking it would garble logs
    with _PROTECT_LOCK:
        if secret in _PROTECTED:
            return
        _PROTECTED.add(secret)
        for name in _LIBRARY_LOGGERS:
            logging.getLogger(name).addFilter(_MaskSecret(secret))


class SearchError(RuntimeError):
    """Recent search failed in a way retrying will not fix (bad query, auth), or gave up."""


@dataclass(frozen=True, slots=True)
class SearchPage:
    body: bytes  # the response as X sent it
    source: str  # the request, for provenance (never holds the token)


@dataclass(frozen=True, slots=True)
class SearchWindow:
    """What to search: ids bound it exactly; times bound it to the second (X's precision)."""

    since_id: str | None = None
    until_id: str | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None

    def params(self) -> dict[str, Any]:
        found = {
            "since_id": self.since_id,
            "until_id": self.until_id,
            "start_time": self.start_time,
            "end_time": self.end_time,
        }
        return {k: v for k, v in found.items() if v is not None}


class XSearch:
    """GET /2/tweets/search/recent, page by page, within X's rate limits.

    After each response the ``x-rate-limit-remaining``/``x-rate-limit-reset`` headers are
    kept; with nothing remaining the next request waits until the reset time, and a 429 waits
    until the reset it names and retries. 5xx answers back off exponentially from 5 s and
    network errors linearly from 250 ms, ``max_retries`` times before giving up.
    """

    def __init__(
        self,
        bearer_token: str,
        base_url: str,
        waiter: Waiter,
        *,
        page_size: int = 100,
        connect_timeout: float = 10.0,
        read_timeout: float = 60.0,
        max_retries: int = 8,
    ) -> None:
        protect(bearer_token)
        self._client = tweepy.Client(
            bearer_token=bearer_token, return_type=requests.Response, wait_on_rate_limit=False
        )
        point_session(
            self._client.session,
            base_url,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
        )
        self.base_url = base_url.rstrip("/")
        self.waiter = waiter
        self.page_size = max(10, min(page_size, 100))  # X accepts 10..100 per page
        self.max_retries = max_retries
        self._remaining: int | None = None
        self._reset: float | None = None
        self._lock = asyncio.Lock()  # one request at a time: the rate limit is shared

    async def pages(
        self, query: str, window: SearchWindow, interrupt: asyncio.Event | None = None
    ) -> AsyncIterator[SearchPage]:
        params: dict[str, Any] = {
            **request_fields(),
            **window.params(),
            "max_results": self.page_size,
        }
        while True:
            response = await self._get(query, params, interrupt)
            if response is None:
                return  # interrupted
            source = self._source(query, params)
            yield SearchPage(body=response.content, source=source)
            try:
                meta = orjson.loads(response.content).get("meta") or {}
            except (orjson.JSONDecodeError, AttributeError):
                return  # the caller dead-letters the page; nothing says there is more
            token = meta.get("next_token")
            if not token:
                return
            params["next_token"] = token

    async def _get(
        self, query: str, params: dict[str, Any], interrupt: asyncio.Event | None
    ) -> requests.Response | None:
        network = LinearBackoff(0.25, 16.0)
        server = ExponentialBackoff(5.0, 320.0)
        async with self._lock:
            for _ in range(self.max_retries + 1):
                if interrupt is not None and interrupt.is_set():
                    return None
                await self._respect_rate_limit(interrupt)
                try:
                    response: requests.Response = await asyncio.to_thread(
                        self._client.search_recent_tweets, query, **params
                    )
                except tweepy.TooManyRequests as exc:
                    self._note(exc.response)
                    reset = self._reset
                    delay = 60.0 if reset is None else reset - self.waiter.clock.time() + 1
                    await self.waiter.wait(
                        delay, "rate-limit-reset", "recent search answered 429", interrupt
                    )
                    self._remaining = None
                    continue
                except tweepy.TwitterServerError as exc:
                    status = exc.response.status_code
                    await self.waiter.wait(
                        server.next(), "http", f"recent search answered HTTP {status}", interrupt
                    )
                    continue
                except tweepy.HTTPException as exc:
                    raise SearchError(f"recent search for {query!r} failed: {exc}") from None
                except requests.RequestException as exc:
                    await self.waiter.wait(
                        network.next(),
                        "network",
                        f"recent search network error: {type(exc).__name__}",
                        interrupt,
                    )
                    continue
                self._note(response)
                return response
        raise SearchError(
            f"recent search for {query!r} still failing after {self.max_retries} retries"
        )

    async def _respect_rate_limit(self, interrupt: asyncio.Event | None) -> None:
        if self._remaining == 0 and self._reset is not None:
            delay = self._reset - self.waiter.clock.time() + 1  # reset is whole seconds
            if delay > 0:
                await self.waiter.wait(
                    delay, "rate-limit-reset", "recent search rate limit used up", interrupt
                )
            self._remaining = None

    def _note(self, response: requests.Response | None) -> None:
        if response is None:
            return
        headers = response.headers
        try:
            remaining = headers.get("x-rate-limit-remaining")
            reset = headers.get("x-rate-limit-reset")
            self._remaining = int(remaining) if remaining is not None else None
            self._reset = float(reset) if reset is not None else None
        except ValueError:
            self._remaining = self._reset = None

    def _source(self, query: str, params: dict[str, Any]) -> str:
        shown = {"query": query}
        for key in ("since_id", "until_id", "start_time", "end_time", "next_token"):
            if key in params:
                value = params[key]
                shown[key] = value.isoformat() if isinstance(value, datetime) else str(value)
        return f"{self.base_url}/2/tweets/search/recent?{urlencode(shown)}"
