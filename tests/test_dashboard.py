"""The dashboard server against the real embedded broker and a real pipeline run.

The recorded X payloads go through the whole pipeline once (``run_archive``); then a
dashboard reads the same output topics from the earliest offsets, and what it serves is
compared with what the store holds.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import logging
import os
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import msgspec
import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from aiokafka import AIOKafkaProducer
from click.testing import CliRunner
from hypothesis import example, given
from hypothesis import strategies as st
from pydantic import SecretStr

from pipeline.core.broker import EmbeddedBroker
from pipeline.core.settings import Settings
from pipeline.core.topics import Topics
from pipeline.dashboard import (
    DashboardConfigError,
    DashboardHandle,
    DashboardState,
    check_bind,
    dashboard_command,
    serve_dashboard,
)
from pipeline.dashboard import state as state_module
from pipeline.dashboard.access import ALLOWED_HOSTS, guard, token_matches
from pipeline.dashboard.access import TOKEN as TOKEN_KEY
from pipeline.dashboard.feeder import Feeder
from pipeline.dashboard.hub import Hub
from pipeline.dashboard.server import make_app
from pipeline.runner import Summary, run_archive
from pipeline.sinks import Store, open_store
from schemas import testing
from schemas.alert import Alert
from schemas.codec import EnrichedEvent, decode, encode
from schemas.enriched import Cluster, EnrichedPost
from schemas.gap import Gap
from schemas.metrics import MetricsWindow
from schemas.post import Media

pytestmark = pytest.mark.slow
_prefixes = itertools.count()
TOKEN = "dashboard-test-token-0123456789"
XSS = "<script>window.pwned=1</script> أين المعتقلين <img src=x onerror=alert(1)> & done"


def make_settings(broker: EmbeddedBroker, data_dir: Path, **extra: Any) -> Settings:
    return Settings(
        broker=broker.url,
        data_dir=data_dir,
        topic_prefix=f"dash{next(_prefixes)}-{os.getpid()}",
        lang_backend="langdetect",
        batch_seconds=0.05,
        **extra,
    )


def enriched(
    uid: str,
    text: str,
    *,
    lang: str = "en",
    created_at: datetime | None = None,
    repost_of: str | None = None,
    amplification: int = 0,
    media: list[Media] | None = None,
    tags: tuple[str, ...] = (),
    cluster: Cluster | None = None,
) -> EnrichedPost:
    now = datetime.now(UTC)
    platform, _, ident = uid.partition(":")
    p = testing.post(
        ident,
        text,
        platform=platform,  # type: ignore[arg-type]
        created_at=created_at or now,
        author=f"a-{ident}",
        handle=f"user{ident}",
        name="Some One",
        url=f"https://x.com/someone/status/{ident}",
        media=media or [],
        hashtags=tags,
        retweet_of=repost_of,
    )
    return testing.enriched(
        p, lang=lang, amplification=amplification, cluster=cluster, processed_at=now
    )


async def wait_for(check: Any, timeout: float = 20.0, interval: float = 0.1) -> Any:
    """Poll an async ``check`` until it returns something truthy."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s (last: {last!r})")


async def get_json(url: str, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http, http.get(url, headers=headers) as resp:
        body = await resp.read()
        return resp.status, orjson.loads(body) if body[:1] in (b"{", b"[") else body


async def sse_events(resp: aiohttp.ClientResponse) -> AsyncIterator[tuple[str, Any]]:
    event, data = "message", list[str]()
    while True:
        line = (await resp.content.readline()).decode()
        if not line:
            return
        line = line.rstrip("\n")
        if not line:
            if data:
                yield event, orjson.loads("\n".join(data))
            event, data = "message", []
        elif line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())


@dataclass
class Campaign:
    settings: Settings
    summary: Summary
    store: Store
    dashboard: DashboardHandle

    async def rows(self, sql: str) -> list[tuple[Any, ...]]:
        return await self.store.query(sql)

    async def snapshot(self) -> dict[str, Any]:
        status, body = await get_json(self.dashboard.url + "api/snapshot")
        assert status == 200
        snap: dict[str, Any] = body
        return snap


@pytest.fixture(scope="module")
async def campaign(
    broker: EmbeddedBroker, x_data: Path, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Campaign]:
    await broker.wait_ready()
    settings = make_settings(broker, tmp_path_factory.mktemp("dash") / "data")
    bluesky = sorted((x_data.parent / "bluesky").glob("*.json*"))
    summary = await run_archive(settings, sorted(x_data.glob("*.json*")) + bluesky)
    assert summary.unique > 100
    store = open_store(settings.store_url())
    await store.open()
    dashboard = await serve_dashboard(settings, broker.bootstrap, "127.0.0.1", 0, push_interval=0.2)
    try:
        yield Campaign(settings, summary, store, dashboard)
    finally:
        await dashboard.close()
        await store.close()


async def caught_up(c: Campaign) -> dict[str, Any]:
    [(stored,)] = await c.rows("SELECT count(*) FROM posts")

    async def check() -> dict[str, Any] | None:
        snap = await c.snapshot()
        return snap if snap["totals"]["posts"] == stored else None

    snap: dict[str, Any] = await wait_for(check)
    return snap


async def test_snapshot_matches_the_store(campaign: Campaign) -> None:
    snap = await caught_up(campaign)
    t = snap["totals"]
    rows = campaign.rows
    [(posts, reposts, authors)] = await rows(
        "SELECT count(*), count(repost_of), count(DISTINCT author_id) FROM posts"
    )
    assert t["posts"] == posts == campaign.summary.unique
    assert t["reposts"] == reposts > 0
    assert t["originals"] == posts - reposts
    assert t["authors"] == authors
    assert snap["languages"] == dict(await rows("SELECT lang, count(*) FROM posts GROUP BY lang"))
    assert snap["media_types"] == dict(await rows("SELECT type, count(*) FROM media GROUP BY 1"))
    assert set(snap["media_types"]) >= {"photo", "video"}
    [(with_media, items)] = await rows("SELECT count(DISTINCT uid), count(*) FROM media")
    assert (t["posts_with_media"], t["media_items"]) == (with_media, items)
    # posts per minute of event time, originals vs reposts
    per_minute = {
        datetime.fromtimestamp(m, UTC).strftime("%Y-%m-%dT%H:%M"): [o, r]
        for m, o, r in snap["per_minute"]
    }
    stored_minutes = await rows(
        "SELECT substr(created_at, 1, 16), count(*) - count(repost_of), count(repost_of) "
        "FROM posts GROUP BY 1"
    )
    assert per_minute == {m: [o, r] for m, o, r in stored_minutes}
    # top hashtags by normalized tag
    tag_counts = dict(await rows("SELECT normalized, count(*) FROM hashtags GROUP BY 1"))
    assert snap["hashtags"], "the recorded data has hashtags"
    assert {h["normalized"]: h["count"] for h in snap["hashtags"]} == {
        h["normalized"]: tag_counts[h["normalized"]] for h in snap["hashtags"]
    }
    assert snap["hashtags"][0]["count"] == max(tag_counts.values())
    # top amplified originals: max amplification per repost_of, and reposts seen
    amplified = {
        uid: (amp, n)
        for uid, amp, n in await rows(
            "SELECT repost_of, max(amplification), count(*) FROM posts "
            "WHERE repost_of IS NOT NULL GROUP BY 1"
        )
    }
    assert snap["amplified"]
    for a in snap["amplified"]:
        assert (a["amplification"], a["reposts"]) == amplified[a["uid"]]
    assert snap["amplified"][0]["amplification"] == max(amp for amp, _ in amplified.values())
    # copy-paste clusters
    clusters = dict(
        await rows(
            "SELECT cluster_id, max(cluster_size) FROM posts "
            "WHERE cluster_id IS NOT NULL GROUP BY 1 HAVING max(cluster_size) > 1"
        )
    )
    assert {c["id"]: c["size"] for c in snap["clusters"]} == {
        c["id"]: clusters[c["id"]] for c in snap["clusters"]
    }
    # the feed: the latest posts, and each platform's latest, each one in the store with the
    # same text and language
    feed_platforms = Counter(p["platform"] for p in snap["posts"])
    for name, n in await rows("SELECT platform, count(*) FROM posts GROUP BY 1"):
        assert feed_platforms[name] == min(n, state_module.FEED_SIZE)
    stored_posts = {
        uid: (text, lang) for uid, text, lang in await rows("SELECT uid, text, lang FROM posts")
    }
    for p in snap["posts"]:
        text, lang = stored_posts[p["uid"]]
        assert p["lang"] == lang
        assert p["text"] == text or (p["text"].endswith("…") and text.startswith(p["text"][:-1]))
    assert snap["consumer"]["connected"] is True
    # each platform's counts are the store's for that platform
    by_platform = dict(await rows("SELECT platform, count(*) FROM posts GROUP BY 1"))
    assert set(by_platform) == {"x", "bluesky"}
    assert {name: p["totals"]["posts"] for name, p in snap["platforms"].items()} == by_platform
    for name, p in snap["platforms"].items():
        [(reposts, authors)] = await rows(
            "SELECT count(repost_of), count(DISTINCT author_id) FROM posts "
            f"WHERE platform = '{name}'"
        )
        assert (p["totals"]["reposts"], p["totals"]["authors"]) == (reposts, authors)
        assert p["languages"] == dict(
            await rows(f"SELECT lang, count(*) FROM posts WHERE platform = '{name}' GROUP BY 1")
        )
        assert p["media_types"] == dict(
            await rows(
                "SELECT m.type, count(*) FROM media m JOIN posts p USING (uid) "
                f"WHERE p.platform = '{name}' GROUP BY 1"
            )
        )
        assert sum(o + r for _, o, r in p["per_minute"]) == by_platform[name]


async def test_sse_streams_updates_with_raw_text(campaign: Campaign) -> None:
    await caught_up(campaign)
    topics = Topics(campaign.settings.topic_prefix)
    producer = AIOKafkaProducer(bootstrap_servers=campaign.settings.bootstrap_servers())
    await producer.start()
    timeout = aiohttp.ClientTimeout(total=30)
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout) as http,
            http.get(campaign.dashboard.url + "events") as resp,
        ):
            assert resp.status == 200
            assert resp.headers["Content-Type"].startswith("text/event-stream")
            events = sse_events(resp)
            kind, first = await anext(events)
            assert kind == "snapshot" and first["totals"]["posts"] > 100

            post = enriched("x:990000000000000001", XSS, lang="ar", tags=("وين_المعتقلين",))
            await campaign.store.write([post])  # keep the store and the topic in step
            await producer.send_and_wait(topics.enriched, encode(post), key=b"x:990000000000000001")
            now = datetime.now(UTC)
            alert = Alert(
                id="surge:test",
                rule="surge",
                severity="critical",
                subject="all",
                summary="Volume surge: <b>9×</b> the baseline",
                window_start=now - timedelta(minutes=1),
                window_end=now,
                value=90,
                threshold=20,
                examples=["x:990000000000000001"],
                raised_at=now,
            )
            await producer.send_and_wait(topics.alerts, encode(alert), key=b"surge:test")
            window = MetricsWindow(
                window_start=now - timedelta(minutes=1),
                window_end=now,
                posts=1,
                originals=1,
                reposts=0,
                unique_authors=1,
                final=True,
            )
            await producer.send_and_wait(topics.metrics, encode(window), key=b"w")
            gap = Gap(id="x-stream:1", collector="x-stream", start=now, reason="HTTP 429")
            await producer.send_and_wait(topics.gaps, encode(gap), key=gap.id.encode())

            seen: dict[str, Any] = {}
            async with asyncio.timeout(15):
                async for kind, data in events:
                    assert kind == "update"
                    for p in data["posts"]:
                        seen.setdefault("post", p) if p["uid"] == post.post.uid else None
                    for a in data["alerts"]:  # the campaign's own may still be arriving
                        if a["id"] == alert.id:
                            seen["alert"] = a
                    if data["metrics"]:
                        seen["metrics"] = data["metrics"][-1]
                    if data.get("gaps"):
                        seen["gaps"] = data["gaps"]
                    if len(seen) == 4:
                        break
    finally:
        await producer.stop()

    # the text travels raw: escaping is the page's job (textContent), not the server's
    assert seen["post"]["text"] == XSS
    assert seen["alert"]["summary"] == "Volume surge: <b>9×</b> the baseline"
    assert seen["alert"]["severity"] == "critical"
    assert seen["metrics"]["final"] is True
    assert seen["gaps"][0]["open"] is True and seen["gaps"][0]["reason"] == "HTTP 429"
    async with (
        aiohttp.ClientSession() as http,
        http.get(campaign.dashboard.url + "api/snapshot") as resp,
    ):
        assert resp.content_type == "application/json"
        raw = await resp.read()
        assert "Content-Security-Policy" in resp.headers
    assert b"<script>window.pwned=1</script>" in raw
    assert b"&lt;script&gt;" not in raw
    snap = orjson.loads(raw)
    assert snap["posts"][0]["text"] == XSS
    assert snap["totals"]["alerts"] >= 1 and snap["totals"]["open_gaps"] == 1
    [(stored,)] = await campaign.rows("SELECT count(*) FROM posts")
    assert snap["totals"]["posts"] == stored


async def test_page_and_assets_are_served(campaign: Campaign) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(campaign.dashboard.url) as resp:
            page = await resp.text()
            assert resp.status == 200
            assert "script-src 'self'" in resp.headers["Content-Security-Policy"]
        assert "/static/vendor/chart.umd.js" in page and "cdn" not in page.lower()
        for asset in (
            "app.js",
            "style.css",
            "vendor/chart.umd.js",
            "vendor/LICENSE.chartjs.md",
            "vendor/noto-naskh-arabic-400.woff2",
            "vendor/LICENSE.noto-naskh-arabic.txt",
        ):
            async with http.get(campaign.dashboard.url + "static/" + asset) as resp:
                assert resp.status == 200, asset
        async with http.get(campaign.dashboard.url + "static/../server.py") as resp:
            assert resp.status in (403, 404)
        # DNS rebinding: a loopback dashboard without a token answers loopback names only
        async with http.get(
            campaign.dashboard.url + "api/snapshot", headers={"Host": "evil.example:80"}
        ) as resp:
            assert resp.status == 421


def test_binding_beyond_loopback_needs_a_token() -> None:
    for host in ("0.0.0.0", "::", "192.0.2.10", "dashboard.example.org"):
        with pytest.raises(DashboardConfigError, match="HASHWATCH_DASHBOARD_TOKEN"):
            check_bind(host, None)
        check_bind(host, TOKEN)
    for host in ("127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"):
        check_bind(host, None)
    with pytest.raises(DashboardConfigError, match="at least"):
        check_bind("0.0.0.0", "short")


async def test_serve_refuses_before_binding(broker: EmbeddedBroker, tmp_path: Path) -> None:
    settings = make_settings(broker, tmp_path, dashboard_host="0.0.0.0")
    with pytest.raises(DashboardConfigError):
        await serve_dashboard(settings, broker.bootstrap, port=0)


async def test_token_is_required_and_never_logged(
    broker: EmbeddedBroker, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    await broker.wait_ready()
    settings = make_settings(broker, tmp_path, dashboard_token=SecretStr(TOKEN))
    caplog.set_level(logging.DEBUG)
    async with await serve_dashboard(settings, broker.bootstrap, "127.0.0.1", 0) as dash:
        api = dash.url + "api/snapshot"
        assert (await get_json(api))[0] == 401
        assert (await get_json(api, {"X-Hashwatch-Token": TOKEN[:-1] + "x"}))[0] == 401
        assert (await get_json(api + "?token=nope"))[0] == 401
        status, body = await get_json(api, {"X-Hashwatch-Token": TOKEN})
        assert status == 200 and body["type"] == "snapshot"
        assert (await get_json(api, {"Authorization": f"Bearer {TOKEN}"}))[0] == 200
        async with aiohttp.ClientSession() as http:
            async with http.get(dash.url) as resp:  # the page itself holds no data
                assert resp.status == 200
            async with http.get(dash.url + "events") as resp:
                assert resp.status == 401
            async with http.get(dash.url + "events", params={"token": TOKEN}) as resp:
                assert resp.status == 200
                kind, _ = await anext(sse_events(resp))
                assert kind == "snapshot"
    assert TOKEN not in caplog.text
    assert "/events" in caplog.text  # the access log ran, without the query string


def test_cli_needs_a_broker_and_a_token_off_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HASHWATCH_BROKER", "HASHWATCH_DASHBOARD_TOKEN", "HASHWATCH_DASHBOARD_HOST"):
        monkeypatch.delenv(name, raising=False)
    result = CliRunner().invoke(dashboard_command, ["--port", "0"])
    assert result.exit_code == 2 and "HASHWATCH_BROKER" in result.output
    monkeypatch.setenv("HASHWATCH_BROKER", "kafka://127.0.0.1:9")
    result = CliRunner().invoke(dashboard_command, ["--host", "0.0.0.0", "--port", "0"])
    assert result.exit_code == 2 and "HASHWATCH_DASHBOARD_TOKEN" in result.output


def test_state_stays_bounded_and_counts_each_post_once() -> None:
    state = DashboardState()
    start = datetime(2026, 1, 1, tzinfo=UTC)
    photo = Media(key="3_1", type="photo")
    posts = [
        enriched(
            f"x:{i}",
            f"post {i}",
            created_at=start + timedelta(minutes=i),
            media=[photo, photo],  # one media key twice: one row in the store
            tags=("Tag", "tag") if i % 2 else (),
        )
        for i in range(1, state_module.MINUTES_KEPT + 101)
    ]
    assert state.add_posts(posts) == len(posts)
    assert state.add_posts(posts[:10]) == 0  # redelivered: not counted again
    snap = state.snapshot()
    assert snap["totals"]["posts"] == len(posts) and snap["totals"]["duplicates_skipped"] == 10
    assert len(snap["per_minute"]) == state_module.MINUTES_KEPT
    assert snap["per_minute"][-1][0] == int(posts[-1].post.created_at.timestamp())
    assert len(snap["posts"]) == state_module.FEED_SIZE
    assert snap["media_types"] == {"photo": len(posts)}
    assert snap["hashtags"][0]["count"] == len(posts) // 2
    assert state.take_update() is not None and state.take_update() is None
    state.add_posts([enriched("x:99999", "rt", repost_of="x:1", amplification=7, created_at=start)])
    update = state.take_update()
    assert update is not None
    assert [p["uid"] for p in update["posts"]] == ["x:99999"]
    assert update["amplified"][0] == update["amplified"][0] | {
        "uid": "x:1",
        "amplification": 7,
        "reposts": 1,
        "author": "user1",
    }


def test_each_platform_has_its_counts_its_minutes_and_its_latest_posts() -> None:
    state = DashboardState()
    start = datetime(2026, 1, 1, tzinfo=UTC)
    photo = Media(key="p1", type="photo")
    x = [enriched(f"x:{i}", f"x post {i}", created_at=start, media=[photo]) for i in range(100)]
    sky = [
        enriched("bluesky:at://did:plc:a/app.bsky.feed.post/1", "وين المعتقلين", lang="ar",
                 created_at=start + timedelta(minutes=1), tags=("وين_المعتقلين",)),
        enriched("bluesky:at://did:plc:b/app.bsky.feed.repost/2", "وين المعتقلين", lang="ar",
                 created_at=start + timedelta(minutes=2),
                 repost_of="bluesky:at://did:plc:a/app.bsky.feed.post/1", amplification=1),
    ]  # fmt: skip
    state.add_posts(sky[:1] + x + sky[1:])
    snap = state.snapshot()
    assert sorted(snap["platforms"]) == ["bluesky", "x"]
    bluesky, xs = snap["platforms"]["bluesky"], snap["platforms"]["x"]
    assert (bluesky["totals"]["posts"], bluesky["totals"]["reposts"]) == (2, 1)
    assert (xs["totals"]["posts"], xs["totals"]["posts_with_media"]) == (100, 100)
    assert bluesky["languages"] == {"ar": 2} and xs["languages"] == {"en": 100}
    assert bluesky["media_types"] == {} and xs["media_types"] == {"photo": 100}
    assert [h["normalized"] for h in bluesky["hashtags"]] == ["وين_المعتقلين"]
    minute = int(start.timestamp())
    assert bluesky["per_minute"] == [[minute + 60, 1, 0], [minute + 120, 0, 1]]
    assert xs["per_minute"] == [[minute, 100, 0]]
    assert snap["totals"]["posts"] == 102  # all platforms together
    # a quiet platform keeps its latest posts in the feed even when another one is busy
    feed = [p["uid"] for p in snap["posts"]]
    assert set(feed) == {sky[0].post.uid, sky[1].post.uid} | {f"x:{i}" for i in range(40, 100)}
    assert [p["seq"] for p in snap["posts"]] == sorted(
        (p["seq"] for p in snap["posts"]), reverse=True
    )
    # updates carry each platform's counts and only its changed minutes
    state.take_update()
    state.add_posts([enriched("mastodon:https://m.example/1", "toot", created_at=start)])
    update = state.take_update()
    assert update is not None
    assert update["platforms"]["mastodon"]["per_minute"] == [[minute, 1, 0]]
    assert update["platforms"]["x"]["per_minute"] == []
    assert update["platforms"]["x"]["totals"]["posts"] == 100


def test_an_update_keeps_a_quiet_platforms_posts_through_a_surge_on_another() -> None:
    state = DashboardState()
    state.take_update()
    sky = enriched("bluesky:at://did:plc:a/app.bsky.feed.post/1", "وين المعتقلين", lang="ar")
    surge = [enriched(f"x:{i}", f"x post {i}") for i in range(500)]  # all before the next update
    state.add_posts([sky, *surge])
    update = state.take_update()
    assert update is not None
    posts = [p["uid"] for p in update["posts"]]
    assert sky.post.uid in posts  # the page's Bluesky feed is not left empty
    assert posts[:60] == [f"x:{i}" for i in range(499, 439, -1)]  # the newest, newest first


# --- property-based: any request, any record on the topics it reads ------------------------------

ANY_TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)
SUPPLIED = st.none() | ANY_TEXT | st.sampled_from([TOKEN, TOKEN[:-1], TOKEN + " ", "é" + TOKEN])
PATHS = st.sampled_from(["/", "/api/snapshot", "/events", "/static/app.js", "/api/", "/x"])


@dataclass
class Asked:
    host: str | None
    header: str | None
    bearer: str | None
    query: str | None

    def headers(self) -> dict[str, str]:
        headers = {}
        if self.host is not None:
            headers["Host"] = self.host
        if self.header is not None:
            headers["X-Hashwatch-Token"] = self.header
        if self.bearer is not None:
            headers["Authorization"] = f"Bearer {self.bearer}"
        return headers

    def supplied(self) -> str | None:
        """The token the request offers, in the order the guard reads them."""
        if self.header is not None:
            return self.header
        if self.bearer is not None and self.bearer.strip():
            return self.bearer.strip()
        return self.query


@pytest.mark.fuzz
@given(
    st.builds(Asked, ANY_TEXT | st.sampled_from(["127.0.0.1:8080", "[::1]", "LOCALHOST"]),
              SUPPLIED, SUPPLIED, SUPPLIED),
    PATHS,
    st.booleans(),
)  # fmt: skip
@example(Asked("", None, " ", TOKEN), "/api/snapshot", True)  # a blank bearer, the token in ?token=
async def test_any_request_is_let_through_or_refused_never_raised(
    asked: Asked, path: str, with_token: bool
) -> None:
    loopback = frozenset({"127.0.0.1", "localhost", "[::1]"})
    app = web.Application()
    app[TOKEN_KEY] = TOKEN if with_token else None
    app[ALLOWED_HOSTS] = None if with_token else loopback
    query = "" if asked.query is None else "?token=" + quote(asked.query, errors="surrogatepass")
    request = make_mocked_request("GET", path + query, headers=asked.headers(), app=app)
    reached: list[bool] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        reached.append(True)
        return web.Response(text="ok")

    response = await guard(request, handler)
    if not with_token:  # loopback only: the Host header decides
        host = (asked.host or "").strip().lower()
        named = host.split("]")[0] + "]" if host.startswith("[") else host.rsplit(":", 1)[0]
        assert (response.status == 421) == (named not in loopback and host not in loopback)
    elif path.startswith("/api/") or path == "/events":
        assert bool(reached) == (asked.supplied() == TOKEN)
        assert response.status == (200 if reached else 401)
    else:
        assert reached and response.status == 200


JAN = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.fuzz
@given(st.none() | st.text(max_size=40) | st.just(TOKEN), st.sampled_from([TOKEN, "é" * 16]))
def test_any_supplied_token_is_compared_never_raised(supplied: str | None, token: str) -> None:
    """Surrogates included: aiohttp hands header bytes that are not UTF-8 over as escapes."""
    assert token_matches(supplied, token) == (supplied == token)


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GET /api/snapshot HTTP/1.1\r\nX-Hashwatch-Token: \xff\xfe\r\n", 401),
        (b"GET /api/snapshot HTTP/1.1\r\nAuthorization: Bearer \xed\xa0\x80\r\n", 401),
        (b"GET /api/snapshot?token=%FF%FE HTTP/1.1\r\n", 401),
        (b"GET /api/snapshot?token=%ED%A0%80%00 HTTP/1.1\r\n", 401),
        (b"GET /api/snapshot?token=\xff HTTP/1.1\r\n", 400),
        (b"GET /static/..%2F..%2Fserver.py HTTP/1.1\r\n", 404),
        (b"GET /static/%00 HTTP/1.1\r\n", 404),
        (b"GET /events HTTP/1.1\r\nX-Hashwatch-Token: " + b"\x80" * 8000 + b"\r\n", 401),
        (b"GET /api/snapshot HTTP/1.1\r\nX-Hashwatch-Token: " + TOKEN.encode() + b"\r\n", 200),
    ],
)
async def test_raw_requests_with_bytes_that_are_not_utf8_are_answered(
    request_bytes: bytes, status: int
) -> None:
    runner = web.AppRunner(make_app(DashboardState(), TOKEN, None))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        for _ in range(2):  # and the server answers the next request as well
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(request_bytes + b"Host: 127.0.0.1\r\nConnection: close\r\n\r\n")
            await writer.drain()
            answer = await reader.read()
            writer.close()
            assert answer.split(b"\r\n")[0].split(b" ")[1] == str(status).encode()
    finally:
        await runner.cleanup()


def _post_record(ident: int, text: str) -> dict[str, Any]:
    e = enriched(f"x:{ident}", text, created_at=JAN)
    return orjson.loads(encode(e))


ALERT = orjson.loads(
    encode(
        Alert(
            id="surge:1:all", rule="surge", severity="warning", subject="all", summary=XSS,
            window_start=JAN, window_end=JAN,
            value=9, threshold=3, raised_at=JAN,
        )
    )
)  # fmt: skip
METRICS = orjson.loads(
    encode(
        MetricsWindow(
            window_start=JAN, window_end=JAN,
            posts=3, originals=2, reposts=1, unique_authors=2,
        )
    )
)  # fmt: skip
GAP = orjson.loads(encode(Gap(id="x:1", collector="x", start=JAN, reason="network")))
ODD = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**80), 2**80) | st.floats(allow_nan=False)
    | st.text(max_size=20)
    | st.sampled_from(["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-23:59",
                       "9999-12-31T23:59:59Z", "2026-01-01T00:00:00", "x" * 10_000]),
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)  # fmt: skip
PLACES = {
    "enriched": [("post", "created_at"), ("post", "uid"), ("post", "text"), ("post", "media"),
                 ("post", "hashtags"), ("amplification",), ("cluster",), ("repost_of",),
                 ("language",), ("language", "confidence"), ("processed_at",), ("edit",)],
    "alerts": [("id",), ("window_start",), ("window_end",), ("raised_at",), ("value",),
               ("examples",), ("links",), ("severity",)],
    "metrics": [("window_start",), ("window_end",), ("posts",), ("final",)],
    "gaps": [("start",), ("end",), ("recovered",), ("id",)],
}  # fmt: skip


@st.composite
def topic_records(draw: st.DrawFn) -> tuple[str, bytes]:
    """A record of one of the topics the dashboard reads: valid, damaged, or not a record."""
    topic = draw(st.sampled_from(sorted(PLACES)))
    base = {
        "enriched": _post_record(draw(st.integers(1, 2**40)), XSS),
        "alerts": ALERT,
        "metrics": METRICS,
        "gaps": GAP,
    }[topic]
    obj = copy.deepcopy(base)
    for path in draw(st.lists(st.sampled_from(PLACES[topic]), max_size=3)):
        target = obj
        for name in path[:-1]:
            target = target[name] if isinstance(target.get(name), dict) else {}
        target[path[-1]] = draw(ODD)
    raw = msgspec.json.encode(obj)
    how = draw(st.sampled_from(["as is", "as is", "cut", "deep", "bytes"]))
    if how == "cut":
        raw = raw[: draw(st.integers(0, len(raw)))]
    elif how == "deep":  # around a thousand levels, whether the decoder copes depends on how
        # deep the stack already is: the oracle below decodes from another depth
        depth = draw(st.integers(1, 50) | st.integers(2_000, 100_000))
        raw = raw[:-1] + b',"x":' + b"[" * depth + b"]" * depth + b"}"
    elif how == "bytes":
        raw = draw(st.binary(max_size=200))
    return topic, raw


@pytest.mark.fuzz
@given(st.lists(topic_records(), min_size=1, max_size=6))
def test_any_record_on_its_topics_is_shown_or_counted_invalid(
    records: list[tuple[str, bytes]],
) -> None:
    topics = Topics("t")
    state = DashboardState()
    hub = Hub(state)
    client, _ = hub.register()
    feeder = Feeder(state, hub, "127.0.0.1:9", topics, 0.5)
    decoders = {"enriched": EnrichedEvent, "alerts": Alert, "metrics": MetricsWindow, "gaps": Gap}
    valid: Counter[str] = Counter()
    for name, raw in records:
        try:
            decode(raw, decoders[name])
            valid[name] += 1
        except msgspec.DecodeError:
            pass
        feeder._apply(getattr(topics, name), [raw])
    for name in decoders:  # each record is either shown or counted as invalid
        seen = sum(1 for n, _ in records if n == name)
        assert state.invalid[getattr(topics, name)] == seen - valid[name]
    snapshot = orjson.loads(orjson.dumps(state.snapshot()))  # what /api/snapshot serves
    assert (
        snapshot["totals"]["posts"] + snapshot["totals"]["duplicates_skipped"] <= valid["enriched"]
    )
    hub.push()  # what /events sends: an update when anything was shown
    if not client.queue.empty():
        message = client.queue.get_nowait()
        assert message is not None and message.startswith(b"event: update\ndata: {")
        orjson.loads(message.split(b"data: ", 1)[1])


@pytest.mark.parametrize("when", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-23:59"])
def test_times_without_a_utc_equivalent_are_shown_as_written(when: str) -> None:
    topics = Topics("t")
    state = DashboardState()
    feeder = Feeder(state, Hub(state), "127.0.0.1:9", topics, 0.5)
    post = _post_record(1, "x")
    post["post"]["created_at"] = when
    feeder._apply(topics.enriched, [msgspec.json.encode(post)])
    feeder._apply(topics.alerts, [msgspec.json.encode({**ALERT, "window_start": when})])
    feeder._apply(topics.metrics, [msgspec.json.encode({**METRICS, "window_start": when})])
    feeder._apply(topics.gaps, [msgspec.json.encode({**GAP, "start": when})])
    snapshot = orjson.loads(orjson.dumps(state.snapshot()))
    assert not state.invalid
    assert [p["created_at"] for p in snapshot["posts"]] == [when]
    assert snapshot["totals"]["posts"] == 1 and snapshot["per_minute"] == []
    assert [a["window_start"] for a in snapshot["alerts"]] == [when]
    assert [m["window_start"] for m in snapshot["metrics"]] == [when]
    assert [g["start"] for g in snapshot["gaps"]] == [when]
