"""What every collector shares: publishing, provenance, dead letters, progress, graceful stop.

Each run is a *collection*: a ``Collection`` record is published when it starts and again
when it stops (campaign config, rules, parameters, software version, host), and every post
names it in ``provenance.collection`` together with the SHA-256 of the exact bytes received,
so an archive can always say where a post came from and whether it is what was served.
"""

from __future__ import annotations

import abc
import asyncio
import hashlib
import logging
import socket
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgspec

from agents.publisher import Publisher
from pipeline import __version__
from pipeline.core.campaign import Campaign
from pipeline.core.progress import Progress
from schemas.collection import Collection
from schemas.deadletter import DeadLetter
from schemas.post import Post, PostDeletion, Provenance

log = logging.getLogger(__name__)


@dataclass(slots=True)
class CollectorStats:
    read: int = 0  # input units read: lines, stream messages, API pages' items
    posts: int = 0  # posts published to the raw topic
    deletions: int = 0  # deletions published to the raw topic
    dead_letters: Counter[str] = field(default_factory=Counter)  # by reason
    skipped: Counter[str] = field(default_factory=Counter)  # valid input that holds no post
    started: float = field(default_factory=time.monotonic)

    @property
    def dead_lettered(self) -> int:
        return sum(self.dead_letters.values())

    def line(self, name: str) -> str:
        rate = self.posts / max(time.monotonic() - self.started, 1e-9)
        skipped = sum(self.skipped.values())
        return (
            f"{name}: {self.read:,} read, {self.posts:,} posts ({rate:,.0f}/s), "
            f"{self.dead_lettered:,} dead-lettered, {skipped:,} skipped"
        )


class Collector(abc.ABC):
    """A source of posts. Subclasses implement ``collect()`` and loop while ``running``."""

    name: str = "collector"

    def __init__(
        self,
        publisher: Publisher,
        *,
        campaign: Campaign | None = None,
        progress_every: float = 5.0,
    ) -> None:
        self.publisher = publisher
        self.campaign = campaign
        self.stats = CollectorStats()
        self.running = False
        self.collection_id = uuid.uuid4().hex
        self.started_at = datetime.now(UTC)
        self._progress_every = progress_every
        # A bar (terminal) or periodic lines; without one, a stats line every few seconds.
        self.progress: Progress | None = None

    @abc.abstractmethod
    async def collect(self) -> None:
        """Publish posts with ``emit`` until done or ``running`` turns false."""

    def rules(self) -> list[str]:
        """What the platform is asked for (stream rules, tags, instances): for the record."""
        return []

    def parameters(self) -> dict[str, Any]:
        """The run's options worth recording; never a secret."""
        return {}

    async def run(self) -> CollectorStats:
        self.running = True
        self.started_at = datetime.now(UTC)
        await self.announce()
        reporter = None if self.progress else asyncio.create_task(self._report_progress())
        outcome = "error"
        try:
            await self.collect()
            outcome = "finished" if self.running else "stopped"
        except asyncio.CancelledError:
            outcome = "stopped"
            raise
        except Exception as exc:
            outcome = f"failed: {type(exc).__name__}: {exc}"[:500]
            raise
        finally:
            self.running = False
            if reporter is not None:
                reporter.cancel()
            await self.publisher.collection(
                self._collection(stopped=datetime.now(UTC), outcome=outcome)
            )
            await self.publisher.flush()
            if self.progress is not None:
                self.progress.close()
            log.info(self.stats.line(self.name))
        return self.stats

    def stop(self) -> None:
        """Finish the current item, flush, and return from ``run``."""
        self.running = False

    def provenance(self, source: str, collector: str | None = None) -> Provenance:
        """Where a payload came from, now, in this run; ``.of(raw)`` adds the payload's hash."""
        return Provenance(
            collector=collector or self.name,
            version=__version__,
            retrieved_at=datetime.now(UTC),
            source=source,
            collection=self.collection_id,
        )

    async def emit(self, post: Post) -> None:
        await self.publisher.post(post)
        self.stats.posts += 1
        if self.progress is not None:
            self.progress.advance()

    async def emit_deletion(self, deletion: PostDeletion) -> None:
        await self.publisher.deletion(deletion)
        self.stats.deletions += 1

    async def reject(
        self, reason: str, detail: str, source: str, original: bytes, key: str | None = None
    ) -> None:
        """Bad input is never dropped silently: it goes to the dead-letter topic with why."""
        self.stats.dead_letters[reason] += 1
        log.warning("%s: dead-lettered %s at %s: %s", self.name, reason, source, detail)
        await self.publisher.dead_letter(
            DeadLetter(
                reason=reason,
                detail=detail,
                stage=f"collector:{self.name}",
                source=source,
                key=key,
                original=original,
                at=datetime.now(UTC),
            )
        )

    async def announce(self) -> None:
        """Publish this run's Collection record (again, once it knows more)."""
        await self.publisher.collection(self._collection())

    def _collection(
        self, stopped: datetime | None = None, outcome: str | None = None
    ) -> Collection:
        campaign = self.campaign
        config = campaign.source if campaign is not None else None
        return Collection(
            id=self.collection_id,
            collector=self.name,
            campaign=campaign.name if campaign is not None else None,
            config=config.decode("utf-8", "replace") if config is not None else None,
            config_sha256=hashlib.sha256(config).hexdigest() if config is not None else None,
            rules=self.rules(),
            parameters=msgspec.to_builtins(self.parameters()),
            software=f"hashwatch {__version__}",
            host=socket.gethostname(),
            started_at=self.started_at,
            stopped_at=stopped,
            outcome=outcome,
        )

    async def _report_progress(self) -> None:
        while True:
            await asyncio.sleep(self._progress_every)
            log.info(self.stats.line(self.name))
