"""The topic names that form hashwatch's public contract, and their creation."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from aiokafka.admin import NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from pipeline.core import kafka

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Topics:
    prefix: str = "hashwatch"

    @property
    def raw(self) -> str:
        return f"{self.prefix}.posts.raw"

    @property
    def enriched(self) -> str:
        return f"{self.prefix}.posts.enriched"

    @property
    def alerts(self) -> str:
        return f"{self.prefix}.alerts"

    @property
    def metrics(self) -> str:
        return f"{self.prefix}.metrics"

    @property
    def deadletter(self) -> str:
        return f"{self.prefix}.deadletter"

    @property
    def gaps(self) -> str:
        """Gap v1 keyed by gap id: outages of collectors, written to the store by the sink."""
        return f"{self.prefix}.gaps"

    @property
    def collections(self) -> str:
        """Collection v1 keyed by run id: which collector ran when, with what config."""
        return f"{self.prefix}.collections"

    @property
    def facts(self) -> str:
        """Internal: the enrich stage's facts for the ledger, on one partition (one ledger)."""
        return f"{self.prefix}.internal.facts"

    def public(self) -> list[str]:
        return [
            self.raw,
            self.enriched,
            self.alerts,
            self.metrics,
            self.deadletter,
            self.gaps,
            self.collections,
        ]

    def all(self) -> list[str]:
        return [*self.public(), self.facts]

    def partitions(self, name: str, default: int) -> int:
        return 1 if name == self.facts else default


async def create_topics(bootstrap: str, topics: Topics, partitions: int) -> list[str]:
    """Create every topic up front so partition counts are what we chose, not broker defaults;
    return the ones that were missing."""
    client = kafka.admin(bootstrap)
    try:
        await client.start()
        existing = set(await client.list_topics())
        missing = [t for t in topics.all() if t not in existing]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):  # another process raced us: fine
                await client.create_topics(
                    [NewTopic(name, topics.partitions(name, partitions), 1) for name in missing]
                )
    finally:
        await client.close()
    return missing


async def keep_topics(
    bootstrap: str, topics: Topics, partitions: int, every_s: float = 2.0
) -> None:
    """Create again whatever topic the broker lost, until cancelled.

    The embedded broker keeps topics in memory: when it restarts they are gone, and no client
    may create them with the broker's default layout (see ``kafka``). Every worker runs this,
    so whichever notices first puts them back as ``create_topics`` made them."""
    while True:
        await asyncio.sleep(every_s)
        try:
            created = await asyncio.wait_for(create_topics(bootstrap, topics, partitions), 30)
            if created:
                log.warning("the broker had lost topics %s: created them again", created)
        except (
            KafkaError,
            OSError,
            TimeoutError,
        ) as exc:  # the broker is down or restarting: next round
            log.debug("cannot check topics yet: %s", exc)
