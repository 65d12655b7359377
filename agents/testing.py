"""Test doubles many tests need: a publisher that keeps what it is given, a fast clock."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from schemas.collection import Collection
from schemas.deadletter import DeadLetter
from schemas.gap import Gap
from schemas.post import Post, PostDeletion


@dataclass
class ListPublisher:
    posts: list[Post] = field(default_factory=list)
    deletions: list[PostDeletion] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    gaps: list[Gap] = field(default_factory=list)  # every version, in the order published
    collections: list[Collection] = field(default_factory=list)
    flushes: int = 0

    async def post(self, post: Post) -> None:
        self.posts.append(post)

    async def deletion(self, deletion: PostDeletion) -> None:
        self.deletions.append(deletion)

    async def dead_letter(self, record: DeadLetter) -> None:
        self.dead_letters.append(record)

    async def gap(self, gap: Gap) -> None:
        self.gaps.append(gap)

    async def collection(self, collection: Collection) -> None:
        self.collections.append(collection)

    async def flush(self) -> None:
        self.flushes += 1

    def latest_gaps(self) -> dict[str, Gap]:
        """Each gap as last published (a gap is re-published when it closes and is filled)."""
        return {g.id: g for g in self.gaps}


class FastClock:
    """Real wall time, but sleeps return at once and are recorded: tests of reconnect and
    rate-limit schedules run fast and assert the exact delays."""

    def __init__(self) -> None:
        self.sleeps: list[float] = []

    def time(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        await asyncio.sleep(0)
