"""The Mastodon collector against two fake instances: streams, reconnects, gaps, backfill,
deletes, edits, federated duplicates, restarts, the token."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
import pytest
from click.testing import CliRunner

from agents.checkpoint import CheckpointFile, checkpoint_path
from agents.live import BackfillJob, StreamError
from agents.mastodon.api import Token
from agents.mastodon.known import KnownStatuses
from agents.mastodon.stream import MastodonCollector, MastodonConfig
from agents.mastodon.window import backfill_window
from agents.testing import ListPublisher
from pipeline.collect import mastodon_command
from pipeline.core.campaign import Campaign, parse_campaign
from schemas.codec import encode
from schemas.gap import Gap
from schemas.post import Post
from tests.fakes.mastodon import FakeMastodon, FakePost, Fediverse, Plan, load_templates
from tests.test_x_collector import FastClock, HoldClock, near, run_until

TOKEN = "mastodon-user-token-Zq81xk-3f9a2c"
T1, T2, T3 = "أين_المعتقلين", "اين_المعتقلين", "WhereAreTheDetainees"
# four spellings, three tags as Mastodon tells them apart (case is not a difference there)
HASHTAGS = [T1, T2, T3, "wherearethedetainees"]


@pytest.fixture
async def instances() -> AsyncIterator[tuple[Fediverse, FakeMastodon, FakeMastodon]]:
    fediverse = Fediverse(load_templates())
    a = FakeMastodon(fediverse, TOKEN)  # streams from a host of its own, named in v2/instance
    b = FakeMastodon(fediverse, TOKEN, streaming_host=False)  # an older server
    await a.start()
    await b.start()
    yield fediverse, a, b
    await a.close()
    await b.close()


def campaign(*urls: str) -> Campaign:
    return parse_campaign(
        {"name": "detainees", "hashtags": HASHTAGS, "mastodon": {"instances": list(urls)}}
    )


def config(**overrides: Any) -> MastodonConfig:
    values: dict[str, Any] = {
        "heartbeat": 0.1,  # 15 s in production; the fake thumps every 0.05 s
        "connect_timeout": 2.0,
        "read_timeout": 5.0,
        "bracket_timeout": 1.0,  # a stream with no post after a reconnect is bounded by time
        "start_margin": 0.0,
        "federation_lag": 0.0,  # ids are exact bounds here (no late-federated posts)
        "page_size": 4,  # so a gap's backfill takes several pages
        "checkpoint_every": 0.0,
    }
    values.update(overrides)
    return MastodonConfig(**values)


def collector(
    publisher: ListPublisher,
    *urls: str,
    token: str = TOKEN,
    clock: FastClock | None = None,
    checkpoint: CheckpointFile | None = None,
    known: Path | None = None,
    **overrides: Any,
) -> MastodonCollector:
    return MastodonCollector(
        publisher,
        campaign(*urls),
        {u: Token(token, "MASTODON_TOKEN") for u in urls},
        config=config(**overrides),
        checkpoint=checkpoint,
        known=known,
        clock=clock or FastClock(),
    )


async def until(done: Callable[[], bool], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


def uids(publisher: ListPublisher) -> set[str]:
    return {p.uid for p in publisher.posts}


def uid(post: FakePost) -> str:
    return f"mastodon:{post.uri}"


def local_id(post: Post) -> str:
    return str(orjson.loads(bytes(post.raw))["id"])


def snowflake_at(when: datetime) -> str:
    return str(int(when.timestamp() * 1000) << 16)


def tag_of(gap: Gap) -> str:
    """The tag of the stream a gap is about."""
    return parse_qs(urlsplit(gap.source or "").query)["tag"][0]


def stream_key(instance: FakeMastodon, tag: str) -> str:
    return f"{urlsplit(instance.base_url).netloc}#{tag}"


# --- windows, memory, checkpoints --------------------------------------------------------------


def test_backfill_windows_reach_back_for_late_federated_posts() -> None:
    start = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    end = start + timedelta(minutes=5)
    gap = Gap(id="g", collector="mastodon", start=start, end=end, reason="stalled")
    before, after = (
        str((int(start.timestamp() * 1000) - 10) << 16),
        snowflake_at(end + timedelta(seconds=1)),
    )
    exact = backfill_window(BackfillJob(gap=gap, since=before, until=after), timedelta(0))
    assert (exact.since_id, exact.max_id) == (before, after)
    wide = backfill_window(BackfillJob(gap=gap, since=before, until=after), timedelta(minutes=10))
    assert wide.since_id == snowflake_at(start - timedelta(minutes=10)) and wide.max_id == after
    # the first post after the reconnect was federated late: its id is old, the window is not
    late = str((int(start.timestamp() * 1000) - 60_000) << 16)
    assert backfill_window(BackfillJob(gap=gap, since=before, until=late), timedelta(0)).max_id == (
        snowflake_at(end)
    )
    # no post after the reconnect: up to now; no cursor before: by time
    open_end = backfill_window(BackfillJob(gap=gap, since=before), timedelta(0))
    assert open_end.max_id is None
    timed = backfill_window(BackfillJob(gap=gap, start_time=start), timedelta(minutes=10))
    assert (timed.since_id, timed.start_time) == (None, start - timedelta(minutes=10))
    # other servers' ids are taken as they are
    other = backfill_window(BackfillJob(gap=gap, since="AbC9", until="AbD1"), timedelta(hours=1))
    assert (other.since_id, other.max_id) == ("AbC9", "AbD1")


def test_known_statuses_are_bounded_and_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "known.sqlite"
    known = KnownStatuses(path, limit=3)
    for i in range(5):
        assert known.remember("https://a.example", str(i), f"https://o.example/{i}")
    assert not known.remember("https://a.example", "4", "https://o.example/4")
    known.remember("https://b.example", "1", "https://o.example/b1")
    assert not known.knows("https://a.example", "0") and known.knows("https://a.example", "2")
    assert known.uid("https://a.example", "3") == "mastodon:https://o.example/3"
    assert known.uid("https://a.example", "0") == "mastodon:https://a.example/api/v1/statuses/0"
    known.close()
    again = KnownStatuses(path, limit=3)
    assert again.uid("https://a.example", "4") == "mastodon:https://o.example/4"
    assert again.uid("https://b.example", "1") == "mastodon:https://o.example/b1"
    assert not again.knows("https://a.example", "1")
    rows = sqlite3.connect(path).execute("SELECT count(*) FROM statuses").fetchone()
    assert rows == (4,)  # the file is pruned to what is remembered


# --- everything at once ------------------------------------------------------------------------

# One tag's stream on instance A goes through every fault; aiohttp retries a GET once when the
# server drops the connection before answering (RFC 9112 §9.3.1), so a reset is seen when it
# happens twice in a row.
FAULTS = [
    Plan(posts=5, then="cut", offline=3),  # then an event cut in the middle
    Plan("reset"),
    Plan("reset", offline=2),
    Plan("http", status=503, offline=2),
    Plan("http", status=429, offline=2),
    Plan(posts=4, then="stall", offline=2),  # silence: neither events nor heartbeats
    Plan(posts=3, then="close", offline=1),
    Plan(posts=3, then="keep"),
]
RECONNECTS = [0.25, 0.5, 5, 60, 0.25, 0.25]


async def test_every_fault_gap_backfill_delete_edit_and_federated_duplicate(
    instances: tuple[Fediverse, FakeMastodon, FakeMastodon],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    fediverse, a, b = instances
    a.plans[T1.lower()] = deque(FAULTS)
    a.plans[T2.lower()] = deque([Plan(posts=3, then="keep")])
    a.plans[T3.lower()] = deque([Plan(posts=2, then="keep")])
    a.timeline_faults.extend([("429", 5), ("exhaust", 3)])
    publisher = ListPublisher()
    clock = FastClock()
    checkpoint = CheckpointFile(checkpoint_path(tmp_path, "detainees", "mastodon"))
    known = checkpoint.path.with_suffix(".statuses.sqlite")
    running = collector(
        publisher, a.base_url, b.base_url, clock=clock, checkpoint=checkpoint, known=known
    )
    t1 = [c for c in a.conns if c.tag == T1]

    def faults_done() -> bool:
        t1[:] = [c for c in a.conns if c.tag == T1]
        return (
            len(t1) == len(FAULTS)
            and len(t1[-1].streamed) == 3
            and {uid(p) for p in fediverse.posts} <= uids(publisher)
            and len(running.gaps) == 3
            and running.backfills_pending() == 0
        )

    async def then_edit_delete_and_federate() -> None:
        await until(faults_done)
        t2 = [p for p in fediverse.posts if p.tag == T2]
        fediverse.edit(t2[0], "words changed after the fact")
        fediverse.delete(t2[1])
        a.push(T2, "delete", b"4242")  # a status this collector never saw
        shared = fediverse.create(a, T3, to=[b])
        await until(lambda: len(publisher.deletions) == 2 and uid(shared) in uids(publisher))
        await until(lambda: [p.uid for p in publisher.posts].count(uid(shared)) == 2)

    driver = asyncio.create_task(then_edit_delete_and_federate())
    stats = await run_until(running, driver.done)
    await driver
    streamed = [p for p in publisher.posts if p.provenance.collector == "mastodon"]
    backfilled = [p for p in publisher.posts if p.provenance.collector == "mastodon-timeline"]

    # every post either instance made is published, and nothing else
    assert uids(publisher) == {uid(p) for p in fediverse.posts}
    assert len(fediverse.posts) == 5 + 1 + 3 + 2 + 2 + 2 + 4 + 2 + 3 + 1 + 3 + 3 + 2 + 1
    assert publisher.dead_letters == [] and stats.dead_lettered == 0
    # each streamed post is the event's data byte for byte; each backfilled one its page element
    for post in publisher.posts:
        server = a if urlsplit(post.provenance.source).port in _ports(a) else b
        assert bytes(post.raw) in server.served[local_id(post)]
    missed = {p.uri for p in fediverse.posts if p.tag == T1} - {
        orjson.loads(bytes(p.raw))["uri"] for p in streamed
    }
    assert len(missed) == 1 + 3 + 2 + 2 + 2 + 2 + 1  # the cut post and the posts made while down
    assert {f"mastodon:{u}" for u in missed} <= {p.uid for p in backfilled}

    # reconnects: the faulty stream's delays as the policy says, each logged with its reason
    reconnects = [d for d in running.delays if d.schedule in ("network", "http", "http-429")]
    assert all(d.reason.startswith(stream_key(a, T1)) for d in reconnects)  # no other stream
    assert [d.seconds for d in reconnects] == RECONNECTS
    assert [d.schedule for d in reconnects] == [
        "network",
        "network",
        "http",
        "http-429",
        "network",
        "network",
    ]
    reasons = [d.reason for d in reconnects]
    assert "ClientPayloadError" in reasons[0] and "ServerDisconnectedError" in reasons[1]
    assert "HTTP 503" in reasons[2] and "HTTP 429" in reasons[3]
    assert "stalled: no heartbeat for 0.3 s" in reasons[4]
    assert "closed by the server" in reasons[5]
    for delay in running.delays:
        assert f"waiting {delay.seconds:.2f} s ({delay.schedule}): {delay.reason}" in caplog.text
    assert [d.seconds for d in running.delays] == clock.sleeps

    # every outage is a gap with its bounds and what its backfill recovered
    published = sorted(publisher.latest_gaps().values(), key=lambda g: g.start)
    assert [g.source for g in published] == [
        f"{a.streaming_url}/api/v1/streaming/hashtag?tag={_q(T1)}"
    ] * 3
    assert all(g.id.startswith(f"mastodon:{stream_key(a, T1)}:") for g in published)
    (g1, g2, g3) = published
    ok = [c for c in t1 if c.ok_at is not None]  # cut, stall, close, keep
    assert near(g1.start, ok[0].last_full_write or 0) and near(g1.end or 0, ok[1].ok_at or 0)
    assert near(g2.start, ok[1].last_full_write or 0) and near(g2.end or 0, ok[2].ok_at or 0)
    assert (g2.end or g2.start) - g2.start >= timedelta(seconds=0.3)  # from the last heartbeat
    assert near(g3.start, ok[2].last_full_write or 0) and near(g3.end or 0, ok[3].ok_at or 0)
    assert g1.reason == (
        "network error (ClientPayloadError); network error (ServerDisconnectedError); "
        "HTTP 503; HTTP 429"
    )
    assert (g2.reason, g3.reason) == ("stalled", "closed by the server")
    assert [g.recovered for g in published] == [1 + 3 + 2 + 2 + 2, 2, 1]

    # backfill read the tag timeline between the last id before each gap and the first after
    firsts = [e for e in a.timeline_log if "since_id" in e["params"] and e["status"] == 200]
    bounds = [(e["params"]["since_id"], e["params"]["max_id"]) for e in firsts]
    expected = [(ok[i].streamed[-1], ok[i + 1].streamed[0], g.end) for i, g in enumerate(published)]
    assert [s for s, _ in bounds] == [s for s, _, _ in expected]
    for (_, max_id), (_, first_after, end) in zip(bounds, expected, strict=True):
        assert max_id in (first_after, snowflake_at(end or datetime.now(UTC)))
    follow = [e for e in a.timeline_log if "since_id" not in e["params"]]
    assert follow and all(set(e["params"]) == {"limit", "max_id"} for e in follow)  # Link pages
    # rate limits: a 429 waits until its reset and retries the same request; a response saying
    # nothing remains makes the next request wait until its reset
    limited = [d for d in running.delays if d.schedule == "rate-limit-reset"]
    assert [round(d.seconds) for d in limited] == [5, 3]
    first_429 = next(i for i, e in enumerate(a.timeline_log) if e["status"] == 429)
    assert a.timeline_log[first_429 + 1]["params"] == a.timeline_log[first_429]["params"]

    # an edit is a new version; a delete names the post; an unseen status its instance id
    edited = next(p for p in fediverse.posts if p.edited)
    [version] = [p for p in streamed if p.uid == uid(edited) and p.edited_at is not None]
    assert version.text.startswith("words changed after the fact")
    assert (
        version.version
        == datetime.fromtimestamp(edited.edited or 0, UTC)
        .replace(microsecond=(int((edited.edited or 0) * 1000) % 1000) * 1000)
        .isoformat()
    )
    gone = [p for p in fediverse.posts if p.uri in a.copies and a.copies[p.uri].deleted]
    assert {d.uid for d in publisher.deletions} == {
        uid(gone[0]),
        f"mastodon:{a.base_url}/api/v1/statuses/4242",
    }
    for d in publisher.deletions:
        assert orjson.loads(bytes(d.raw))["event"] == "delete" and d.provenance.sha256
    # the same post federated to both instances: one uid, one version, two local copies
    shared = fediverse.posts[-1]
    copies = [p for p in streamed if p.uid == uid(shared)]
    assert len(copies) == 2 and copies[0].version == copies[1].version
    assert {local_id(p) for p in copies} == {
        a.copies[shared.uri].local_id,
        b.copies[shared.uri].local_id,
    }

    # the instance document named A's streaming host; B, an older server, streams itself
    [record] = publisher.collections[-1:]
    assert record.parameters["streaming"] == {a.base_url: a.streaming_url, b.base_url: b.base_url}
    assert len(record.rules) == 6 and all(
        "/api/v1/streaming/hashtag?tag=" in r for r in record.rules
    )

    # the checkpoint knows each stream's newest status id, and the ids seen are remembered
    saved = checkpoint.load()
    assert saved.stream(stream_key(a, T1)).cursor == max(t1[-1].streamed, key=int)
    assert all(s.pending == [] for s in saved.streams.values())
    assert KnownStatuses(known).uid(a.base_url, a.copies[shared.uri].local_id) == uid(shared)

    # the token never shows: not in logs, output, records, the checkpoint or the memory
    assert a.unauthorized == b.unauthorized == 0
    assert TOKEN not in caplog.text
    out, err = capfd.readouterr()
    assert TOKEN not in out and TOKEN not in err
    secret = TOKEN.encode()
    records: list[Any] = [*publisher.posts, *publisher.deletions, *publisher.gaps]
    assert all(secret not in encode(r) for r in [*records, *publisher.collections])
    assert secret not in checkpoint.path.read_bytes() and secret not in known.read_bytes()


def _ports(instance: FakeMastodon) -> set[int | None]:
    return {urlsplit(instance.base_url).port, urlsplit(instance.streaming_url).port}


def _q(tag: str) -> str:
    from urllib.parse import quote

    return quote(tag, safe="")


# --- restarts ------------------------------------------------------------------------------------


async def test_a_restart_backfills_what_it_missed_and_still_resolves_deletes(
    instances: tuple[Fediverse, FakeMastodon, FakeMastodon], tmp_path: Path
) -> None:
    fediverse, a, _ = instances
    checkpoint = CheckpointFile(checkpoint_path(tmp_path, "detainees", "mastodon"))
    known = checkpoint.path.with_suffix(".statuses.sqlite")
    a.plans[T1.lower()] = deque([Plan(posts=3, then="keep"), Plan(posts=2, then="keep")])
    first = ListPublisher()
    await run_until(
        collector(first, a.base_url, checkpoint=checkpoint, known=known),
        lambda: len(first.posts) == 3,
    )
    saved = checkpoint.load().stream(stream_key(a, T1))
    seen = next(c for c in a.conns if c.tag == T1).streamed
    assert saved.cursor == seen[-1] and saved.covered_until is not None

    missed = [fediverse.create(a, T1, offline=True) for _ in range(3)]  # nobody listening
    second = ListPublisher()
    restarted = collector(second, a.base_url, checkpoint=checkpoint, known=known)
    earlier = next(p for p in fediverse.posts if a.copies[p.uri].local_id == seen[0])

    async def delete_an_earlier_post() -> None:
        await until(lambda: {uid(p) for p in missed} <= uids(second))
        await until(lambda: restarted.backfills_pending() == 0)
        fediverse.delete(earlier)  # seen by the first run only: found through the memory
        await until(lambda: len(second.deletions) == 1)

    driver = asyncio.create_task(delete_an_earlier_post())
    await run_until(restarted, driver.done)
    await driver
    gaps = {tag_of(g): g for g in second.latest_gaps().values()}
    assert set(gaps) == {T1, T2, T3}  # every stream was down while the collector was
    assert gaps[T2].recovered == gaps[T3].recovered == 0
    gap = gaps[T1]
    reconnect = [c for c in a.conns if c.tag == T1][1]
    assert gap.start == saved.covered_until and near(gap.end or gap.start, reconnect.ok_at or 0)
    assert (gap.reason, gap.recovered) == ("collector not running", 3)
    [window] = [e["params"] for e in a.timeline_log if "since_id" in e["params"]]
    assert window["since_id"] == saved.cursor
    assert [d.uid for d in second.deletions] == [uid(earlier)]


async def test_a_gap_open_at_stop_is_closed_by_the_restart(
    instances: tuple[Fediverse, FakeMastodon, FakeMastodon], tmp_path: Path
) -> None:
    _, a, _ = instances
    checkpoint = CheckpointFile(checkpoint_path(tmp_path, "detainees", "mastodon"))
    a.plans[T1.lower()] = deque([Plan(posts=2, then="close", offline=2), Plan(posts=1)])
    first = ListPublisher()
    down = collector(first, a.base_url, clock=HoldClock(), checkpoint=checkpoint)
    await run_until(down, lambda: len(down.delays) == 1)  # stopped while waiting to reconnect
    [opened] = [g for g in first.latest_gaps().values() if g.reason == "closed by the server"]
    assert opened.end is None
    assert checkpoint.load().stream(stream_key(a, T1)).outage == "closed by the server"
    second = ListPublisher()
    up = collector(second, a.base_url, checkpoint=checkpoint)
    await run_until(up, lambda: len(second.posts) >= 3 and up.backfills_pending() == 0)
    [closed] = [g for g in second.latest_gaps().values() if g.id == opened.id]
    assert closed.id == opened.id and closed.end is not None
    assert (closed.reason, closed.recovered) == ("closed by the server; collector not running", 2)


async def test_backfill_at_start_fills_history(
    instances: tuple[Fediverse, FakeMastodon, FakeMastodon],
) -> None:
    fediverse, a, _ = instances
    now = time.time()
    old = [fediverse.create(a, T3, offline=True, at=now - 86400) for _ in range(5)]
    too_old = [fediverse.create(a, T3, offline=True, at=now - 3 * 86400) for _ in range(2)]
    a.plans[T3.lower()] = deque([Plan(posts=1)])
    publisher = ListPublisher()
    running = collector(publisher, a.base_url, backfill=timedelta(days=2))
    await run_until(
        running,
        lambda: {uid(p) for p in old} <= uids(publisher) and running.backfills_pending() == 0,
    )
    assert not {uid(p) for p in too_old} & uids(publisher)
    assert publisher.gaps == []  # history is not an outage
    [first, *_] = [e for e in a.timeline_log if e["tag"] == T3]
    [streamed] = next(c for c in a.conns if c.tag == T3).streamed
    assert first["params"] == {"limit": "4", "max_id": streamed}  # bounded by the first post


async def test_refusals_stop_the_collector_with_a_clear_message(
    instances: tuple[Fediverse, FakeMastodon, FakeMastodon],
) -> None:
    _, a, b = instances
    wrong = collector(ListPublisher(), b.base_url, token="not-the-token-123456")
    with pytest.raises(StreamError, match=r"refused the token .*MASTODON_TOKEN") as info:
        await wrong.run()
    assert "not-the-token" not in str(info.value) and wrong.delays == []
    a.plans[T1.lower()] = deque([Plan("http", status=404)])
    missing = collector(ListPublisher(), a.base_url)
    with pytest.raises(StreamError, match="refused the hashtag stream"):
        await missing.run()
    assert missing.delays == []


# --- the command line ----------------------------------------------------------------------------


def test_cli_help_and_errors_never_show_the_token(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("HASHWATCH_BROKER", "HASHWATCH_CONFIG", "MASTODON_TOKEN", "KOLEKTIVA_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HASHWATCH_DATA_DIR", str(tmp_path))
    config_file = tmp_path / "campaign.toml"
    config_file.write_text(
        'name = "detainees"\nhashtags = ["WhereAreTheDetainees"]\n'
        '[mastodon]\ninstances = ["https://mastodon.example"]\n'
        '[mastodon.tokens]\n"https://kolektiva.example" = "KOLEKTIVA_TOKEN"\n'
    )
    runner = CliRunner()
    monkeypatch.setenv("MASTODON_TOKEN", TOKEN)
    shown = runner.invoke(mastodon_command, ["--help"])
    assert shown.exit_code == 0 and TOKEN not in shown.output
    for words in ("--config", "--instance", "--backfill", "MASTODON_TOKEN"):
        assert words in shown.output

    no_config = runner.invoke(mastodon_command, [])
    assert no_config.exit_code == 2 and "no campaign config" in no_config.output
    no_broker = runner.invoke(mastodon_command, ["--config", str(config_file)])
    assert no_broker.exit_code == 2 and "needs a running broker" in no_broker.output
    bad = runner.invoke(mastodon_command, ["--config", str(config_file), "--backfill", "soon"])
    assert bad.exit_code == 2 and "not a duration" in bad.output
    not_url = runner.invoke(mastodon_command, ["--config", str(config_file), "--instance", "x"])
    assert not_url.exit_code == 2 and "base URL" in not_url.output
    other = runner.invoke(
        mastodon_command,
        ["--config", str(config_file), "--instance", "https://kolektiva.example"],
    )
    assert other.exit_code == 2 and "KOLEKTIVA_TOKEN is not set" in other.output
    for result in (no_config, no_broker, bad, not_url, other):
        assert TOKEN not in result.output

    monkeypatch.delenv("MASTODON_TOKEN")
    no_token = runner.invoke(mastodon_command, ["--config", str(config_file)])
    assert no_token.exit_code == 2 and "MASTODON_TOKEN is not set" in no_token.output
