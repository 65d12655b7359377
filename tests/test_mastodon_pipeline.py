"""Two fake Mastodon instances through the whole pipeline: a collector killed with -9 in the
middle of its streams, a restart through every fault, and the store keeping each post once,
its edit as a version, its deletion as a mark, every outage as a gap."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agents.checkpoint import CheckpointFile, checkpoint_path
from agents.mastodon.api import Token
from agents.mastodon.stream import MastodonCollector
from agents.publisher import KafkaPublisher
from pipeline.core.settings import Settings
from pipeline.session import Session, session
from pipeline.sinks.querying import as_time
from tests.fakes.mastodon import FakeMastodon, Fediverse, Plan
from tests.live import cli_env
from tests.test_mastodon_collector import (
    HASHTAGS,
    T1,
    T2,
    T3,
    TOKEN,
    campaign,
    config,
    instances,  # noqa: F401 - the fixture
    stream_key,
    uid,
)
from tests.test_x_collector import FastClock

pytestmark = pytest.mark.slow


async def rows(s: Session, sql: str, *args: object) -> list[tuple[Any, ...]]:
    return await s.store.query(sql, *args)


async def until(check: Callable[[], Any], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.1)


def streamed(instance: FakeMastodon, tag: str) -> list[str]:
    return [i for c in instance.conns if c.tag == tag for i in c.streamed]


async def test_killed_and_restarted_through_every_fault_stores_each_post_once(
    settings: Settings,
    instances: tuple[Fediverse, FakeMastodon, FakeMastodon],  # noqa: F811
    tmp_path: Path,
) -> None:
    fediverse, a, b = instances
    config_file = tmp_path / "campaign.toml"
    tags = ", ".join(f'"{t}"' for t in HASHTAGS)
    config_file.write_text(
        f'name = "detainees"\nhashtags = [{tags}]\n'
        f'[mastodon]\ninstances = ["{a.base_url}", "{b.base_url}"]\n',
        encoding="utf-8",
    )
    checkpoint = CheckpointFile(checkpoint_path(settings.data_dir, "detainees", "mastodon"))
    known = checkpoint.path.with_suffix(".statuses.sqlite")
    async with session(settings) as s:
        # 1. the collector as people run it, in a process of its own, killed with -9 mid-stream
        a.plans[T1.lower()] = deque([Plan(posts=4, then="keep")])
        a.plans[T2.lower()] = deque([Plan(posts=2, then="keep")])
        a.plans[T3.lower()] = deque([Plan(posts=1, then="keep")])
        b.plans[T3.lower()] = deque([Plan(posts=2, then="keep")])
        env = cli_env(settings, HASHWATCH_CONFIG=str(config_file), MASTODON_TOKEN=TOKEN)
        killed = subprocess.Popen(
            [sys.executable, "-m", "pipeline.cli", "collect", "mastodon"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            await until(lambda: _sync(len(a.conns) == 3 and len(b.conns) == 3), 60)
            await until(lambda: _sync(len(streamed(a, T1)) == 4 and len(streamed(b, T3)) == 2))
            shared = fediverse.create(a, T3, to=[b])  # federated: reaches both streams
            stream_ids = {
                stream_key(a, T1): streamed(a, T1)[-1],
                stream_key(a, T3): a.copies[shared.uri].local_id,
                stream_key(b, T3): b.copies[shared.uri].local_id,
            }

            async def checkpointed() -> bool:  # what it read is flushed and checkpointed
                if not checkpoint.path.exists():
                    return False
                saved = checkpoint.load()
                return all(saved.stream(k).cursor == v for k, v in stream_ids.items())

            await until(checkpointed)
            await until(lambda: _count(s, "SELECT count(*) FROM posts", 10))
        finally:
            killed.kill()
            out, err = killed.communicate(timeout=30)
        assert killed.returncode == -signal.SIGKILL
        saved = checkpoint.load()

        # 2. nobody listening
        missed = [fediverse.create(a, T1, offline=True) for _ in range(3)]
        missed += [fediverse.create(b, T3, offline=True) for _ in range(2)]

        # 3. restarted: it catches up, then one stream goes through every fault
        a.plans[T1.lower()] = deque(
            [
                Plan(posts=2, then="cut", offline=2),
                Plan("http", status=429, offline=1),
                Plan(posts=2, then="keep"),
            ]
        )
        for instance, tag in [(a, T2), (a, T3), (b, T1), (b, T2), (b, T3)]:
            instance.plans[tag.lower()] = deque([Plan(posts=1, then="keep")])
        a.timeline_faults.append(("429", 2))
        publisher = KafkaPublisher(s.bootstrap, s.topics)
        await publisher.start()
        restarted = MastodonCollector(
            publisher,
            campaign(a.base_url, b.base_url),
            {u: Token(TOKEN, "MASTODON_TOKEN") for u in (a.base_url, b.base_url)},
            config=config(),
            checkpoint=checkpoint,
            known=known,
            clock=FastClock(),
        )
        task = asyncio.create_task(restarted.run())
        try:
            total = 10 + 5 + (2 + 1 + 2 + 1 + 2) + 5
            await until(lambda: _count(s, "SELECT count(*) FROM posts", total))
            await until(lambda: _sync(restarted.backfills_pending() == 0))
            t2 = [p for p in fediverse.posts if p.tag == T2][:2]  # streamed by the killed run
            fediverse.edit(t2[0], "words changed after the fact")
            fediverse.delete(t2[1])  # its uri is known from the killed run's memory
            await until(lambda: _count(s, "SELECT count(*) FROM post_versions", 1))
            await until(
                lambda: _count(s, "SELECT count(*) FROM posts WHERE deleted_at IS NOT NULL", 1)
            )
            await until(lambda: _count(s, 'SELECT count(*) FROM gaps WHERE "end" IS NOT NULL', 7))
        finally:  # a failed wait must not leave the collector running (it would hang the suite)
            restarted.stop()
            await asyncio.wait_for(task, 10)
        await publisher.stop()
        await until(lambda: _count(s, "SELECT count(*) FROM collections", 2))
        await asyncio.sleep(0.5)  # anything late would show now

        # every post either instance made is stored exactly once, and nothing else
        stored = [r[0] for r in await rows(s, "SELECT uid FROM posts")]
        assert sorted(stored) == sorted(uid(p) for p in fediverse.posts)
        assert len(fediverse.posts) == total
        # duplicates (the federated copy, posts read twice around the kill) made no versions
        versions = await rows(s, "SELECT uid, text FROM post_versions")
        assert [(u, text.split(" #")[0]) for u, text in versions] == [
            (uid(t2[0]), "words changed after the fact")
        ]
        assert await rows(s, "SELECT uid FROM deletions") == [(uid(t2[1]),)]
        assert await rows(s, "SELECT uid FROM posts WHERE deleted_at IS NOT NULL") == [
            (uid(t2[1]),)
        ]
        assert restarted.stats.dead_lettered == 0

        # the restart's gaps: every stream was down from its last checkpointed sign of life
        gaps = await rows(s, 'SELECT source, start, "end", reason, recovered FROM gaps')
        down = {
            src: (start, rec) for src, start, _, why, rec in gaps if why == "collector not running"
        }
        assert len(down) == 6
        for stream in restarted.streams:
            start, recovered = down[stream.source]
            covered = saved.stream(stream.key).covered_until
            assert as_time(start) == covered
            assert recovered == {stream_key(a, T1): 3, stream_key(b, T3): 2}.get(stream.key, 0)
        [(reason, recovered)] = [(g[3], g[4]) for g in gaps if g[3] != "collector not running"]
        assert (reason, recovered) == ("network error (ClientPayloadError); HTTP 429", 1 + 2 + 1)
        limited = [d for d in restarted.delays if d.schedule == "rate-limit-reset"]
        assert [round(d.seconds) for d in limited] == [2]

        # the killed run is on record as started and never stopped
        runs = await rows(s, "SELECT collector, stopped_at IS NULL, outcome FROM collections")
        assert sorted(runs, key=str) == [("mastodon", 0, "stopped"), ("mastodon", 1, None)]

    # the token never shows: not in the killed process's output, the store or the files
    secret = TOKEN.encode()
    assert secret not in out and secret not in err
    for path in settings.data_dir.rglob("*"):
        if path.is_file():
            assert secret not in path.read_bytes(), path


async def _sync(value: bool) -> bool:
    return value


async def _count(s: Session, sql: str, expected: int) -> bool:
    [(count,)] = await rows(s, sql)
    return bool(count == expected)
