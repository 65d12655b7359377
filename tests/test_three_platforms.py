"""One campaign followed live on X, Mastodon and Bluesky at once (issue 10, "done when").

The three collectors run as people run them — ``hashwatch collect x``, ``collect mastodon``,
``collect bluesky``, each in a process of its own, with the production settings and one
campaign file — against the fake X API, two fake Mastodon instances and a fake Jetstream on
127.0.0.1, which make their posts from the recorded payloads in shared/data. One worker (the
in-process session, as the other end-to-end tests) stores what they publish. What is checked
is what a user relies on: every post each server sent is stored once under its platform's uid,
the per-platform counts the worker reports (``run --json``'s ``by_platform``, the Prometheus
metric) and the dashboard shows are what the servers sent, deletions keep the row, an edit is
a version, a Bluesky repost of a campaign post amplifies it, and a healthy run has no gaps.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from prometheus_client import CollectorRegistry

from pipeline.core.hashtags import normalize_hashtag
from pipeline.core.settings import Settings
from pipeline.dashboard import serve_dashboard
from pipeline.session import Session, session
from tests.conftest import shared_data
from tests.fakes.jetstream import FakeJetstream, load_records
from tests.fakes.jetstream import Plan as JetstreamPlan
from tests.fakes.mastodon import FakeMastodon, Fediverse
from tests.fakes.mastodon import Plan as MastodonPlan
from tests.fakes.x_api import FakeX
from tests.fakes.x_api import Plan as XPlan
from tests.fakes.x_api import load_templates as x_templates
from tests.live import Command, cli_env
from tests.test_dashboard import get_json, wait_for
from tests.test_mastodon_collector import TOKEN as MASTODON_TOKEN
from tests.test_mastodon_collector import instances  # noqa: F401 - the fixture
from tests.test_x_collector import TOKEN as X_TOKEN

pytestmark = pytest.mark.slow

# The Arabic hashtag asking where Syria's detainees are, and its English and Turkish echoes.
ARABIC, ENGLISH, TURKISH = "أين_المعتقلين", "WhereAreTheDetainees", "GözaltındakilerNerede"
TAGS = [ARABIC, ENGLISH, TURKISH]
PLATFORMS = ("x", "mastodon", "bluesky")
# what each server streams to the collector's first connection (Mastodon: per instance, per tag)
X_POSTS, MASTODON_POSTS, BLUESKY_POSTS = 9, ((3, 2, 1), (1, 1, 2)), 7


@pytest.fixture
async def fake_x(x_data: Path) -> AsyncIterator[FakeX]:
    server = FakeX(X_TOKEN, x_templates(x_data), TAGS)
    await server.start()
    yield server
    await server.close()


@pytest.fixture
async def jetstream() -> AsyncIterator[FakeJetstream]:
    server = FakeJetstream(load_records(shared_data() / "bluesky"), TAGS)
    await server.start()
    yield server
    await server.close()


@dataclass
class Platforms:
    """The fake servers of the three platforms, and what they sent."""

    x: FakeX
    fediverse: Fediverse
    mastodon: tuple[FakeMastodon, FakeMastodon]
    jetstream: FakeJetstream

    def served(self) -> dict[str, set[str]]:
        """The uid of every post each server sent over the wire, by platform."""
        x = {f"x:{i}" for c in self.x.conns for i in c.streamed}
        mastodon = {
            f"mastodon:{orjson.loads(raw)['uri']}"
            for instance in self.mastodon
            for versions in instance.served.values()
            for raw in versions
        }
        bluesky = {f"bluesky:{uri}" for c in self.jetstream.conns for uri in c.sent}
        return {"x": x, "mastodon": mastodon, "bluesky": bluesky}


@pytest.fixture
def platforms(
    fake_x: FakeX,
    instances: tuple[Fediverse, FakeMastodon, FakeMastodon],  # noqa: F811
    jetstream: FakeJetstream,
) -> Platforms:
    fediverse, a, b = instances
    return Platforms(fake_x, fediverse, (a, b), jetstream)


def campaign_file(path: Path, p: Platforms) -> Path:
    """The one campaign file all three collectors read."""
    tags = ", ".join(f'"#{t}"' for t in TAGS)
    urls = ", ".join(f'"{m.base_url}"' for m in p.mastodon)
    path.write_text(
        f'name = "detainees"\nhashtags = [{tags}]\nlanguages = ["ar", "en", "tr"]\n'
        f"[mastodon]\ninstances = [{urls}]\n"
        f'[bluesky]\njetstream = "{p.jetstream.url}"\n',
        encoding="utf-8",
    )
    return path


async def rows(s: Session, sql: str) -> list[tuple[Any, ...]]:
    return await s.store.query(sql)


async def test_one_campaign_live_on_three_platforms(
    settings: Settings, platforms: Platforms, tmp_path: Path
) -> None:
    p = platforms
    a, b = p.mastodon
    # what each server sends its first connection; the counts differ so platforms cannot mix
    p.x.plans.append(XPlan(posts=X_POSTS, then="keep"))
    for instance, counts in zip(p.mastodon, MASTODON_POSTS, strict=True):
        for tag, n in zip(TAGS, counts, strict=True):
            instance.plans[tag.lower()] = deque([MastodonPlan(posts=n, then="keep")])
    p.jetstream.plans.append(JetstreamPlan(posts=BLUESKY_POSTS))
    env = cli_env(
        settings,
        HASHWATCH_CONFIG=str(campaign_file(tmp_path / "campaign.toml", p)),
        X_BEARER_TOKEN=X_TOKEN,
        X_API_BASE_URL=p.x.base_url,
        MASTODON_TOKEN=MASTODON_TOKEN,
    )
    registry = CollectorRegistry()  # what `hashwatch worker --metrics-port` serves
    async with session(settings, metrics=registry) as s:
        dashboard = await serve_dashboard(settings, s.bootstrap, "127.0.0.1", 0, push_interval=0.2)
        collectors = [
            Command(["--log-level", "info", "collect", name], env, tmp_path / f"{name}.log")
            for name in PLATFORMS
        ]

        def alive(check: Callable[[], Awaitable[bool]]) -> Callable[[], Awaitable[bool]]:
            async def condition() -> bool:  # a collector that exits fails the test at once
                for collector in collectors:
                    collector.check_running()
                return await check()

            return condition

        async def uids() -> set[str]:
            return {uid for (uid,) in await rows(s, "SELECT uid FROM posts")}

        try:
            # 1. each collector connects, each server streams its posts, the worker stores them
            async def first_posts_sent() -> bool:
                streamed = sum(len(c.streamed) for m in p.mastodon for c in m.conns)
                sent = sum(len(c.sent) for c in p.jetstream.conns)
                return (len(p.x.posts), streamed, sent) == (
                    X_POSTS,
                    sum(map(sum, MASTODON_POSTS)),
                    BLUESKY_POSTS,
                )

            async def served_stored() -> bool:
                return set().union(*p.served().values()) <= await uids()

            await wait_for(alive(first_posts_sent), 60, 0.05)
            await wait_for(alive(served_stored), 60, 0.1)

            # 2. while they watch: a post federated to both instances, an edit and a delete on
            # Mastodon; a repost, an edit and a delete on Bluesky
            toots = [post for post in p.fediverse.posts if post.origin is a]
            federated = p.fediverse.create(a, ENGLISH, to=[b])
            p.fediverse.edit(toots[0], "edited while followed")
            p.fediverse.delete(toots[1])
            skeets = list(p.jetstream.posts.values())
            repost = p.jetstream.repost(skeets[0].uri)
            p.jetstream.update(skeets[1], "تعديل أثناء المتابعة")
            p.jetstream.delete(skeets[2].uri)

            async def changes_stored() -> bool:
                [(deleted, versions)] = await rows(
                    s,
                    "SELECT (SELECT count(*) FROM posts WHERE deleted_at IS NOT NULL), "
                    "(SELECT count(*) FROM post_versions)",
                )
                return (deleted, versions) == (2, 2) and await served_stored()

            await wait_for(alive(changes_stored), 60, 0.1)

            # 3. stopped as a service manager stops them: each run's record says so
            exits = [await collector.stop() for collector in collectors]
            assert exits == [0, 0, 0], [c.output()[-3000:] for c in collectors]

            async def runs_closed() -> bool:
                closed = await rows(s, "SELECT 1 FROM collections WHERE stopped_at IS NOT NULL")
                return len(closed) == len(collectors)

            await wait_for(runs_closed, 30, 0.1)

            # the dashboard, reading the output topics, has caught up with the store
            async def dashboard_snapshot() -> dict[str, Any] | None:
                _, snap = await get_json(dashboard.url + "api/snapshot")
                [(stored,)] = await rows(s, "SELECT count(*) FROM posts")
                return snap if snap["totals"]["posts"] == stored else None

            snap = await wait_for(dashboard_snapshot, 30, 0.2)
        finally:
            for collector in collectors:
                collector.kill()
            await dashboard.close()
        served = p.served()
        counts = {name: len(uids) for name, uids in served.items()}

        # every post each server sent is stored once, under its platform and uid scheme
        stored = await rows(s, "SELECT uid, platform, id FROM posts")
        assert sorted(uid for uid, _, _ in stored) == sorted(set().union(*served.values()))
        assert all(uid == f"{platform}:{ident}" for uid, platform, ident in stored)
        assert Counter(platform for _, platform, _ in stored) == counts
        assert served["x"] == {f"x:{post.id}" for post in p.x.posts}
        assert served["mastodon"] == {f"mastodon:{post.uri}" for post in p.fediverse.posts}
        assert served["bluesky"] == {
            f"bluesky:{uri}" for uri in [*p.jetstream.posts, *p.jetstream.reposts]
        }
        assert all(uid.startswith("bluesky:at://did:") for uid in served["bluesky"])

        # the per-platform counts the worker reports (`run --json`'s by_platform, and the
        # Prometheus metric) and the dashboard's are what the servers sent
        c = s.worker.counters
        assert dict(c.by_platform) == counts and c.unique == sum(counts.values())
        assert not c.dead_lettered
        assert {
            name: registry.get_sample_value("hashwatch_posts_by_platform_total", {"platform": name})
            for name in PLATFORMS
        } == counts
        assert {name: v["totals"]["posts"] for name, v in snap["platforms"].items()} == counts

        # deletions keep the row and mark it; the Mastodon one names the post by its uri
        deleted = sorted([(f"bluesky:{skeets[2].uri}",), (f"mastodon:{toots[1].uri}",)])
        assert await rows(s, "SELECT uid FROM posts WHERE deleted_at IS NOT NULL ORDER BY 1") == (
            deleted
        )
        assert await rows(s, "SELECT uid FROM deletions ORDER BY 1") == deleted
        assert sorted(await rows(s, "SELECT platform FROM deletions")) == [
            ("bluesky",),
            ("mastodon",),
        ]
        # an edit is a version of its post
        assert await rows(s, "SELECT uid FROM post_versions ORDER BY 1") == sorted(
            [(f"bluesky:{skeets[1].uri}",), (f"mastodon:{toots[0].uri}",)]
        )
        # the post federated to both instances came down both streams, and is one post
        assert a.copies[federated.uri].local_id in {i for c in a.conns for i in c.streamed}
        assert b.copies[federated.uri].local_id in {i for c in b.conns for i in c.streamed}

        # the Bluesky repost of a campaign post is its first amplification
        original = f"bluesky:{skeets[0].uri}"
        amplified = await rows(
            s,
            "SELECT uid, repost_of, amplification FROM posts "
            f"WHERE uid = '{original}' OR repost_of = '{original}'",
        )
        assert sorted(amplified, key=str) == sorted(
            [(original, None, 1), (f"bluesky:{repost}", original, 1)], key=str
        )
        [shown] = [e for e in snap["amplified"] if e["uid"] == original]
        assert (shown["amplification"], shown["reposts"]) == (1, 1)

        # one campaign: its three hashtags, normalized alike, on every platform
        tagged = await rows(
            s, "SELECT DISTINCT p.platform, h.normalized FROM hashtags h JOIN posts p USING (uid)"
        )
        for name in PLATFORMS:
            assert {normalize_hashtag(t) for t in TAGS} <= {n for pl, n in tagged if pl == name}

        # one run per collector on record, each stopped; a healthy run has no outage
        runs = await rows(s, "SELECT collector, outcome FROM collections")
        assert sorted(runs) == [
            ("bluesky", "stopped"),
            ("mastodon", "stopped"),
            ("x-stream", "stopped"),
        ]
        assert await rows(s, "SELECT collector, reason FROM gaps") == []
        # and every post names the run of its platform's collector
        assert sorted(
            await rows(
                s,
                "SELECT DISTINCT p.platform, c.collector FROM posts p "
                "LEFT JOIN collections c ON c.id = p.collection",
            )
        ) == [("bluesky", "bluesky"), ("mastodon", "mastodon"), ("x", "x-stream")]
