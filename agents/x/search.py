"""X API v2 recent search through tweepy: the backfill of the stream, and ``--search``.

``XSearch`` pages through ``GET /2/tweets/search/recent`` within X's rate limits;
``publish_page`` turns a page into posts; ``XSearchCollector`` is ``hashwatch collect x
--search QUERY``: one query, then done.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import msgspec
import orjson
import requests
import tweepy

from agents.base import Collector
from agents.payloads import MappingError, NotAPost
from agents.publisher import Publisher
from agents.x.http import point_session, protect, request_fields
from agents.x.payload import posts_from_object
from agents.x.rules import Rule
from pipeline.core.backoff import Clock, ExponentialBackoff, LinearBackoff, SystemClock, Waiter
from pipeline.core.ratelimit import RateLimit
from schemas.post import MatchingRule

log = logging.getLogger(__name__)

RECENT_SEARCH_REACH = timedelta(days=7) - timedelta(minutes=1)  # recent search: last 7 days


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
        self.limit = RateLimit(
            waiter, "x-rate-limit-remaining", "x-rate-limit-reset", "recent search"
        )
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
                await self.limit.respect(interrupt)
                try:
                    response: requests.Response = await asyncio.to_thread(
                        self._client.search_recent_tweets, query, **params
                    )
                except tweepy.TooManyRequests as exc:
                    self.limit.note(exc.response.headers if exc.response is not None else None)
                    await self.limit.wait_for_reset("recent search answered 429", interrupt)
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
                self.limit.note(response.headers)
                return response
        raise SearchError(
            f"recent search for {query!r} still failing after {self.max_retries} retries"
        )

    def _source(self, query: str, params: dict[str, Any]) -> str:
        shown = {"query": query}
        for key in ("since_id", "until_id", "start_time", "end_time", "next_token"):
            if key in params:
                value = params[key]
                shown[key] = value.isoformat() if isinstance(value, datetime) else str(value)
        return f"{self.base_url}/2/tweets/search/recent?{urlencode(shown)}"


async def publish_page(
    collector: Collector, page: SearchPage, seen: set[str], rule: Rule | None = None
) -> None:
    """Publish a search page's posts not in ``seen``, tagged with the rule that found them."""
    try:
        obj = orjson.loads(page.body)
    except orjson.JSONDecodeError as exc:
        await collector.reject("invalid-json", str(exc), page.source, page.body)
        return
    provenance = collector.provenance(page.source, collector="x-search")
    try:
        results = list(posts_from_object(obj, page.body, provenance))
    except NotAPost as exc:
        if str(exc) == "api-error":
            log.warning("%s: search page holds only errors: %s", collector.name, obj.get("errors"))
            collector.stats.skipped["search-error"] += 1
        return  # an empty page (no matches) holds no data: nothing to publish
    for result in results:
        collector.stats.read += 1
        if isinstance(result, MappingError):
            await collector.reject("not-a-valid-tweet", str(result), page.source, page.body)
            continue
        if result.id in seen:
            continue
        seen.add(result.id)
        if rule is not None:
            matched = [MatchingRule(id=rule.id, tag=rule.tag)]
            result = msgspec.structs.replace(result, rules=matched)
        await collector.emit(result)


class XSearchCollector(Collector):
    """``hashwatch collect x --search QUERY``: one recent-search query, then done."""

    name = "x-search"

    def __init__(
        self,
        publisher: Publisher,
        bearer_token: str,
        query: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        base_url: str = "https://api.twitter.com",
        clock: Clock | None = None,
        page_size: int = 100,
        search_lag: float = 10.0,
    ) -> None:
        super().__init__(publisher)
        self.clock: Clock = clock or SystemClock()
        self.waiter = Waiter(self.clock, self.name)
        self.search = XSearch(bearer_token, base_url, self.waiter, page_size=page_size)
        self.query = query
        self.since = since
        self.until = until
        self.search_lag = search_lag
        self._stop = asyncio.Event()

    def stop(self) -> None:
        super().stop()
        self._stop.set()

    def rules(self) -> list[str]:
        return [self.query]

    def parameters(self) -> dict[str, Any]:
        return {"since": self.since, "until": self.until, "base_url": self.search.base_url}

    def window(self) -> SearchWindow:
        now = datetime.fromtimestamp(self.clock.time(), UTC)
        latest = now - timedelta(seconds=self.search_lag)
        until = min(self.until, latest) if self.until else latest
        oldest = now - RECENT_SEARCH_REACH
        since = self.since
        if since is not None and since < oldest:
            log.warning("%s: recent search reaches back 7 days; starting at %s", self.name, oldest)
            since = oldest
        return SearchWindow(start_time=since, end_time=until)

    async def collect(self) -> None:
        seen: set[str] = set()
        async for page in self.search.pages(self.query, self.window(), self._stop):
            await publish_page(self, page, seen)
            if not self.running:
                return
