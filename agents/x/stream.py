"""The live X collector: the campaign's rules on the v2 filtered stream, gaps found and filled.

The stream itself is one ``LiveStream`` (reconnects, gaps, backfill and checkpoints are
agents/live.py's): rules are synced before the first connection, each connection is tweepy's
thread (agents/x/connection.py), each line becomes posts, and a gap is backfilled through
recent search between the last post id seen before it (``since_id``) and the first post id
seen after it (``until_id``) — exact bounds, since post ids grow with time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import orjson

from agents.checkpoint import CheckpointFile
from agents.live import BackfillJob, Ended, Link, LiveCollector, LiveConfig, LiveStream, utc
from agents.payloads import MappingError, NotAPost
from agents.publisher import Publisher
from agents.x.connection import StreamProblem, StreamThread, classify_stream_error
from agents.x.http import point_session, protect, request_fields
from agents.x.payload import posts_from_object
from agents.x.rules import (
    Rule,
    RulesApi,
    TweepyRulesApi,
    build_rules,
    limits_for,
    owner_prefix,
    sync_rules,
)
from agents.x.search import RECENT_SEARCH_REACH, SearchWindow, XSearch, publish_page
from pipeline.core.backoff import Clock, ReconnectPolicy
from pipeline.core.campaign import Campaign

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class XStreamConfig:
    base_url: str = "https://api.twitter.com"
    stall_timeout: float = 90.0  # no data and no keep-alive newline for this long: reconnect
    connect_timeout: float = 10.0
    bracket_timeout: float = 60.0  # wait this long for a post after a reconnect to bound a gap
    search_lag: float = 10.0  # X serves recent search up to 10 s before the request
    start_margin: float = 10.0  # widen a gap's start when no post id bounds it
    page_size: int = 100
    checkpoint_every: float = 1.0
    stop_grace: float = 2.0  # how long a stop waits for the stream thread to let go
    backfill: timedelta | None = None  # history to fill at start (``--backfill 2d``)

    def live(self) -> LiveConfig:
        return LiveConfig(
            bracket_timeout=self.bracket_timeout,
            start_margin=self.start_margin,
            checkpoint_every=self.checkpoint_every,
            backfill=self.backfill,
        )


class XStream(LiveStream):
    """``GET /2/tweets/search/stream`` under the campaign's rules."""

    key = "x"

    def __init__(self, token: str, config: XStreamConfig, rules_api: RulesApi) -> None:
        self.config = config
        self.policy = ReconnectPolicy()
        self.source = f"{config.base_url.rstrip('/')}/2/tweets/search/stream"
        self.rules_api = rules_api
        self.rules: list[Rule] = []
        self._token = token
        self._thread: StreamThread | None = None
        self._search: XSearch | None = None

    @property
    def search(self) -> XSearch:
        if self._search is None:  # the owner's waiter logs and paces its retries
            self._search = XSearch(
                self._token,
                self.config.base_url,
                self.owner.waiter,
                page_size=self.config.page_size,
            )
        return self._search

    async def prepare(self) -> None:
        campaign = self.owner.campaign
        assert campaign is not None
        limits = limits_for(campaign.x)
        synced = await sync_rules(
            self.rules_api, build_rules(campaign, limits), owner_prefix(campaign.name), limits
        )
        self.rules = synced.rules

    def disconnect(self) -> None:
        if self._thread is not None:
            self._thread.disconnect()

    async def connect(self, link: Link, ended: Ended) -> None:
        async def on_line(raw: bytes) -> StreamProblem | None:
            return await self._line(raw, link)

        thread = StreamThread(self._token, link, ended, on_line, self.config.stall_timeout)
        point_session(
            thread.session,
            self.config.base_url,
            connect_timeout=self.config.connect_timeout,
            read_timeout=self.config.stall_timeout,
        )
        self._thread = thread
        thread.filter(threaded=True, **request_fields())
        done = asyncio.ensure_future(thread.done.wait())
        stopping = asyncio.ensure_future(link.stopping.wait())
        try:
            await asyncio.wait({done, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if not thread.done.is_set():
                ended.stopped = True
                thread.disconnect()
                with contextlib.suppress(TimeoutError):
                    # the thread notices at its next line or keep-alive; it is a daemon
                    await asyncio.wait_for(thread.done.wait(), self.config.stop_grace)
        finally:
            done.cancel()
            stopping.cancel()
            thread.disconnect()

    async def _line(self, raw: bytes, link: Link) -> StreamProblem | None:
        owner = self.owner
        owner.stats.read += 1
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            await owner.reject("invalid-json", str(exc), self.source, raw)
            return None
        if isinstance(obj, dict) and "errors" in obj and "data" not in obj:
            problem = classify_stream_error(obj)
            if problem.schedule is not None:
                return problem
            log.warning("%s: %s", owner.name, problem.reason)
            owner.stats.skipped[f"stream-error:{problem.kind}"] += 1
            return None
        try:
            results = list(posts_from_object(obj, raw, owner.provenance(self.source)))
        except NotAPost as exc:
            owner.stats.skipped[str(exc)] += 1
            return None
        for result in results:
            if isinstance(result, MappingError):
                await owner.reject("not-a-valid-tweet", str(result), self.source, raw)
                continue
            await owner.emit(result)
            link.seen(result.id)
        return None

    async def backfill(self, job: BackfillJob, link: Link) -> int | None:
        """Search the job's window under every rule."""
        window = await self._window(job, link)
        if window is None:
            return None
        seen: set[str] = set()
        for rule in self.rules:
            async for page in self.search.pages(rule.value, window, link.stopping):
                await publish_page(self.owner, page, seen, rule)
            if link.stopping.is_set():
                return None
        return len(seen)

    async def _window(self, job: BackfillJob, link: Link) -> SearchWindow | None:
        now = link.clock.time()
        oldest = utc(now) - RECENT_SEARCH_REACH
        since_id, start_time = job.since, job.start_time
        begins = job.gap.start if job.gap is not None else start_time
        if begins is not None and begins < oldest:
            log.warning(
                "%s: recent search reaches back 7 days only; posts before %s are not recovered",
                self.owner.name,
                oldest.isoformat(),
            )
            since_id, start_time = None, oldest
        if since_id is None and start_time is None and job.gap is not None:
            start_time = job.gap.start - timedelta(seconds=self.config.start_margin)
        if since_id is not None:
            start_time = None
        end_time = None
        if job.until is None:
            end = job.gap.end if job.gap is not None and job.gap.end else utc(now)
            end_ts = math.ceil(end.timestamp())
            wait = end_ts + self.config.search_lag - link.clock.time()
            if wait > 0:
                await self.owner.waiter.wait(
                    wait,
                    "search-lag",
                    f"recent search serves posts up to {self.config.search_lag:g} s "
                    "before the request",
                    link.stopping,
                )
                if link.stopping.is_set():
                    return None
            end_time = utc(end_ts)
        return SearchWindow(
            since_id=since_id, until_id=job.until, start_time=start_time, end_time=end_time
        )


class XStreamCollector(LiveCollector):
    name = "x-stream"

    def __init__(
        self,
        publisher: Publisher,
        campaign: Campaign,
        bearer_token: str,
        *,
        config: XStreamConfig | None = None,
        checkpoint: CheckpointFile | None = None,
        clock: Clock | None = None,
        rules_api: RulesApi | None = None,
    ) -> None:
        protect(bearer_token)
        config = config or XStreamConfig()
        rules_api = rules_api or TweepyRulesApi(bearer_token, config.base_url)
        self.stream = XStream(bearer_token, config, rules_api)
        self.x_config = config
        super().__init__(
            publisher,
            [self.stream],
            campaign=campaign,
            config=config.live(),
            checkpoint=checkpoint,
            clock=clock,
        )

    def rules(self) -> list[str]:
        return [f"{r.value} [{r.tag}]" for r in self.stream.rules]

    def parameters(self) -> dict[str, Any]:
        return {"base_url": self.x_config.base_url, "backfill": self.x_config.backfill}
