"""``hashwatch collect bluesky``: the campaign's hashtags followed live on Jetstream.

Reconnects, outages as gaps, backfill and checkpoints are agents/live.py's; the stream is
agents/bluesky/jetstream.py. Reposts of posts this collector never saw are counted, not
fetched: the count is in the run's log line and in its Collection record.
"""

from __future__ import annotations

import logging
from typing import Any

from agents.base import CollectorStats
from agents.bluesky.jetstream import BlueskyConfig, JetstreamStream
from agents.bluesky.search import Credentials
from agents.bluesky.seen import SeenPosts
from agents.checkpoint import CheckpointFile
from agents.live import LiveCollector, StreamError
from agents.publisher import Publisher
from pipeline.core.backoff import Clock
from pipeline.core.campaign import Campaign

log = logging.getLogger(__name__)


class BlueskyCollector(LiveCollector):
    name = "bluesky"

    def __init__(
        self,
        publisher: Publisher,
        campaign: Campaign,
        *,
        config: BlueskyConfig | None = None,
        credentials: Credentials | None = None,
        checkpoint: CheckpointFile | None = None,
        clock: Clock | None = None,
    ) -> None:
        if not campaign.hashtags:
            raise StreamError(
                "the Bluesky collector follows hashtags, and the campaign lists none "
                "(`hashtags` in the campaign config)"
            )
        config = config or BlueskyConfig()
        seen_path = None
        if checkpoint is not None:  # beside the checkpoint: <name>.seen.jsonl
            seen_path = checkpoint.path.with_name(checkpoint.path.stem + ".seen.jsonl")
        self.stream = JetstreamStream(
            campaign, config, credentials, SeenPosts(seen_path, config.seen_limit)
        )
        self.bluesky = config
        self.credentials = credentials
        super().__init__(
            publisher,
            [self.stream],
            campaign=campaign,
            config=config.live(),
            checkpoint=checkpoint,
            clock=clock,
        )

    def rules(self) -> list[str]:
        return [f"#{tag}" for tag in self.stream.spellings]

    def parameters(self) -> dict[str, Any]:
        search = self.credentials
        return {
            "jetstream": self.bluesky.jetstream_url,
            "collections": ["app.bsky.feed.post", "app.bsky.feed.repost"],
            "backfill": self.bluesky.backfill,
            "search": search.api_url if search else None,
            "search_account": search.handle if search else None,
            "reposts_of_unseen_posts": self.stream.unseen_reposts,
        }

    async def collect(self) -> None:
        try:
            await super().collect()
        finally:
            await self.stream.close()

    async def run(self) -> CollectorStats:
        try:
            return await super().run()
        finally:
            log.info(
                "%s: %d reposts of posts it never saw were counted, not fetched",
                self.name,
                self.stream.unseen_reposts,
            )
