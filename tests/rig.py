"""The fault tests' rig: one campaign through several pipelines at once, to compare them.

The same synthetic posts (live: created as they are sent) go, byte for byte, to the raw topic
of each pipeline (its own topic prefix, its own store); each pipeline's workers are real
``hashwatch worker`` processes, which a test can kill with -9 and start again. What the
pipelines stored and published is then read back in one backend-neutral shape.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

import msgspec

from agents.publisher import KafkaPublisher
from agents.spool import Spool
from agents.synth.collector import SynthConfig, SynthStream
from pipeline.core import kafka
from pipeline.core.topics import Topics, create_topics
from pipeline.exports.reader import PostFilter, StoredPost, iter_pages
from pipeline.sinks.querying import open_existing
from schemas.codec import decode
from schemas.metrics import MetricsWindow
from schemas.post import Post

# Short windows and grace so a campaign of a minute closes windows (and raises alerts).
WINDOW_S, GRACE_S = 5.0, 5.0
PHASES = (("normal", 15.0, 1.0), ("surge", 8.0, 5.0), ("quiet", 7.0, 0.3))


@dataclass
class Pipeline:
    """One pipeline: a topic prefix, a store, and its worker processes."""

    name: str
    bootstrap: str
    store: str
    data_dir: Path
    partitions: int = 4
    spool: bool = False  # whether its collector journals what it sends (see agents/spool.py)
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def topics(self) -> Topics:
        return Topics(self.name)

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HASHWATCH_")}
        env.update(
            HASHWATCH_BROKER=f"kafka://{self.bootstrap}",
            HASHWATCH_STORE=self.store,
            HASHWATCH_TOPIC_PREFIX=self.name,
            HASHWATCH_PARTITIONS=str(self.partitions),
            HASHWATCH_DATA_DIR=str(self.data_dir),
            HASHWATCH_LANG_BACKEND="fasttext",
            HASHWATCH_METRICS_WINDOW_S=str(WINDOW_S),
            HASHWATCH_METRICS_GRACE_S=str(GRACE_S),
        )
        return env

    def start_worker(self) -> subprocess.Popen[bytes]:
        log = open(self.data_dir / f"worker-{len(self.procs)}.log", "ab")  # noqa: SIM115
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pipeline.cli",
                "--log-level",
                "info",
                "--log-format",
                "text",
                "worker",
            ],
            env=self.env(),
            stdout=log,
            stderr=log,
        )
        log.close()
        self.procs.append(proc)
        return proc

    def kill(self, proc: subprocess.Popen[bytes]) -> None:
        proc.send_signal(signal.SIGKILL)
        proc.wait()

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()

    def publisher(self) -> KafkaPublisher:
        """A collector's publisher, with its on-disk spool when the pipeline has one."""
        spool = Spool(self.data_dir / "collector.journal") if self.spool else None
        return KafkaPublisher(
            self.bootstrap, self.topics, linger_ms=5, spool=spool, partitions=self.partitions
        )

    async def prepare(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        await create_topics(self.bootstrap, self.topics, self.partitions)


def campaign(count: int, seed: int = 5, rate: float = 150.0) -> list[Post]:
    """The seeded synthetic campaign, created from now on at ``rate`` posts a second."""
    stream = SynthStream(SynthConfig(seed=seed, rate=rate, phases=PHASES), start=datetime.now(UTC))
    return [stream.next_post() for _ in range(count)]


async def publish_live(pipelines: Sequence[Pipeline], posts: Sequence[Post]) -> None:
    """Each post to every pipeline's raw topic when its created_at comes (late ones at once)."""
    publishers = [p.publisher() for p in pipelines]
    for pub in publishers:
        await pub.start()
    try:
        for post in posts:
            delay = post.created_at.timestamp() - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            for pub in publishers:
                await pub.post(post)
    finally:
        for pub in publishers:
            await pub.stop()


def unique_uids(posts: Sequence[Post]) -> set[str]:
    return {p.uid for p in posts}


async def stored_posts(store: str) -> dict[str, StoredPost]:
    """Every post, its media and hashtags; ``processed_at`` (when, not what) set aside."""
    db = await open_existing(store)
    try:
        out = {}
        async for page in iter_pages(db, PostFilter()):
            for post in page:
                out[post.uid] = replace(post, processed_at=datetime(2000, 1, 1, tzinfo=UTC))
        return out
    finally:
        await db.close()


async def stored_count(store: str) -> int:
    with contextlib.suppress(Exception):
        db = await open_existing(store)
        try:
            [(n,)] = await db.query("SELECT count(*) FROM posts")
            return int(n)  # type: ignore[call-overload]
        finally:
            await db.close()
    return 0


async def stored_alerts(store: str) -> list[tuple[object, ...]]:
    db = await open_existing(store)
    try:
        rows = await db.query(
            "SELECT id, rule, severity, subject, summary, value, threshold, examples, links "
            "FROM alerts ORDER BY id"
        )
        return [
            tuple(msgspec.json.decode(v) if i in (7, 8) else v for i, v in enumerate(r))
            for r in rows
        ]
    finally:
        await db.close()


async def topic_values(bootstrap: str, topic: str) -> list[tuple[bytes, bytes]]:
    """Every (key, value) of a topic, read to the end (waiting for quiet, not end offsets)."""
    reader = kafka.consumer(bootstrap, topic, group_id=None, enable_auto_commit=False)
    await reader.start()
    out: list[tuple[bytes, bytes]] = []
    try:
        idle = 0
        while idle < 3:
            batch = await reader.getmany(timeout_ms=500)
            records = [r for recs in batch.values() for r in recs]
            out.extend((r.key or b"", r.value or b"") for r in records)
            idle = 0 if records else idle + 1
    finally:
        await reader.stop()
    return out


async def metrics(bootstrap: str, topics: Topics) -> dict[bytes, MetricsWindow]:
    """The last record of each window."""
    return {k: decode(v, MetricsWindow) for k, v in await topic_values(bootstrap, topics.metrics)}


async def wait_for(check, timeout: float, interval: float = 0.5) -> float:  # type: ignore[no-untyped-def]
    """Poll ``check`` (plain or async) until true; how long it took."""
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        done = check()
        if await done if inspect.isawaitable(done) else done:
            return time.monotonic() - began
        await asyncio.sleep(interval)
    raise AssertionError(f"not reached within {timeout:.0f}s")
