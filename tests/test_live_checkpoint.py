"""The shared live layer writes a checkpoint only after the publisher flushed what it covers."""

from __future__ import annotations

import asyncio
from pathlib import Path

from agents.checkpoint import CheckpointFile
from agents.live import Ended, Link, LiveCollector, LiveConfig, LiveStream
from agents.testing import ListPublisher
from pipeline.core.backoff import ReconnectPolicy
from schemas.testing import post
from tests.test_x_collector import FastClock


class Scripted(LiveStream):
    """Connects, reads three posts, then waits for the stop."""

    key = "s"
    source = "test://s"

    def __init__(self) -> None:
        self.policy = ReconnectPolicy()

    async def connect(self, link: Link, ended: Ended) -> None:
        await link.connected()
        for i in (1, 2, 3):
            await self.owner.emit(post(i))
            link.seen(str(i))
        await link.stopping.wait()
        ended.stopped = True


class HeldFlush(ListPublisher):
    """A broker that has not acknowledged anything until ``release`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()

    async def flush(self) -> None:
        await self.release.wait()
        await super().flush()


async def test_a_checkpoint_never_claims_posts_the_broker_has_not_acknowledged(
    tmp_path: Path,
) -> None:
    path = CheckpointFile(tmp_path / "c.json")
    publisher = HeldFlush()
    collector = LiveCollector(
        publisher,
        [Scripted()],
        config=LiveConfig(checkpoint_every=0.0),
        checkpoint=path,
        clock=FastClock(),
    )
    task = asyncio.create_task(collector.run())
    while len(publisher.posts) < 3:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.1)
    assert not path.path.exists()  # published, not yet acknowledged: no checkpoint says so
    publisher.release.set()
    while not path.path.exists() or path.load().stream("s").cursor != "3":
        await asyncio.sleep(0.01)
    collector.stop()
    await asyncio.wait_for(task, 5)
    assert path.load().stream("s").cursor == "3" and publisher.flushes >= 2
