"""What every collector shares: publishing, provenance, dead letters, progress, graceful stop."""

from __future__ import annotations

import abc
import asyncio
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

from agents.publisher import Publisher
from pipeline import __version__
from pipeline.core.progress import Progress
from schemas.deadletter import DeadLetter
from schemas.post import Post, Provenance

log = logging.getLogger(__name__)


@dataclass(slots=True)
class CollectorStats:
    read: int = 0  # input units read: lines, stream messages, API pages' tweets
    posts: int = 0  # posts published to the raw topic
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

    def __init__(self, publisher: Publisher, *, progress_every: float = 5.0) -> None:
        self.publisher = publisher
        self.stats = CollectorStats()
        self.running = False
        self._progress_every = progress_every
        # A bar (terminal) or periodic lines; without one, a stats line every few seconds.
        self.progress: Progress | None = None

    @abc.abstractmethod
    async def collect(self) -> None:
        """Publish posts with ``emit`` until done or ``running`` turns false."""

    async def run(self) -> CollectorStats:
        self.running = True
        reporter = None if self.progress else asyncio.create_task(self._report_progress())
        try:
            await self.collect()
        finally:
            self.running = False
            if reporter is not None:
                reporter.cancel()
            await self.publisher.flush()
            if self.progress is not None:
                self.progress.close()
            log.info(self.stats.line(self.name))
        return self.stats

    def stop(self) -> None:
        """Finish the current item, flush, and return from ``run``."""
        self.running = False

    def provenance(self, source: str) -> Provenance:
        return Provenance(
            collector=self.name, version=__version__, retrieved_at=datetime.now(UTC), source=source
        )

    async def emit(self, post: Post) -> None:
        await self.publisher.post(post)
        self.stats.posts += 1
        if self.progress is not None:
            self.progress.advance()

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

    async def _report_progress(self) -> None:
        while True:
            await asyncio.sleep(self._progress_every)
            log.info(self.stats.line(self.name))
