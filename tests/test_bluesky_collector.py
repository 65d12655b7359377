"""The Bluesky collector against a fake Jetstream and a fake XRPC host, and through the real
pipeline: reconnects, replay from the cursor, gaps, searchPosts backfill, a killed collector,
reposts, edits and deletions, and the app password kept secret."""

from __future__ import annotations

import asyncio
import logging
import signal
import sqlite3
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

from agents.bluesky.collector import BlueskyCollector
from agents.bluesky.jetstream import BlueskyConfig, subscribe_url
from agents.bluesky.search import Credentials
from agents.checkpoint import CheckpointFile, checkpoint_path
from agents.live import StreamError
from agents.publisher import KafkaPublisher
from agents.testing import FastClock, ListPublisher
from pipeline.collect import bluesky_command
from pipeline.core.campaign import parse_campaign
from pipeline.core.settings import Settings
from pipeline.runner import wait_drained
from pipeline.session import session
from schemas.codec import encode
from tests.conftest import REPO, shared_data
from tests.fakes.bluesky_api import FakeBlueskyApi
from tests.fakes.jetstream import FakeJetstream, FakePost, Plan, load_records
from tests.live import cli_env, run_until

HANDLE = "watcher.bsky.social"
PASSWORD = "kq3v-7mzt-p2xw-9hdr"  # an app password's shape
TAGS = ["أين_المعتقلين", "اين_المعتقلين", "WhereAreTheDetainees"]
CAMPAIGN = parse_campaign({"name": "detainees", "hashtags": TAGS})
POST = "app.bsky.feed.post"
REPOST = "app.bsky.feed.repost"


@pytest.fixture
async def fake() -> AsyncIterator[FakeJetstream]:
    server = FakeJetstream(load_records(shared_data() / "bluesky"), TAGS)
    await server.start()
    yield server
    await server.close()


@pytest.fixture
async def api(fake: FakeJetstream) -> AsyncIterator[FakeBlueskyApi]:
    server = FakeBlueskyApi(fake, HANDLE, PASSWORD)
    await server.start()
    yield server
    await server.close()


def config(fake: FakeJetstream, **overrides: Any) -> BlueskyConfig:
    values: dict[str, Any] = {
        "jetstream_url": fake.url,
        "stall_timeout": 0.5,  # 30 s in production
        "connect_timeout": 2.0,
        "rewind": 0.2,  # 5 s
        "replay_tolerance": 0.4,  # 60 s
        "bracket_timeout": 5.0,
        "start_margin": 0.0,
        "checkpoint_every": 0.05,
        "search_page_size": 3,
    }
    values.update(overrides)
    return BlueskyConfig(**values)


def credentials(api: FakeBlueskyApi, password: str = PASSWORD) -> Credentials:
    return Credentials(api_url=api.base_url, handle=HANDLE, password=password)


def versions(publisher: ListPublisher) -> Counter[tuple[str, str | None]]:
    """How often each (post, version) was published: 1 each, or a record was doubled."""
    return Counter((p.id, p.version) for p in publisher.posts)


def expected_versions(fake: FakeJetstream) -> Counter[tuple[str, str | None]]:
    return Counter((uri, cid) for uri, post in fake.posts.items() for cid in post.versions)


def near(a: datetime, b: float | None, tolerance: float = 0.3) -> bool:
    return b is not None and abs(a.timestamp() - b) < tolerance


# --- the subscription ------------------------------------------------------------------------


def test_the_subscription_asks_for_posts_and_reposts_uncompressed() -> None:
    assert subscribe_url("wss://js.example/subscribe", None) == (
        "wss://js.example/subscribe?wantedCollections=app.bsky.feed.post"
        "&wantedCollections=app.bsky.feed.repost"
    )
    url = subscribe_url("ws://127.0.0.1:1/subscribe?maxMessageSizeBytes=0", 1779719009157119)
    assert url.endswith(
        "?maxMessageSizeBytes=0&wantedCollections=app.bsky.feed.post"
        "&wantedCollections=app.bsky.feed.repost&cursor=1779719009157119"
    )
    assert "compress" not in url


# --- every fault, one run ----------------------------------------------------------------------


def offline_changes(fake: FakeJetstream) -> Callable[[FakeJetstream], object]:
    """While the collector is away: an edit (dropping the hashtag), a repost of a campaign post
    and of a post never seen, a deletion of a campaign post and of a post never seen."""

    def act(server: FakeJetstream) -> None:
        first, second, third = list(server.posts.values())[:3]
        server.update(first, "نص معدل بلا وسم", keep_tag=False)
        server.repost(second.uri)
        server.repost(f"at://did:plc:someoneelse/{POST}/3kunseen22222")
        server.delete(third.uri)
        server.delete(f"at://did:plc:someoneelse/{POST}/3kunseen33333")

    return act


async def test_every_fault_kind_gap_and_backfill(
    fake: FakeJetstream,
    api: FakeBlueskyApi,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    plans = [
        Plan(posts=4, then="cut", offline=2),  # no close frame
        Plan("reset"),  # aiohttp retries a dropped handshake once (RFC 9112)...
        Plan("reset", offline=1),  # ...the second drop is a network error
        Plan("http", status=503, offline=1),
        Plan("http", status=429, offline=1),
        Plan(posts=4, then="stall", offline=2, actions=[offline_changes(fake)]),
        Plan(posts=3, then="close", offline=1),
        Plan(posts=3, delay=0.8, before=2, expire=True),  # away longer than the replay window
    ]
    fake.plans.extend(plans)
    api.faults.extend([("429", 2), ("expire", 0)])
    publisher = ListPublisher()
    clock = FastClock()
    checkpoint = CheckpointFile(checkpoint_path(tmp_path, "detainees", "bluesky"))
    collector = BlueskyCollector(
        publisher,
        CAMPAIGN,
        config=config(fake, search_page_size=1),
        credentials=credentials(api),
        checkpoint=checkpoint,
        clock=clock,
    )
    live: list[FakePost] = []

    def finished() -> bool:
        # each gap is published closed, then again once filled: 3 gaps, 6 closed versions
        if sum(1 for g in publisher.gaps if g.end is not None) < 6:
            return False
        if not live:  # now that the last connection is up: changes made while it watches
            first = next(iter(fake.posts.values()))
            live.append(fake.update(first, "تعديل ثان", keep_tag=True))
            fake.repost(first.uri)
            fake.delete(list(fake.posts)[3])
        return (
            versions(publisher) >= expected_versions(fake)
            and len(publisher.deletions) == 2
            and sum(1 for p in publisher.posts if p.reference("retweet")) == 2
        )

    stats = await run_until(collector, finished)
    conns = fake.conns

    # every version of every campaign post, once; reposts of seen posts; nothing else
    originals = [p for p in publisher.posts if not p.reference("retweet")]
    assert Counter((p.id, p.version) for p in originals) == expected_versions(fake)
    assert len(fake.posts) == 4 + 2 + 1 + 1 + 1 + 4 + 2 + 3 + 1 + 2 + 3
    assert publisher.dead_letters == [] and stats.dead_lettered == 0
    assert stats.skipped["already-published"] > 0  # each replay re-sent what was published
    reposts = [p for p in publisher.posts if p.reference("retweet")]
    first, second = list(fake.posts.values())[:2]
    assert [p.reference("retweet") for p in reposts] == [
        f"bluesky:{second.uri}",
        f"bluesky:{first.uri}",
    ]
    by_uid = {p.uid: p for p in originals if p.edited_at is None}
    assert reposts[0].text == by_uid[f"bluesky:{second.uri}"].text != ""
    assert reposts[0].hashtags == by_uid[f"bluesky:{second.uri}"].hashtags
    assert all(
        r.id.startswith("at://did:plc:reposterfakexyz/app.bsky.feed.repost/") for r in reposts
    )
    # reposts of posts never seen are counted, not fetched, and said so in the run's record
    assert collector.stream.unseen_reposts == 1 and stats.skipped["repost-of-unseen-post"] == 1
    assert publisher.collections[-1].parameters["reposts_of_unseen_posts"] == 1
    assert "1 reposts of posts it never saw were counted, not fetched" in caplog.text
    # deletions of campaign posts are evidence; deletions of other posts are not collected
    third = list(fake.posts.values())[2]
    fourth = list(fake.posts)[3]
    assert [d.uid for d in publisher.deletions] == [f"bluesky:{third.uri}", f"bluesky:{fourth}"]
    assert stats.skipped["delete-of-unseen-record"] == 1
    # an edit is a version: its cid, the event's time; kept even though it dropped the tag
    edits = [p for p in originals if p.edited_at is not None]
    assert [(e.id, e.version) for e in edits] == [(first.uri, c) for c in first.versions[1:]]
    assert edits[0].hashtags == [] and edits[0].text == "نص معدل بلا وسم"
    # the stream's bytes, byte for byte
    streamed = [p for p in originals if p.provenance.collector == "bluesky"]
    assert all(bytes(p.raw) in fake.lines[p.id] for p in streamed)
    assert all(p.provenance.sha256 and p.provenance.collection for p in publisher.posts)

    # reconnects: backoff by kind, each delay logged with its reason, all on the clock
    reconnects = [d for d in collector.delays if d.schedule in ("network", "http", "http-429")]
    assert [(d.seconds, d.schedule) for d in reconnects] == [
        (0.25, "network"),
        (0.5, "network"),
        (5, "http"),
        (60, "http-429"),
        (0.25, "network"),
        (0.25, "network"),
    ]
    reasons = [d.reason for d in reconnects]
    assert "without a close frame" in reasons[0] and "ServerDisconnectedError" in reasons[1]
    assert "HTTP 503" in reasons[2] and "HTTP 429" in reasons[3]
    assert "stalled: no message for 0.5 s" in reasons[4] and "close code 1000" in reasons[5]
    for delay in collector.delays:
        assert f"waiting {delay.seconds:.2f} s ({delay.schedule}): {delay.reason}" in caplog.text
    assert [d.seconds for d in collector.delays] == clock.sleeps

    # every reconnect resumed from the durable cursor, a little before it
    assert conns[0].cursor is None  # a first run starts at the live tail
    assert all(c.cursor is not None for c in conns[1:])
    assert conns[-1].start is not None and conns[-1].cursor is not None
    assert conns[-1].start > conns[-1].cursor  # moved up: the cursor was too old
    assert all(c.params["wantedCollections"] == [POST, REPOST] for c in conns)
    assert all("compress" not in c.params for c in conns)
    assert "like" not in stats.skipped and stats.skipped["identity-event"] > 0  # v1 filtering

    # three outages, three gaps: bounds, causes, what each recovery brought back
    gaps = sorted(publisher.latest_gaps().values(), key=lambda g: g.start)
    assert [g.reason for g in gaps] == [
        "connection lost; network error (ServerDisconnectedError); HTTP 503; HTTP 429",
        "stalled",
        "closed by the server",
    ]
    assert [g.recovered for g in gaps] == [5, 4, 3]  # replayed, replayed, searched
    a, b, c = gaps
    assert near(a.start, conns[0].last_sent) and near(a.end, conns[5].ok_at)  # type: ignore[arg-type]
    assert near(b.start, conns[5].last_sent) and near(b.end, conns[6].ok_at)  # type: ignore[arg-type]
    assert near(c.start, conns[6].last_sent) and near(c.end, conns[7].ok_at)  # type: ignore[arg-type]
    assert all(g.source == fake.url for g in gaps)

    # the window Jetstream no longer had was searched, every spelling, within rate limits
    searched = [e for e in api.search_log if e["status"] == 200]
    assert {e["params"]["tag"] for e in searched} == set(TAGS)
    assert {e["params"]["q"] for e in searched} == {f"#{t}" for t in TAGS}
    assert all(e["params"]["sort"] == "latest" and e["params"]["limit"] == "1" for e in searched)
    since = datetime.fromisoformat(searched[0]["params"]["since"].replace("Z", "+00:00"))
    until = datetime.fromisoformat(searched[0]["params"]["until"].replace("Z", "+00:00"))
    assert near(since, ((conns[-1].cursor or 0) / 1e6), 0.002)
    assert near(until, (conns[-1].first_us or 0) / 1e6 + 0.001, 0.001)  # where the replay began
    assert any("cursor" in e["params"] for e in searched)  # paginated
    backfilled = [p for p in publisher.posts if p.provenance.collector == "bluesky-search"]
    assert {p.id for p in backfilled} == {p.uri for p in list(fake.posts.values())[-6:-3]}
    assert all(p.author.handle and p.author.name for p in backfilled)  # views name the author
    limited = [d for d in collector.delays if d.schedule == "rate-limit-reset"]
    [refused] = [e for e in api.search_log if e["status"] == 429]
    assert (
        len(limited) == 1 and abs(limited[0].seconds - (refused["reset"] - refused["at"] + 1)) < 0.5
    )
    assert (api.logins, api.refreshes) == (1, 1)  # an expired token is refreshed, not re-logged

    # the checkpoint: the newest time_us made durable, and what was just published
    saved = checkpoint.load().stream("jetstream")
    assert saved.cursor is not None and int(saved.cursor) <= fake.log[-1].time_us
    assert saved.state["recent"] and saved.pending == []

    # the app password and the tokens never show: logs, output, records, checkpoint
    out, err = capfd.readouterr()
    for secret in (PASSWORD, "access-1.fakejwt", "refresh-1.fakejwt"):
        assert secret not in caplog.text and secret not in out + err
        data = secret.encode()
        records = [*publisher.posts, *publisher.deletions, *publisher.dead_letters]
        assert all(
            data not in encode(r) for r in [*records, *publisher.gaps, *publisher.collections]
        )
        assert data not in checkpoint.path.read_bytes()
    assert PASSWORD not in repr(collector.credentials)


# --- restarts --------------------------------------------------------------------------------


async def test_a_restart_resumes_from_the_checkpoint_without_loss_or_doubles(
    fake: FakeJetstream, tmp_path: Path
) -> None:
    checkpoint = CheckpointFile(checkpoint_path(tmp_path, "detainees", "bluesky"))

    def collector(publisher: ListPublisher) -> BlueskyCollector:
        return BlueskyCollector(
            publisher, CAMPAIGN, config=config(fake), checkpoint=checkpoint, clock=FastClock()
        )

    def durable_past(post: FakePost, seconds: float) -> bool:
        saved = checkpoint.load().stream("jetstream") if checkpoint.path.exists() else None
        cursor = saved.cursor if saved is not None else None
        return cursor is not None and int(cursor) > post.time_us + seconds * 1e6

    first = ListPublisher()
    fake.plans.append(Plan(posts=6))
    last: list[FakePost] = []

    def then_one_more() -> bool:
        """Six posts, then the cursor well past them (the restart will not replay them, so it
        knows them for their repost and deletion from what it remembered, not from Jetstream),
        then a seventh, stopped as soon as it is durable (the restart replays it)."""
        if not last:
            if len(first.posts) == 6 and durable_past(list(fake.posts.values())[-1], 0.5):
                last.append(fake.post())
            return False
        return len(first.posts) == 7 and durable_past(last[0], 0)

    await run_until(collector(first), then_one_more)
    saved = checkpoint.load().stream("jetstream")
    assert saved.cursor is not None and saved.covered_until is not None and saved.state["recent"]

    # while nobody listens: new posts, an edit, a repost and a deletion of posts seen before
    made = [fake.post(offline=True) for _ in range(3)]
    old = list(fake.posts.values())
    fake.update(old[0], "edited while the collector was down")
    fake.repost(old[1].uri)
    fake.delete(old[2].uri)

    second = ListPublisher()
    fake.plans.append(Plan(posts=2))
    restarted = collector(second)
    stats = await run_until(
        restarted,
        lambda: (
            versions(first) + versions(second) >= expected_versions(fake)
            and len(second.deletions) == 1
            and restarted.backfills_pending() == 0
        ),
    )
    # each version exactly once across both runs; the replay's overlap was recognised
    both = [p for p in first.posts + second.posts if not p.reference("retweet")]
    assert Counter((p.id, p.version) for p in both) == expected_versions(fake)
    assert stats.skipped["already-published"] == 1  # the seventh, replayed, recognised
    assert fake.conns[1].cursor == int(saved.cursor) - 200_000  # rewound 0.2 s
    # the posts seen in the first run are remembered: their repost and deletion are collected
    assert checkpoint.path.with_name("bluesky-detainees.seen.jsonl").stat().st_size > 0
    [repost] = [p for p in second.posts if p.reference("retweet")]
    assert repost.reference("retweet") == f"bluesky:{old[1].uri}" and repost.text
    assert [d.uid for d in second.deletions] == [f"bluesky:{old[2].uri}"]
    # the time it was down is a gap, closed by the restart, filled by the replay
    [gap] = second.latest_gaps().values()
    assert gap.start == saved.covered_until and near(gap.end, fake.conns[1].ok_at)  # type: ignore[arg-type]
    assert (gap.reason, gap.recovered) == ("collector not running", 3 + 1 + 1)
    assert {p.uri for p in made} <= {p.id for p in second.posts}


# --- backfill ----------------------------------------------------------------------------------


async def test_history_beyond_the_replay_window_comes_from_search_split_at_the_cap(
    fake: FakeJetstream, api: FakeBlueskyApi
) -> None:
    now = time.time_ns() // 1000
    old = [
        fake.post(TAGS[0], search_only=True, at_us=now - 86_400_000_000 - i * 1000)
        for i in range(12)
    ]
    too_old = fake.post(search_only=True, at_us=now - 4 * 86_400_000_000)
    recent = [fake.post(offline=True) for _ in range(2)]  # still in Jetstream's window
    api.result_cap = 5
    fake.plans.append(Plan(posts=1))
    publisher = ListPublisher()
    collector = BlueskyCollector(
        publisher,
        CAMPAIGN,
        config=config(fake, backfill=timedelta(days=2), search_page_size=2, search_result_cap=5),
        credentials=credentials(api),
        clock=FastClock(),
    )
    wanted = {p.uri for p in old + recent}
    await run_until(
        collector,
        lambda: wanted <= {p.id for p in publisher.posts} and collector.backfills_pending() == 0,
    )
    assert too_old.uri not in {p.id for p in publisher.posts}
    assert publisher.gaps == []  # history is not an outage
    # the first connection asked for two days; Jetstream had less, the rest was searched
    assert abs((fake.conns[0].cursor or 0) - (now - 2 * 86_400_000_000)) < 5_000_000
    searched = [e for e in api.search_log if e["status"] == 200]
    arabic = [e for e in searched if e["params"]["tag"] == TAGS[0] and "cursor" not in e["params"]]
    untils = [e["params"]["until"] for e in arabic]
    assert len(untils) >= 2 and untils == sorted(untils, reverse=True)  # split below the cap
    assert Counter(p.id for p in publisher.posts)[old[0].uri] == 1


async def test_without_search_an_expired_window_is_a_gap_that_says_so(
    fake: FakeJetstream,
) -> None:
    fake.plans.extend(
        [Plan(posts=2, then="close"), Plan(posts=1, delay=0.8, before=2, expire=True)]
    )
    publisher = ListPublisher()
    collector = BlueskyCollector(publisher, CAMPAIGN, config=config(fake), clock=FastClock())
    await run_until(collector, lambda: any("backfill failed" in g.reason for g in publisher.gaps))
    [gap] = publisher.latest_gaps().values()
    assert gap.recovered == 0 and gap.reason.startswith("closed by the server; backfill failed: ")
    assert "beyond its replay window and were not recovered: set BLUESKY_API_URL" in gap.reason
    lost = [p.uri for p in fake.posts.values() if p.offline]
    assert len(lost) == 2 and not set(lost) & {p.id for p in publisher.posts}


async def test_refusals_stop_with_a_clear_message(fake: FakeJetstream, api: FakeBlueskyApi) -> None:
    fake.plans.append(Plan("http", status=404))
    refused = BlueskyCollector(ListPublisher(), CAMPAIGN, config=config(fake), clock=FastClock())
    with pytest.raises(StreamError, match="check BLUESKY_JETSTREAM_URL"):
        await refused.run()
    assert refused.delays == []  # retrying would not help, so it does not

    fake.plans.extend([Plan(posts=1, then="close"), Plan(posts=1, delay=0.8, expire=True)])
    publisher = ListPublisher()
    wrong = BlueskyCollector(
        publisher,
        CAMPAIGN,
        config=config(fake),
        credentials=credentials(api, password="wrong-pass-word-1"),
        clock=FastClock(),
    )
    await run_until(wrong, lambda: any("backfill failed" in g.reason for g in publisher.gaps))
    [gap] = publisher.latest_gaps().values()
    assert "Bluesky refused the login (HTTP 401 AuthenticationRequired)" in gap.reason
    assert "wrong-pass-word-1" not in gap.reason and api.logins == 0

    with pytest.raises(StreamError, match="follows hashtags"):
        BlueskyCollector(ListPublisher(), parse_campaign({"name": "k", "keywords": ["x"]}))


# --- the command line --------------------------------------------------------------------------


def test_cli_help_and_errors_never_show_the_password(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("HASHWATCH_BROKER", "HASHWATCH_CONFIG", "BLUESKY_JETSTREAM_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HASHWATCH_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("BLUESKY_APP_PASSWORD", PASSWORD)
    fixture = REPO / "tests" / "fixtures" / "campaign.toml"
    runner = CliRunner()
    help_text = runner.invoke(bluesky_command, ["--help"])
    assert help_text.exit_code == 0 and "--backfill" in help_text.output
    assert "BLUESKY_APP_PASSWORD" in help_text.output and PASSWORD not in help_text.output

    no_config = runner.invoke(bluesky_command, [])
    assert no_config.exit_code == 2 and "no campaign config" in no_config.output
    partial = runner.invoke(bluesky_command, ["--config", str(fixture)])
    assert partial.exit_code == 2
    assert "BLUESKY_API_URL, BLUESKY_HANDLE unset" in partial.output
    monkeypatch.setenv("BLUESKY_API_URL", "https://bsky.social")
    monkeypatch.setenv("BLUESKY_HANDLE", HANDLE)
    no_broker = runner.invoke(bluesky_command, ["--config", str(fixture)])
    assert no_broker.exit_code == 2 and "needs a running broker" in no_broker.output
    bad = runner.invoke(bluesky_command, ["--config", str(fixture), "--backfill", "soon"])
    assert bad.exit_code == 2 and "not a duration" in bad.output
    keywords = tmp_path / "keywords.toml"
    keywords.write_text('name = "k"\nkeywords = ["Saydnaya"]\n')
    no_tags = runner.invoke(bluesky_command, ["--config", str(keywords)])
    assert no_tags.exit_code == 2 and "follows `hashtags`" in no_tags.output
    for result in (help_text, no_config, partial, no_broker, bad, no_tags):
        assert PASSWORD not in result.output


# --- through the real pipeline: a killed collector, every fault, the store -------------------


def store_rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


async def wait_for_checkpoint(
    path: Path, sent: FakePost, process: Any, timeout: float = 60
) -> None:
    """Until the collector's checkpoint holds a cursor past ``sent`` (what it has flushed)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.returncode is not None:
            pytest.fail(f"the collector exited ({process.returncode})")
        if path.exists():
            saved = CheckpointFile(path).load().stream("jetstream")
            if saved.cursor is not None and int(saved.cursor) >= sent.time_us:
                return
        await asyncio.sleep(0.05)
    pytest.fail("the collector never checkpointed")


@pytest.mark.slow
async def test_through_the_pipeline_a_killed_collector_loses_nothing(
    settings: Settings,
    fake: FakeJetstream,
    api: FakeBlueskyApi,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    campaign_file = tmp_path / "campaign.toml"
    campaign_file.write_text('name = "detainees"\nhashtags = ' + orjson.dumps(TAGS).decode())
    env = cli_env(
        settings,
        BLUESKY_JETSTREAM_URL=fake.url,
        BLUESKY_API_URL=api.base_url,
        BLUESKY_HANDLE=HANDLE,
        BLUESKY_APP_PASSWORD=PASSWORD,
    )
    path = checkpoint_path(settings.data_dir, "detainees", "bluesky")
    db = settings.data_dir / "hashwatch.db"
    async with session(settings) as s:
        # run 1: `hashwatch collect bluesky` in its own process, killed with SIGKILL mid-stream
        fake.plans.append(Plan(posts=6))
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "pipeline.cli", "--log-level", "info", "collect", "bluesky",
            "--config", str(campaign_file),
            env=env, cwd=tmp_path, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        while len(fake.posts) < 6:
            await asyncio.sleep(0.05)
        await wait_for_checkpoint(path, list(fake.posts.values())[5], process)
        for _ in range(2):  # read, maybe published, not yet checkpointed when it dies
            fake.post()
        while len(fake.conns[0].sent) < 8:
            await asyncio.sleep(0.01)
        process.send_signal(signal.SIGKILL)
        out, err = await process.communicate()
        assert process.returncode == -signal.SIGKILL

        # while nobody listens: new posts, an edit, a repost, a deletion
        for _ in range(3):
            fake.post(offline=True)
        first, second, third = list(fake.posts.values())[:3]
        fake.update(first, "تعديل أثناء الانقطاع")
        fake.repost(second.uri)
        fake.delete(third.uri)

        # run 2: restarted from the checkpoint, through Kafka, with every fault
        fake.plans.extend(
            [
                Plan(posts=3, then="cut", offline=2),
                Plan("http", status=503, offline=1),
                Plan(posts=2, then="stall", offline=1),
                Plan(posts=2, delay=0.8, before=2, expire=True),  # the stall outlasts the window
            ]
        )
        api.faults.extend([("429", 1), ("expire", 0)])
        publisher = KafkaPublisher(s.bootstrap, s.topics)
        await publisher.start()
        collector = BlueskyCollector(
            publisher,
            CAMPAIGN,
            config=config(fake),
            credentials=credentials(api),
            checkpoint=CheckpointFile(path),
            clock=FastClock(),
        )
        gaps: list[Any] = []
        live: list[str] = []

        def everything_stored() -> bool:
            gaps[:] = store_rows(db, 'SELECT start, "end", reason, recovered FROM gaps')
            if len(gaps) < 3 or any(g[1] is None for g in gaps) or collector.backfills_pending():
                return False
            if not live:  # all three outages over and filled: changes while it watches
                fourth = list(fake.posts.values())[3]
                fake.update(fourth, "تعديل مباشر")
                live.append(fake.repost(fourth.uri))
                fake.delete(list(fake.posts)[4])
            stored = {r[0] for r in store_rows(db, "SELECT uid FROM posts")}
            deleted = store_rows(db, "SELECT count(*) FROM deletions")[0][0]
            versions = store_rows(db, "SELECT count(*) FROM post_versions")[0][0]
            wanted = {f"bluesky:{u}" for u in fake.posts} | {f"bluesky:{u}" for u in fake.reposts}
            return wanted <= stored and deleted == 2 and versions == 2

        try:
            await run_until(collector, everything_stored, timeout=60)
        finally:
            await publisher.stop()
        await wait_drained(s.worker, collector.stats.posts, records=publisher.sent, final=False)
        run = f"SELECT outcome FROM collections WHERE id = '{collector.collection_id}'"
        for _ in range(200):  # the run's last record, sent as it stopped
            if store_rows(db, run) == [("stopped",)]:
                break
            await asyncio.sleep(0.05)
        counters = s.worker.counters

    # every post the network made is stored once (stream, replay and search together)
    uids = [r[0] for r in store_rows(db, "SELECT uid FROM posts")]
    reposts = {f"bluesky:{u}" for u in fake.reposts}
    assert sorted(uids) == sorted({f"bluesky:{u}" for u in fake.posts} | reposts)
    assert len(fake.posts) == 8 + 3 + 3 + 2 + 1 + 2 + 1 + 2 + 2
    assert counters.by_platform["bluesky"] == len(uids) == counters.unique
    assert collector.stats.skipped["already-published"] > 0  # the restart's replay overlapped
    # the bytes: each row's payload is an event line as Jetstream sent it, or a search view
    for uid, raw, source in store_rows(db, "SELECT uid, raw, source FROM posts"):
        data = raw.encode()
        if "searchPosts" in source:
            assert orjson.loads(data)["uri"] == uid.removeprefix("bluesky:")
        else:
            assert data in fake.lines[uid.removeprefix("bluesky:")]
    # reposts of seen posts point at them; edits are versions; deletions mark the row
    assert dict(store_rows(db, "SELECT uid, repost_of FROM posts WHERE repost_of IS NOT NULL")) == {
        f"bluesky:{r}": f"bluesky:{subject}" for r, subject in fake.reposts.items()
    }
    fourth = list(fake.posts.values())[3]
    versions = store_rows(db, "SELECT uid, version FROM post_versions ORDER BY uid")
    assert sorted(versions) == sorted(
        [(f"bluesky:{first.uri}", first.versions[1]), (f"bluesky:{fourth.uri}", fourth.versions[1])]
    )
    deleted = store_rows(db, "SELECT uid FROM posts WHERE deleted_at IS NOT NULL")
    assert sorted(deleted) == sorted(
        [(f"bluesky:{third.uri}",), (f"bluesky:{list(fake.posts)[4]}",)]
    )
    # three gaps: the time it was dead, a cut (then a 503), a stall that outlasted the window
    by_reason = {reason: recovered for _, _, reason, recovered in gaps}
    assert set(by_reason) == {"collector not running", "connection lost; HTTP 503", "stalled"}
    # made while it was dead: 3 posts, an edit, a repost; and what it had read unflushed
    assert 5 <= by_reason["collector not running"] <= 5 + 2
    assert by_reason["connection lost; HTTP 503"] == 2 + 1  # replayed
    assert by_reason["stalled"] == 1 + 2  # searched: Jetstream no longer had them
    # both runs are on record: the killed one never said it stopped
    runs = store_rows(db, "SELECT collector, stopped_at, outcome, parameters FROM collections")
    assert sorted((r[0], r[1] is None, r[2]) for r in runs) == [
        ("bluesky", False, "stopped"),
        ("bluesky", True, None),
    ]
    # the app password shows nowhere: the store, the checkpoint, either run's output and logs
    secret = PASSWORD.encode()
    for file in settings.data_dir.rglob("*"):
        if file.is_file():
            assert secret not in file.read_bytes(), file
    assert secret not in out + err and PASSWORD not in caplog.text
    assert b"Traceback" not in err
