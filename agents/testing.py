"""Test doubles many tests need: a publisher that keeps what it is given."""

from __future__ import annotations

from dataclasses import dataclass, field

from schemas.deadletter import DeadLetter
from schemas.post import Post


@dataclass
class ListPublisher:
    posts: list[Post] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    flushes: int = 0

    async def post(self, post: Post) -> None:
        self.posts.append(post)

    async def dead_letter(self, record: DeadLetter) -> None:
        self.dead_letters.append(record)

    async def flush(self) -> None:
        self.flushes += 1
