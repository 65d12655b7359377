"""The live Mastodon collector: a hashtag stream per instance and tag, outages caught up.

Each (instance, tag) is one ``LiveStream`` (reconnects, gaps, backfill and checkpoints are
agents/live.py's). Why server-sent events per tag rather than one WebSocket per instance with
many subscriptions: the unit of a gap is a tag's stream — its cursor, its outage, its backfill
through that tag's timeline — and an SSE connection says it is alive with the ``:thump``
heartbeat the server writes every 15 s, so three missed heartbeats mark a stalled stream; a
campaign has a handful of spellings, so a handful of connections per instance.

A connection reads events as they come: ``update`` and ``status.update`` (an edit) are
Statuses, mapped to posts (agents/mastodon/payload.py) with the exact bytes of the event's
data as ``raw``; ``delete`` names the status by its id on this instance, turned into the
post's uid through the statuses this collector has seen there (agents/mastodon/known.py), or,
for a status it never saw, into the instance-local uid ``mastodon:<instance>/api/v1/statuses/
<id>`` (recorded in ``deletions``; it marks no post, since the post's uri cannot be known).

A gap is backfilled through ``GET /api/v1/timelines/tag/:tag`` between the last status id
before it and the first after it (agents/mastodon/window.py says how federation widens that),
newest first, following the ``Link`` pages within the instance's rate limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp
import msgspec
import orjson

from agents.checkpoint import CheckpointFile
from agents.live import (
    BackfillJob,
    Ended,
    Link,
    LiveCollector,
    LiveConfig,
    LiveStream,
    StreamError,
    http_schedule,
)
from agents.mastodon.api import ApiError, MastodonApi, Response, Token, TokenRefused
from agents.mastodon.known import KnownStatuses
from agents.mastodon.payload import LOCAL_ID, deletion, statuses
from agents.mastodon.sse import Comment, Event, Oversized, SseParser
from agents.mastodon.tags import followed_tags
from agents.mastodon.window import Window, backfill_window, older
from agents.payloads import MappingError, NotAPost
from agents.publisher import Publisher
from pipeline.core.backoff import Clock, ReconnectPolicy
from pipeline.core.campaign import Campaign

log = logging.getLogger(__name__)

INVALID = "not-a-valid-mastodon-status"
STATUS_EVENTS = ("update", "status.update")


@dataclass(frozen=True, slots=True)
class MastodonConfig:
    heartbeat: float = 15.0  # the server writes ``:thump`` this often
    missed_heartbeats: int = 3  # this many missed in a row: the stream has stalled
    connect_timeout: float = 10.0
    read_timeout: float = 60.0  # REST calls
    bracket_timeout: float = 60.0  # wait this long for a post after a reconnect to bound a gap
    start_margin: float = 10.0  # widen a gap's start when no status id bounds it
    federation_lag: float = 600.0  # seconds a backfill reaches back for late-federated posts
    page_size: int = 40  # the tag timeline's maximum
    checkpoint_every: float = 1.0
    remember: int = 100_000  # status ids remembered per instance, for deletes and replies
    backfill: timedelta | None = None  # history to fill at start (``--backfill 2d``)

    @property
    def stall_timeout(self) -> float:
        return self.heartbeat * self.missed_heartbeats

    def live(self) -> LiveConfig:
        return LiveConfig(
            bracket_timeout=self.bracket_timeout,
            start_margin=self.start_margin,
            checkpoint_every=self.checkpoint_every,
            backfill=self.backfill,
        )


class Instance:
    """What the streams of one instance share: its API (and rate limit), where it streams."""

    api: MastodonApi  # made by the collector, on its waiter

    def __init__(self, url: str) -> None:
        self.url = url
        self.host = urlsplit(url).netloc
        self.streaming: str | None = None

    async def streaming_base(self, interrupt: asyncio.Event) -> str:
        if self.streaming is None:
            try:
                self.streaming = await self.api.streaming_base(interrupt)
            except TokenRefused as exc:
                raise StreamError(str(exc)) from None
            except ApiError as exc:
                log.warning("mastodon: %s; streaming from %s itself", exc, self.url)
                self.streaming = self.url
            if self.streaming != self.url:
                log.info("mastodon: %s streams from %s", self.url, self.streaming)
        return self.streaming


class TagStream(LiveStream):
    """``GET /api/v1/streaming/hashtag?tag=…`` on one instance."""

    owner: MastodonCollector

    def __init__(self, instance: Instance, tag: str, config: MastodonConfig) -> None:
        self.instance = instance
        self.tag = tag
        self.config = config
        self.key = f"{instance.host}#{tag}"
        self.policy = ReconnectPolicy()
        self.source = self._stream_url(instance.url)
        self._response: aiohttp.ClientResponse | None = None

    def _stream_url(self, base: str) -> str:
        return f"{base}/api/v1/streaming/hashtag?tag={quote(self.tag, safe='')}"

    def uid_of(self, local_id: str) -> str:
        return self.owner.known.uid(self.instance.url, local_id)

    async def prepare(self) -> None:
        base = await self.instance.streaming_base(self.owner.stopping)
        self.source = self._stream_url(base)

    def disconnect(self) -> None:
        if self._response is not None:
            self._response.close()  # a pending read fails at once; ``connect`` sees the stop

    # --- one connection ----------------------------------------------------------------------

    async def connect(self, link: Link, ended: Ended) -> None:
        api = self.instance.api
        timeout = aiohttp.ClientTimeout(sock_connect=self.config.connect_timeout)
        try:
            async with api.stream_session.get(
                self.source,
                headers=api.headers("text/event-stream"),
                timeout=timeout,
                allow_redirects=False,
            ) as response:
                self._response = response
                if response.status != 200:
                    await self._refused(response, ended)
                    return
                await link.connected()
                await self._read(response, link, ended)
        except (aiohttp.ClientError, OSError) as exc:  # TimeoutError is an OSError
            if isinstance(exc, TimeoutError) and not isinstance(exc, aiohttp.ClientError):
                ended.reason = (
                    f"{self.key}: stream stalled: no heartbeat for {self.config.stall_timeout:g} s"
                )
                ended.cause = "stalled"
            else:
                name = type(exc).__name__
                ended.reason = f"{self.key}: stream network error: {name}: {str(exc)[:200]}"
                ended.cause = f"network error ({name})"
        finally:
            self._response = None
        if link.stopping.is_set():
            ended.stopped = True

    async def _read(self, response: aiohttp.ClientResponse, link: Link, ended: Ended) -> None:
        parser = SseParser()
        while not link.stopping.is_set():
            chunk = await asyncio.wait_for(response.content.readany(), self.config.stall_timeout)
            if not chunk:
                ended.reason = f"{self.key}: stream closed by the server"
                return
            for item in parser.feed(chunk):
                await self._item(item, link)

    async def _refused(self, response: aiohttp.ClientResponse, ended: Ended) -> None:
        body = ""
        with contextlib.suppress(aiohttp.ClientError, TimeoutError):
            body = (await response.content.read(500)).decode("utf-8", "replace")
        status = response.status
        ended.schedule = http_schedule(status)
        ended.reason = f"{self.key}: stream answered HTTP {status}"
        ended.cause = f"HTTP {status}"
        if ended.schedule is None:
            ended.fatal = (
                self.instance.api.refused(status)
                if status in (401, 403)
                else f"{self.instance.url} refused the hashtag stream #{self.tag} "
                f"(HTTP {status}): {_error_message(body)}"
            )

    # --- events ------------------------------------------------------------------------------

    async def _item(self, item: Event | Comment | Oversized, link: Link) -> None:
        owner = self.owner
        if isinstance(item, Comment):
            link.alive()
            return
        owner.stats.read += 1
        if isinstance(item, Oversized):
            await owner.reject(
                "mastodon-event-too-large",
                f"an event of at least {item.size:,} bytes; its first bytes are kept",
                self.source,
                item.head,
            )
            link.alive()
        elif item.event in STATUS_EVENTS:
            await self._status(item, link)
        elif item.event == "delete":
            await self._delete(item, link)
        else:  # notifications, announcements...: not on a hashtag stream, not posts
            owner.stats.skipped[f"mastodon-event:{item.event}"[:60]] += 1
            link.alive()

    async def _status(self, event: Event, link: Link) -> None:
        owner = self.owner
        provenance = owner.provenance(self.source)
        try:
            found = statuses(event.data, provenance, self.uid_of)
        except (MappingError, NotAPost) as exc:
            await owner.reject(INVALID, f"{event.event} event: {exc}", self.source, event.data)
            link.alive()
            return
        for local_id, uri in found.local_ids.items():
            owner.known.remember(self.instance.url, local_id, uri)
        for post in found.posts:
            await owner.emit(post)
        if event.event == "update" and found.local_id is not None:
            link.seen(found.local_id)  # an edit may be of an old status: it bounds nothing
        else:
            link.alive()

    async def _delete(self, event: Event, link: Link) -> None:
        owner = self.owner
        local = event.data.strip().decode("utf-8", "replace")
        if not LOCAL_ID.fullmatch(local):
            await owner.reject(
                "not-a-valid-mastodon-delete",
                "delete event without a status id",
                self.source,
                event.data,
            )
            link.alive()
            return
        uid = self.uid_of(local)
        message = orjson.dumps(
            {"stream": ["hashtag", self.tag], "event": "delete", "payload": local}
        )
        now = datetime.fromtimestamp(link.clock.time(), UTC)
        await owner.emit_deletion(deletion(uid, message, owner.provenance(self.source), now))
        if not owner.known.knows(self.instance.url, local):
            log.info("%s: delete of status %s never seen on %s", owner.name, local, self.key)
        link.alive()

    # --- backfill ----------------------------------------------------------------------------

    async def backfill(self, job: BackfillJob, link: Link) -> int | None:
        """Publish the tag timeline's statuses in the job's window; how many were new here."""
        window = backfill_window(job, timedelta(seconds=self.config.federation_lag))
        recovered = 0
        pages = self.instance.api.tag_timeline(
            self.tag,
            since_id=window.since_id,
            max_id=window.max_id,
            limit=self.config.page_size,
            interrupt=link.stopping,
        )
        async with contextlib.aclosing(pages):
            async for page in pages:
                new, done = await self._page(page, window)
                recovered += new
                if done:
                    break
        return None if link.stopping.is_set() else recovered

    async def _page(self, page: Response, window: Window) -> tuple[int, bool]:
        """Publish one page: (statuses new on this instance, whether the window is done)."""
        owner = self.owner
        try:
            elements = msgspec.json.decode(page.body, type=list[msgspec.Raw])
        except msgspec.DecodeError as exc:
            owner.stats.read += 1
            await owner.reject(INVALID, f"tag timeline page: {exc}", page.url, page.body)
            return 0, True
        provenance = owner.provenance(page.url, collector="mastodon-timeline")
        new, done = 0, page.next is None
        for element in elements:
            owner.stats.read += 1
            raw = bytes(element)
            try:
                found = statuses(raw, provenance, self.uid_of)
            except (MappingError, NotAPost) as exc:
                await owner.reject(INVALID, f"tag timeline: {exc}", page.url, raw)
                continue
            local = found.local_id
            since = window.since_id
            if since is not None and local is not None and not older(since, local):
                done = True  # pages after the first no longer carry since_id
                continue
            if window.start_time is not None and found.posts[-1].created_at < window.start_time:
                done = True
                continue
            if local is not None and not owner.known.knows(self.instance.url, local):
                new += 1
            for local_id, uri in found.local_ids.items():
                owner.known.remember(self.instance.url, local_id, uri)
            for post in found.posts:
                await owner.emit(post)
        return new, done


def _error_message(body: str) -> str:
    try:
        error = orjson.loads(body).get("error")
    except (orjson.JSONDecodeError, AttributeError):
        error = None
    return str(error) if error else re.sub(r"\s+", " ", body)[:200]


class MastodonCollector(LiveCollector):
    """Follows every campaign tag on every instance; see the module docstring."""

    name = "mastodon"

    def __init__(
        self,
        publisher: Publisher,
        campaign: Campaign,
        tokens: Mapping[str, Token],
        *,
        instances: Sequence[str] = (),
        config: MastodonConfig | None = None,
        checkpoint: CheckpointFile | None = None,
        known: Path | None = None,
        clock: Clock | None = None,
    ) -> None:
        config = config or MastodonConfig()
        urls = list(
            dict.fromkeys(u.rstrip("/") for u in (*campaign.mastodon.instances, *instances))
        )
        if not urls:
            raise StreamError(
                "no Mastodon instance to follow: give [mastodon] instances in the campaign "
                "config or --instance URL"
            )
        tags = followed_tags(campaign.hashtags)
        if not tags:
            raise StreamError(
                "the campaign has no hashtags: Mastodon's streams follow hashtags only"
            )
        missing = [u for u in urls if u not in tokens]
        if missing:
            raise StreamError(f"no token for {', '.join(missing)}")
        self.mastodon_config = config
        self.known = KnownStatuses(known, limit=config.remember)
        self.instances = [Instance(u) for u in urls]
        streams = [TagStream(i, tag, config) for i in self.instances for tag in tags]
        super().__init__(
            publisher,
            streams,
            campaign=campaign,
            config=config.live(),
            checkpoint=checkpoint,
            clock=clock,
        )
        for instance in self.instances:  # the API waits through the collector's waiter
            instance.api = MastodonApi(
                instance.url,
                tokens[instance.url],
                self.waiter,
                connect_timeout=config.connect_timeout,
                read_timeout=config.read_timeout,
            )
        if campaign.keywords:
            log.warning(
                "%s: keywords are not followed on Mastodon, only hashtags: %s",
                self.name,
                ", ".join(campaign.keywords),
            )

    def rules(self) -> list[str]:
        return [s.source for s in self.streams]

    def parameters(self) -> dict[str, Any]:
        return {
            "instances": [i.url for i in self.instances],
            "streaming": {i.url: i.streaming for i in self.instances},
            "tags": list(dict.fromkeys(s.tag for s in self.streams if isinstance(s, TagStream))),
            "backfill": self.mastodon_config.backfill,
            "federation_lag": self.mastodon_config.federation_lag,
        }

    def checkpointed(self) -> None:
        self.known.flush()

    async def collect(self) -> None:
        try:
            await super().collect()
        finally:
            for instance in self.instances:
                await instance.api.close()
            self.known.close()
