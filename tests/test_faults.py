"""Exact under faults: a campaign through a pipeline that suffers a fault, and through one that
does not, on the real broker and the real PostgreSQL; every column of every row and every
metrics window must be the same (``processed_at`` aside), and no alert twice.

Run by ``make faults`` (and CI); each test prints its recovery times.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pipeline.core.broker import EmbeddedBroker, free_port
from schemas.post import Post
from tests.rig import (
    WINDOW_S,
    Pipeline,
    campaign,
    metrics,
    publish_live,
    stored_alerts,
    stored_count,
    stored_posts,
    topic_values,
    unique_uids,
    wait_for,
)

pytestmark = [pytest.mark.faults, pytest.mark.slow]


def name(kind: str) -> str:
    return f"{kind}{os.getpid()}x{int(time.time() * 1000) % 10**7}"


async def created_before(store: str, when: float) -> int:
    from pipeline.sinks.querying import open_existing, placeholders, time_param

    db = await open_existing(store)
    try:
        sql = placeholders("SELECT count(*) FROM posts WHERE created_at < ?", db)
        [(n,)] = await db.query(sql, time_param(datetime.fromtimestamp(when, UTC), db))
        return int(n)  # type: ignore[call-overload]
    finally:
        await db.close()


async def all_stored(pipelines: list[Pipeline], posts: list[Post], timeout: float = 120) -> None:
    want = len(unique_uids(posts))

    async def done() -> bool:
        return all([await stored_count(p.store) >= want for p in pipelines])

    await wait_for(done, timeout)


async def settled_metrics(pipeline: Pipeline, posts: list[Post]) -> dict:  # type: ignore[type-arg]
    """The metrics topic once every window of the campaign has closed (once the raw partitions
    are quiet, the watermark moves on with the clock and closes the last ones too)."""
    due = {
        datetime.fromtimestamp(s, UTC)
        for s in {p.created_at.timestamp() // WINDOW_S * WINDOW_S for p in posts}
    }
    now: dict = {}  # type: ignore[type-arg]
    for _ in range(60):
        now = await metrics(pipeline.bootstrap, pipeline.topics)
        if {m.window_start for m in now.values()} >= due:
            return now
        await asyncio.sleep(2)
    return now


async def assert_same(reference: Pipeline, faulty: Pipeline, posts: list[Post]) -> None:
    ref, got = await stored_posts(reference.store), await stored_posts(faulty.store)
    assert set(ref) == set(got) == unique_uids(posts)
    differing = {
        uid: {
            f: (getattr(ref[uid], f), getattr(got[uid], f))
            for f in ref[uid].__dataclass_fields__
            if getattr(ref[uid], f) != getattr(got[uid], f)
        }
        for uid in ref
        if ref[uid] != got[uid]
    }
    assert not differing, (len(differing), list(differing.items())[:5])
    ref_windows, got_windows = await asyncio.gather(
        settled_metrics(reference, posts), settled_metrics(faulty, posts)
    )
    assert ref_windows and set(ref_windows) == set(got_windows), (
        sorted(set(ref_windows) - set(got_windows)),
        sorted(set(got_windows) - set(ref_windows)),
    )
    for key, window in ref_windows.items():
        other = got_windows[key]
        differs = [f for f in window.__struct_fields__ if getattr(window, f) != getattr(other, f)]
        assert not differs, (key, {f: (getattr(window, f), getattr(other, f)) for f in differs})
    ref_alerts, got_alerts = await stored_alerts(reference.store), await stored_alerts(faulty.store)
    assert ref_alerts == got_alerts
    raised = Counter(k for k, _ in await topic_values(faulty.bootstrap, faulty.topics.alerts))
    assert [k for k, n in raised.items() if n > 1] == []  # no alert raised twice
    print(f"compared {len(ref)} posts, {len(ref_windows)} windows, {len(ref_alerts)} alerts")


async def at_times(
    started: float, moments: list[float], fault: Callable[[int], Awaitable[None]]
) -> None:
    for i, moment in enumerate(moments):
        await asyncio.sleep(max(0.0, started + moment - time.time()))
        await fault(i)


async def test_kill_9_three_times_with_two_workers_changes_nothing(
    broker: EmbeddedBroker, pg_base: str, schema: str, tmp_path: Path
) -> None:
    await broker.wait_ready()
    reference = Pipeline(
        name("ref"), broker.bootstrap, f"sqlite:///{tmp_path}/ref.db", tmp_path / "ref"
    )
    faulty = Pipeline(
        name("kill"), broker.bootstrap, f"{pg_base}?schema={schema}", tmp_path / "kill"
    )
    for p in (reference, faulty):
        await p.prepare()
    reference.start_worker()
    workers = [faulty.start_worker(), faulty.start_worker()]
    posts = campaign(9000)
    started = time.time()
    recoveries: list[float] = []
    try:
        publishing = asyncio.create_task(publish_live([reference, faulty], posts))

        async def kill(i: int) -> None:
            victim = workers.pop(0)
            killed_at = time.time()
            faulty.kill(victim)
            await asyncio.sleep(1.0)
            workers.append(faulty.start_worker())
            due = len({p.uid for p in posts if p.created_at.timestamp() < killed_at})

            async def caught_up() -> bool:
                return await created_before(faulty.store, killed_at) >= due

            await wait_for(caught_up, 90)
            recoveries.append(time.time() - killed_at)
            print(
                f"kill -9 #{i + 1}: everything created before it stored {recoveries[-1]:.1f}s later"
            )

        await at_times(started, [6.0, 14.0, 22.0], kill)
        await publishing
        await all_stored([reference, faulty], posts)
        await assert_same(reference, faulty, posts)
    finally:
        reference.stop()
        faulty.stop()
    print(f"recovery after kill -9: {', '.join(f'{r:.1f}s' for r in recoveries)}")


async def test_postgresql_stopped_for_30_seconds_changes_nothing(
    broker: EmbeddedBroker, pg_base: str, schema: str, tmp_path: Path
) -> None:
    await broker.wait_ready()
    cluster = _pg_cluster()
    reference = Pipeline(
        name("ref"), broker.bootstrap, f"sqlite:///{tmp_path}/ref.db", tmp_path / "ref"
    )
    faulty = Pipeline(name("pg"), broker.bootstrap, f"{pg_base}?schema={schema}", tmp_path / "pg")
    for p in (reference, faulty):
        await p.prepare()
    reference.start_worker()
    faulty.start_worker()
    faulty.start_worker()
    posts = campaign(6000)
    try:
        publishing = asyncio.create_task(publish_live([reference, faulty], posts))
        await asyncio.sleep(8)
        _pg_ctl(cluster, "stop")
        stopped_at = time.time()
        await asyncio.sleep(30)
        _pg_ctl(cluster, "start")
        due = len({p.uid for p in posts if p.created_at.timestamp() < stopped_at + 30})

        async def caught_up() -> bool:
            return await created_before(faulty.store, stopped_at + 30) >= due

        took = await wait_for(caught_up, 120)
        print(f"PostgreSQL back: everything created until then stored {took:.1f}s later")
        await publishing
        await all_stored([reference, faulty], posts)
        await assert_same(reference, faulty, posts)
    finally:
        _pg_ctl(cluster, "start")
        reference.stop()
        faulty.stop()


def _pg_cluster() -> str:
    versions = sorted(os.listdir("/etc/postgresql")) if os.path.isdir("/etc/postgresql") else []
    if not versions:
        pytest.fail("the PostgreSQL outage test stops the local server: pg_ctlcluster not found")
    return versions[-1]


def _pg_ctl(version: str, action: str) -> None:
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", action],
        check=action == "stop",
        capture_output=True,
        timeout=60,
    )
    if action == "start":
        for _ in range(100):
            if subprocess.run(["pg_isready", "-h", "127.0.0.1", "-q"]).returncode == 0:
                return
            time.sleep(0.2)


async def test_one_two_or_three_workers_store_the_same(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    await broker.wait_ready()
    pipelines = [
        Pipeline(
            name(f"w{n}"), broker.bootstrap, f"sqlite:///{tmp_path}/w{n}.db", tmp_path / f"w{n}"
        )
        for n in (1, 2, 3)
    ]
    for p in pipelines:
        await p.prepare()
    for n, p in enumerate(pipelines, start=1):
        for _ in range(n):
            p.start_worker()
    posts = campaign(4000)
    try:
        await publish_live(pipelines, posts)
        await all_stored(pipelines, posts)
        for other in pipelines[1:]:
            await assert_same(pipelines[0], other, posts)
    finally:
        for p in pipelines:
            p.stop()


# What a restart of the embedded broker may change: a post that the broker lost is sent again
# after posts created later, so the ledger places it late. Values that depend on the order
# posts were counted in (a repost's rank, a cluster's size when a post joined it, which post
# founded a cluster, media seen before) can differ for the posts around the restart; what
# was collected, and every count (reposts per original, posts per window), may not.
ORDER_DEPENDENT = {"amplification", "cluster_id", "cluster_size", "media_reused"}


async def test_embedded_broker_restart_loses_doubles_and_recounts_nothing(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    await broker.wait_ready()
    restarting = EmbeddedBroker(port=free_port(), log_path=tmp_path / "restarting.log")
    restarting.start()
    reference = Pipeline(
        name("ref"), broker.bootstrap, f"sqlite:///{tmp_path}/ref.db", tmp_path / "ref"
    )
    faulty = Pipeline(
        name("restart"),
        restarting.bootstrap,
        f"sqlite:///{tmp_path}/restart.db",
        tmp_path / "restart",
        spool=True,  # the collector journals what it sends (agents/spool.py)
    )
    await restarting.create_topics_first(faulty.topics, faulty.partitions)
    for p in (reference, faulty):
        await p.prepare()
    reference.start_worker()
    faulty.start_worker()
    faulty.start_worker()
    posts = campaign(4500)
    try:
        publishing = asyncio.create_task(publish_live([reference, faulty], posts))
        await asyncio.sleep(10)
        restarting.stop()  # memory storage: every topic, record and committed offset is gone
        stopped_at = time.time()
        await asyncio.sleep(3)
        restarting.start()  # as `hashwatch broker` does it: topics first
        await restarting.create_topics_first(faulty.topics, faulty.partitions)
        due = len({p.uid for p in posts if p.created_at.timestamp() < stopped_at + 3})

        async def caught_up() -> bool:
            return await created_before(faulty.store, stopped_at + 3) >= due

        took = await wait_for(caught_up, 120)
        print(f"broker restarted: everything created until then stored {took:.1f}s later")
        await publishing
        await all_stored([reference, faulty], posts)

        ref, got = await stored_posts(reference.store), await stored_posts(faulty.store)
        assert set(ref) == set(got) == unique_uids(posts)  # none lost; uid is the key: none doubled
        differing = Counter(
            f
            for uid in ref
            for f in ref[uid].__dataclass_fields__
            if getattr(ref[uid], f) != getattr(got[uid], f)
        )
        assert set(differing) <= ORDER_DEPENDENT, differing
        originals = [u for u in ref if ref[u].repost_of is None]
        # reposts per original: each counted once
        assert [ref[u].amplification for u in originals] == [
            got[u].amplification for u in originals
        ]
        ref_windows, got_windows = await asyncio.gather(
            settled_metrics(reference, posts), settled_metrics(faulty, posts)
        )
        counted = ("posts", "originals", "reposts", "by_language", "by_media_type")
        assert {k: [getattr(w, f) for f in counted] for k, w in ref_windows.items()} == {
            k: [getattr(w, f) for f in counted] for k, w in got_windows.items()
        }
        stored = [a[0] for a in await stored_alerts(faulty.store)]
        assert len(stored) == len(set(stored))  # the alerts table is keyed by id
        raised = Counter(k for k, _ in await topic_values(faulty.bootstrap, faulty.topics.alerts))
        assert [k for k, n in raised.items() if n > 1] == []  # none raised twice on the topic
        print(
            f"compared {len(ref)} posts ({sum(differing.values())} order-dependent values "
            f"differ: {dict(differing)}), {len(ref_windows)} windows, {len(stored)} alerts"
        )
    finally:
        reference.stop()
        faulty.stop()
        restarting.stop()
