"""The X collector against a fake X API v2: rules, reconnects, gaps, backfill, the token."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import logging
import time
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from agents.checkpoint import (
    Checkpoint,
    CheckpointError,
    CheckpointFile,
    StreamCheckpoint,
    checkpoint_path,
)
from agents.live import StreamError
from agents.testing import FastClock, ListPublisher
from agents.x.connection import classify_stream_error, http_schedule
from agents.x.rules import (
    Rule,
    RuleError,
    RuleLimitError,
    RuleLimits,
    TweepyRulesApi,
    build_rules,
    limits_for,
    owner_prefix,
    pack_terms,
    rule_tag,
    sync_rules,
)
from agents.x.search import XSearchCollector
from agents.x.stream import XStreamCollector, XStreamConfig
from pipeline.collect import x_command
from pipeline.core.backoff import (
    Delay,
    ExponentialBackoff,
    LinearBackoff,
    ReconnectPolicy,
    Waiter,
)
from pipeline.core.campaign import Campaign, XSettings, load_campaign, parse_campaign
from pipeline.core.durations import parse_duration, parse_when
from schemas.codec import encode
from tests.fakes.x_api import (
    OPERATIONAL_DISCONNECT,
    TOO_MANY_CONNECTIONS,
    FakeX,
    Plan,
    load_templates,
    page_item_bytes,
)
from tests.live import run_until

TOKEN = "AAAAAAAAAAAAAAAAAAAAAHw%2Ftest%2Bbearer%3DtokenZq81xk"
FIXTURE = Path(__file__).parent / "fixtures" / "campaign.toml"
HASHTAGS = ["أين_المعتقلين", "اين_المعتقلين", "WhereAreTheDetainees"]
# 50 characters per rule splits the campaign in two rules: the two Arabic spellings, then
# the English tag with the keyword. Posts rotate over the three tags, so both rules match.
CAMPAIGN = parse_campaign(
    {
        "name": "detainees",
        "hashtags": HASHTAGS,
        "keywords": ["صيدنايا"],
        "x": {"tier": "pro", "max_rule_length": 50},
    }
)
PREFIX = owner_prefix("detainees")


@pytest.fixture
async def fake_x(x_data: Path) -> AsyncIterator[FakeX]:
    server = FakeX(TOKEN, load_templates(x_data), HASHTAGS)
    await server.start()
    yield server
    await server.close()


def config(server: FakeX, **overrides: object) -> XStreamConfig:
    values: dict[str, object] = {
        "base_url": server.base_url,
        "stall_timeout": 0.5,  # 90 s in production
        "connect_timeout": 2.0,
        "bracket_timeout": 5.0,
        "search_lag": 0.0,
        "start_margin": 0.0,
        "page_size": 10,
        "checkpoint_every": 0.0,
        "stop_grace": 1.0,
    }
    values.update(overrides)
    return XStreamConfig(**values)  # type: ignore[arg-type]


def uids(publisher: ListPublisher) -> set[str]:
    return {p.uid for p in publisher.posts}


def windows(server: FakeX) -> set[tuple[str | None, str | None]]:
    """The (since_id, until_id) of every search the server answered."""
    return {(e["params"].get("since_id"), e["params"].get("until_id")) for e in server.search_log}


def near(a: datetime | float, b: float, tolerance: float = 0.25) -> bool:
    ts = a.timestamp() if isinstance(a, datetime) else a
    return abs(ts - b) < tolerance


# --- backoff ---------------------------------------------------------------------------------


def test_network_schedule_is_linear_from_250ms_to_16s() -> None:
    backoff = LinearBackoff()
    delays = [backoff.next() for _ in range(70)]
    assert delays[:4] == [0.25, 0.5, 0.75, 1.0]
    assert delays[63] == 16.0 and set(delays[63:]) == {16.0}
    assert delays == sorted(delays)
    backoff.reset()
    assert backoff.next() == 0.25


def test_http_schedules_are_exponential() -> None:
    http = ExponentialBackoff(5, 320)
    assert [http.next() for _ in range(9)] == [5, 10, 20, 40, 80, 160, 320, 320, 320]
    limited = ReconnectPolicy().rate_limited
    assert [limited.next() for _ in range(7)] == [60, 120, 240, 480, 960, 960, 960]


def test_policy_schedules_advance_apart_and_reset_together() -> None:
    policy = ReconnectPolicy()
    seen = [policy.next(s) for s in ("network", "http", "network", "http-429", "http")]
    assert seen == [0.25, 5, 0.5, 60, 10]
    policy.reset()
    assert [policy.next(s) for s in ("network", "http", "http-429")] == [0.25, 5, 60]


async def test_waiter_logs_and_records_every_delay(caplog: pytest.LogCaptureFixture) -> None:
    clock = FastClock()
    waiter = Waiter(clock, "test")
    with caplog.at_level(logging.WARNING):
        await waiter.wait(5, "http", "stream answered HTTP 503")
    assert waiter.history == [Delay(5, "http", "stream answered HTTP 503")]
    assert clock.sleeps == [5]
    assert "waiting 5.00 s (http): stream answered HTTP 503" in caplog.text
    stop = asyncio.Event()
    stop.set()
    await waiter.wait(60, "http-429", "x", stop)  # a stop cuts the wait short
    assert clock.sleeps == [5]


def test_http_errors_and_stream_error_objects_are_handled_by_kind() -> None:
    assert http_schedule(503) == "http" and http_schedule(500) == "http"
    assert http_schedule(429) == "http-429" and http_schedule(420) == "http-429"
    assert http_schedule(401) is None and http_schedule(403) is None
    assert http_schedule(408) == "http"
    disconnect = classify_stream_error(OPERATIONAL_DISCONNECT)
    assert disconnect.schedule == "network" and disconnect.kind == "UpstreamOperationalDisconnect"
    too_many = classify_stream_error({"errors": [TOO_MANY_CONNECTIONS]})
    assert too_many.schedule == "http-429" and too_many.kind == "TooManyConnections"
    not_found = {"errors": [{"title": "Not Found Error", "detail": "Could not find tweet"}]}
    assert classify_stream_error(not_found).schedule is None  # logged; the stream reads on


# --- rules -----------------------------------------------------------------------------------


def test_terms_are_packed_into_as_few_rules_as_fit() -> None:
    terms = [f"#tag{i:02d}" for i in range(20)]  # 6 characters each
    rules = pack_terms(terms, 40)  # "(#a OR #b OR #c OR #d)" = 2 + 4*6 + 3*4 = 38
    assert all(len(r) <= 40 for r in rules)
    assert len(rules) == 5
    assert [t for r in rules for t in r.strip("()").split(" OR ")] == terms
    assert pack_terms(["#one"], 40) == ["#one"]


def test_fixture_campaign_makes_one_tagged_rule() -> None:
    campaign = load_campaign(FIXTURE)
    limits = limits_for(campaign.x)
    assert limits == RuleLimits("basic", 25, 512)
    [rule] = build_rules(campaign, limits)
    assert rule.value == (
        "(#أين_المعتقلين OR #اين_المعتقلين OR #وين_المعتقلين OR #WhereAreTheDetainees "
        'OR صيدنايا OR "Saydnaya prison")'
    )
    assert rule.tag == rule_tag("detainees", rule.value) and rule.tag.startswith(PREFIX)
    assert limits_for(XSettings(tier="pro")) == RuleLimits("pro", 1000, 1024)
    assert limits_for(XSettings(tier="enterprise")) == RuleLimits("enterprise", 25000, 2048)
    assert limits_for(XSettings(tier="pro", max_rules=3)).max_rules == 3


def test_rules_over_the_tier_limits_are_refused() -> None:
    many = parse_campaign(
        {"name": "c", "hashtags": [f"tag{i}" for i in range(30)], "x": {"tier": "basic"}}
    )
    with pytest.raises(RuleLimitError, match="needs 30 rules but the basic tier allows 25"):
        build_rules(many, RuleLimits("basic", 25, 10))
    long = parse_campaign({"name": "c", "keywords": ["x" * 600]})
    with pytest.raises(RuleLimitError, match="over the 512-character rule limit"):
        build_rules(long, RuleLimits("basic", 25, 512))


class MemoryRules:
    """An in-memory rules endpoint that records what it was asked."""

    def __init__(self, rules: Sequence[Rule] = (), invalid: str | None = None) -> None:
        self.rules = {r.id: r for r in rules if r.id}
        self.calls: list[tuple[str, bool, list[str]]] = []
        self.invalid = invalid
        self._ids = itertools.count(100)

    async def current(self) -> list[Rule]:
        return list(self.rules.values())

    async def add(self, rules: Sequence[Rule], *, dry_run: bool = False) -> list[Rule]:
        self.calls.append(("add", dry_run, [r.value for r in rules]))
        if self.invalid and any(self.invalid in r.value for r in rules):
            raise RuleError("X would not validate the campaign's rules: Invalid Rule")
        made = [Rule(r.value, r.tag, str(next(self._ids))) for r in rules]
        if not dry_run:
            self.rules.update({r.id: r for r in made if r.id})
        return made

    async def delete(self, ids: Sequence[str]) -> None:
        self.calls.append(("delete", False, list(ids)))
        for i in ids:
            del self.rules[i]


def _campaign_rules(*values: str) -> list[Rule]:
    return [Rule(v, rule_tag("detainees", v)) for v in values]


async def test_sync_adds_missing_deletes_stale_owned_and_keeps_others() -> None:
    kept = Rule("#kept", rule_tag("detainees", "#kept"), "1")
    stale = Rule("#old", rule_tag("detainees", "#old"), "2")
    other_campaign = Rule("#x", rule_tag("other", "#x"), "3")
    by_hand = Rule("from:someone", None, "4")
    api = MemoryRules([kept, stale, other_campaign, by_hand])
    result = await sync_rules(
        api, _campaign_rules("#kept", "#new"), PREFIX, RuleLimits("pro", 1000, 1024)
    )
    assert {r.value for r in api.rules.values()} == {"#kept", "#new", "#x", "from:someone"}
    assert [r.value for r in result.added] == ["#new"]
    assert result.deleted == [stale] and result.kept == [kept] and result.others == 2
    assert {r.value for r in result.rules} == {"#kept", "#new"} and all(r.id for r in result.rules)
    # validated before anything was deleted, then deleted, then added
    assert api.calls == [
        ("add", True, ["#new"]),
        ("delete", False, ["2"]),
        ("add", False, ["#new"]),
    ]
    api.calls.clear()
    await sync_rules(api, _campaign_rules("#kept", "#new"), PREFIX, RuleLimits("pro", 1000, 1024))
    assert api.calls == []  # in sync: nothing to do


async def test_sync_refuses_when_the_stream_has_no_room() -> None:
    others = [Rule(f"#o{i}", None, str(i)) for i in range(24)]
    api = MemoryRules(others)
    with pytest.raises(RuleLimitError, match=r"24 other rules .* basic tier's 25 rules"):
        await sync_rules(api, _campaign_rules("#a", "#b"), PREFIX, RuleLimits("basic", 25, 512))
    with pytest.raises(RuleLimitError, match="over the basic tier's 5"):
        await sync_rules(api, _campaign_rules("#toolong"), PREFIX, RuleLimits("basic", 25, 5))
    assert api.calls == []


async def test_a_rule_x_rejects_leaves_the_old_rules_in_place() -> None:
    stale = Rule("#old", rule_tag("detainees", "#old"), "2")
    api = MemoryRules([stale], invalid="bad")
    with pytest.raises(RuleError):
        await sync_rules(api, _campaign_rules("#bad"), PREFIX, RuleLimits("pro", 1000, 1024))
    assert api.rules == {"2": stale} and api.calls == [("add", True, ["#bad"])]


async def test_rule_sync_through_tweepy_against_the_server(fake_x: FakeX) -> None:
    fake_x.rules = {
        "7": {"id": "7", "value": "from:someone", "tag": "someone else's"},
        "8": {"id": "8", "value": "#old", "tag": rule_tag("detainees", "#old")},
    }
    api = TweepyRulesApi(TOKEN, fake_x.base_url)
    limits = limits_for(CAMPAIGN.x)
    desired = build_rules(CAMPAIGN, limits)
    assert [r.value for r in desired] == [
        "(#أين_المعتقلين OR #اين_المعتقلين)",
        "(#WhereAreTheDetainees OR صيدنايا)",
    ]
    result = await sync_rules(api, desired, PREFIX, limits)
    on_server = {(r["value"], r.get("tag")) for r in fake_x.rules.values()}
    assert on_server == {("from:someone", "someone else's")} | {(r.value, r.tag) for r in desired}
    assert [r.id for r in result.rules] == [
        r["id"] for r in fake_x.rules.values() if r["value"] != "from:someone"
    ]
    kinds = [
        ("delete" if "delete" in q["body"] else "add", q["dry_run"]) for q in fake_x.rule_requests
    ]
    assert kinds == [("add", True), ("delete", False), ("add", False)]
    # a rule X rejects (too long for the server) is reported with X's reason
    fake_x.max_rule_length = 20
    with pytest.raises(RuleError, match="Invalid Rule"):
        await sync_rules(api, [Rule("#" + "x" * 30, PREFIX + "z")], PREFIX, limits)
    assert {r["value"] for r in fake_x.rules.values()} >= {r.value for r in desired}


# --- checkpoint and CLI parsing --------------------------------------------------------------


def test_checkpoint_round_trip_and_bad_file(tmp_path: Path) -> None:
    path = checkpoint_path(tmp_path, "أين/المعتقلين ")
    assert path.parent == tmp_path / "checkpoints" and "/" not in path.name[2:]
    file = CheckpointFile(path)
    assert file.load() == Checkpoint()
    saved = Checkpoint(
        streams={"x": StreamCheckpoint(cursor="42", covered_until=datetime(2026, 1, 1, tzinfo=UTC))}
    )
    file.save(saved)
    assert file.load() == saved
    path.write_text("{not json")
    with pytest.raises(CheckpointError, match="unreadable"):
        file.load()


def test_durations_and_times() -> None:
    assert parse_duration("2d") == timedelta(days=2)
    assert parse_duration("90m") == timedelta(minutes=90)
    assert parse_duration("1.5h") == timedelta(hours=1.5)
    now = datetime(2026, 3, 1, tzinfo=UTC)
    assert parse_when("2d", now) == datetime(2026, 2, 27, tzinfo=UTC)
    assert parse_when("2026-02-01T10:00:00Z", now) == datetime(2026, 2, 1, 10, tzinfo=UTC)
    assert parse_when("2026-02-01T10:00:00", now) == datetime(2026, 2, 1, 10, tzinfo=UTC)
    with pytest.raises(ValueError):
        parse_duration("two days")
    with pytest.raises(ValueError):
        parse_when("yesterday", now)


# --- end to end ------------------------------------------------------------------------------

EVERY_FAULT = [
    Plan(posts=5, then="cut"),  # then a line cut in the middle
    Plan("reset", offline=4),  # connection reset before any response
    Plan("http", status=503, offline=4),
    Plan("http", status=503, offline=4),
    Plan("http", status=429, offline=4, body=TOO_MANY_CONNECTIONS),
    Plan(posts=5, then="stall", offline=2),  # silence: neither data nor keep-alive
    Plan(posts=5, then="disconnect", offline=2),  # an operational-disconnect object
    Plan(posts=5, then="keep"),
]
RECONNECT_SCHEDULE = [0.25, 0.5, 5, 10, 60, 0.25, 0.25]


async def test_every_fault_kind_gap_and_backfill(
    fake_x: FakeX,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)  # tweepy logs request headers at DEBUG: they must be masked
    fake_x.plans.extend(EVERY_FAULT)
    fake_x.search_faults.extend([("429", 5), ("exhaust", 3)])
    publisher = ListPublisher()
    clock = FastClock()
    checkpoint = CheckpointFile(checkpoint_path(tmp_path / "data", "detainees"))
    collector = XStreamCollector(
        publisher,
        CAMPAIGN,
        TOKEN,
        config=config(fake_x),
        checkpoint=checkpoint,
        clock=clock,
    )

    def finished() -> bool:
        everything = {f"x:{i}" for i in fake_x.ids()}
        return (
            len(fake_x.conns) == len(EVERY_FAULT)
            and len(fake_x.conns[-1].streamed) == EVERY_FAULT[-1].posts
            and everything <= uids(publisher)
            and len(collector.gaps) == 3
            and collector.backfills_pending() == 0
        )

    stats = await run_until(collector, finished)
    conns = fake_x.conns

    # every post the server made is there, once after dedup by uid, and nothing else
    assert uids(publisher) == {f"x:{i}" for i in fake_x.ids()}
    assert len(fake_x.ids()) == 5 + 1 + 16 + 5 + 2 + 5 + 2 + 5
    assert publisher.dead_letters == [] and stats.dead_lettered == 0
    streamed = [p for p in publisher.posts if p.provenance.collector == "x-stream"]
    backfilled = [p for p in publisher.posts if p.provenance.collector == "x-search"]
    assert {p.id for p in streamed} == {i for c in conns for i in c.streamed}
    assert all(bytes(p.raw) == fake_x.lines[p.id] for p in streamed)  # byte for byte
    missed = fake_x.ids() - {i for c in conns for i in c.streamed}  # cut, or made while down
    assert len(missed) == 21 and missed <= {p.id for p in backfilled}
    # each post carries the rule tags it matched: from the stream, or the rule that found it
    tags = [[r.tag or "" for r in p.rules] for p in streamed]
    assert all(t and all(tag.startswith(PREFIX) for tag in t) for t in tags)
    assert all(len(p.rules) == 1 and (p.rules[0].tag or "").startswith(PREFIX) for p in backfilled)
    assert {p.rules[0].id for p in backfilled} == set(fake_x.rules)  # both rules recovered some

    # the reconnect delays follow X's rules exactly, each logged with its reason
    reconnects = [d for d in collector.delays if d.schedule in ("network", "http", "http-429")]
    assert [d.seconds for d in reconnects] == RECONNECT_SCHEDULE
    assert [d.schedule for d in reconnects] == [
        "network",
        "network",
        "http",
        "http",
        "http-429",
        "network",
        "network",
    ]
    reasons = [d.reason for d in reconnects]
    assert "ChunkedEncodingError" in reasons[0] and "ConnectionError" in reasons[1]
    assert "HTTP 503" in reasons[2] and "HTTP 503" in reasons[3] and "HTTP 429" in reasons[4]
    assert "stalled: no data or keep-alive for 0.5 s" in reasons[5]
    assert "UpstreamOperationalDisconnect" in reasons[6]
    for delay in collector.delays:
        assert f"waiting {delay.seconds:.2f} s ({delay.schedule}): {delay.reason}" in caplog.text
    assert [d.seconds for d in collector.delays] == clock.sleeps  # nothing slept around the clock

    # every outage is a gap with the right bounds and what its backfill recovered
    published = sorted(publisher.latest_gaps().values(), key=lambda g: g.start)
    gaps = [(g.start, g.end, g.reason, g.recovered) for g in published]
    assert all(g.end is not None and g.source == collector.stream.source for g in published)
    assert len(gaps) == 3
    (s1, e1, r1, n1), (s2, e2, r2, n2), (s3, e3, r3, n3) = gaps
    assert near(s1, conns[0].last_full_write or 0) and near(e1, conns[5].ok_at or 0)
    assert near(s2, conns[5].last_full_write or 0) and near(e2, conns[6].ok_at or 0)
    assert e2 - s2 >= timedelta(seconds=0.5)  # from the last sign of life, not the detection
    assert near(s3, conns[6].last_full_write or 0) and near(e3, conns[7].ok_at or 0)
    assert r1 == (
        "network error (ChunkedEncodingError); network error (ConnectionError); "
        "HTTP 503 x2; HTTP 429"
    )
    assert r2 == "stalled" and r3 == "stream error UpstreamOperationalDisconnect"
    assert (n1, n2, n3) == (17, 2, 2)  # the cut post and the posts made while down

    # backfill searched between the last post before each gap and the first one after it
    brackets = {
        (conns[0].streamed[-1], conns[5].streamed[0]),
        (conns[5].streamed[-1], conns[6].streamed[0]),
        (conns[6].streamed[-1], conns[7].streamed[0]),
    }
    assert windows(fake_x) == brackets
    assert any("next_token" in e["params"] for e in fake_x.search_log)  # paginated
    # rate limits: a 429 waits until its reset, then the same request is retried; a response
    # saying nothing remains makes the next request wait until its reset
    limited = [d for d in collector.delays if d.schedule == "rate-limit-reset"]
    assert len(limited) == 2
    log = fake_x.search_log
    first = next(i for i, e in enumerate(log) if e["status"] == 429)
    assert log[first + 1]["params"] == log[first]["params"]
    assert abs(limited[0].seconds - (log[first]["reset"] - log[first]["at"] + 1)) < 0.5
    exhausted = next(e for e in log if e.get("exhausted"))
    assert abs(limited[1].seconds - (exhausted["reset"] - exhausted["at"] + 1)) < 0.5

    # the stream asked for every expansion and field Post v1 needs
    params = fake_x.stream_params[0]
    assert {
        "author_id",
        "referenced_tweets.id",
        "referenced_tweets.id.author_id",
        "attachments.media_keys",
    } <= set(params["expansions"].split(","))
    media = {"variants", "duration_ms", "alt_text", "preview_image_url", "url", "width", "height"}
    assert media <= set(params["media.fields"].split(","))
    assert {
        "created_at",
        "entities",
        "lang",
        "possibly_sensitive",
        "note_tweet",
        "referenced_tweets",
        "attachments",
        "author_id",
    } <= set(params["tweet.fields"].split(","))
    assert {"username", "name"} <= set(params["user.fields"].split(","))

    # the checkpoint knows the newest post seen on the stream
    saved = checkpoint.load().stream("x")
    assert saved.cursor == max(conns[7].streamed, key=int) and saved.pending == []

    # the token never shows: not in logs, output, records, the store or the checkpoint
    assert fake_x.unauthorized == 0
    assert "Bearer ***" in caplog.text  # tweepy did log the header, masked
    assert TOKEN not in caplog.text
    assert all(TOKEN not in r.getMessage() for r in caplog.records)
    out, err = capfd.readouterr()
    assert TOKEN not in out and TOKEN not in err
    secret = TOKEN.encode()
    assert all(secret not in encode(p) for p in publisher.posts)
    assert all(secret not in encode(d) for d in publisher.dead_letters)
    assert all(secret not in encode(g) for g in publisher.gaps + publisher.collections)
    assert secret not in checkpoint.path.read_bytes()


async def test_restart_backfills_what_it_missed_while_down(fake_x: FakeX, tmp_path: Path) -> None:
    checkpoint = CheckpointFile(checkpoint_path(tmp_path, "detainees"))
    first = ListPublisher()
    fake_x.plans.append(Plan(posts=3))

    def collector(publisher: ListPublisher) -> XStreamCollector:
        return XStreamCollector(
            publisher,
            CAMPAIGN,
            TOKEN,
            config=config(fake_x),
            checkpoint=checkpoint,
            clock=FastClock(),
        )

    await run_until(collector(first), lambda: len(first.posts) == 3)
    saved = checkpoint.load().stream("x")
    assert saved.cursor == fake_x.conns[0].streamed[-1] and saved.covered_until is not None

    missed = {p.id for p in fake_x.create(3, offline=True)}  # posted while nobody listened
    second = ListPublisher()
    fake_x.plans.append(Plan(posts=2))
    restarted = collector(second)
    await run_until(
        restarted,
        lambda: {f"x:{i}" for i in missed} <= uids(second) and restarted.backfills_pending() == 0,
    )
    [gap] = second.latest_gaps().values()
    assert gap.start == saved.covered_until and gap.end is not None
    assert near(gap.end, fake_x.conns[1].ok_at or 0)
    assert (gap.reason, gap.recovered) == ("collector not running", 3)
    assert windows(fake_x) == {(saved.cursor, fake_x.conns[1].streamed[0])}


class HoldClock(FastClock):
    """Records sleeps and never returns from them: only a stop ends the wait."""

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        await asyncio.Event().wait()


async def test_a_gap_open_at_stop_is_closed_by_the_restart(fake_x: FakeX, tmp_path: Path) -> None:
    checkpoint = CheckpointFile(checkpoint_path(tmp_path, "detainees"))
    fake_x.plans.append(Plan(posts=2, then="close", offline=2))
    first = ListPublisher()
    down = XStreamCollector(
        first,
        CAMPAIGN,
        TOKEN,
        config=config(fake_x),
        checkpoint=checkpoint,
        clock=HoldClock(),
    )
    await run_until(down, lambda: len(down.delays) == 1)  # stopped while waiting to reconnect
    [opened] = first.latest_gaps().values()
    assert opened.end is None  # still open
    saved = checkpoint.load().stream("x")
    assert saved.outage == "closed by the server"
    assert saved.covered_until is not None
    assert near(saved.covered_until, fake_x.conns[0].last_full_write or 0)

    fake_x.plans.append(Plan(posts=1))
    publisher = ListPublisher()
    up = XStreamCollector(
        publisher,
        CAMPAIGN,
        TOKEN,
        config=config(fake_x),
        checkpoint=checkpoint,
        clock=FastClock(),
    )
    await run_until(up, lambda: len(publisher.posts) >= 3 and up.backfills_pending() == 0)
    [closed] = publisher.latest_gaps().values()  # the same gap, now closed, not a second one
    assert closed.id == opened.id and closed.end is not None
    assert (closed.reason, closed.recovered) == ("closed by the server; collector not running", 2)


async def test_backfill_at_start_fills_history(fake_x: FakeX) -> None:
    now = time.time()
    old = {p.id for p in fake_x.create(4, at=now - 86400)}
    too_old = {p.id for p in fake_x.create(2, at=now - 3 * 86400)}
    fake_x.plans.append(Plan(posts=1))
    publisher = ListPublisher()
    collector = XStreamCollector(
        publisher,
        CAMPAIGN,
        TOKEN,
        config=config(fake_x, backfill=timedelta(days=2)),
        clock=FastClock(),
    )
    await run_until(
        collector,
        lambda: {f"x:{i}" for i in old} <= uids(publisher) and collector.backfills_pending() == 0,
    )
    assert not {f"x:{i}" for i in too_old} & uids(publisher)
    assert publisher.gaps == []  # history is not an outage
    for entry in fake_x.search_log:
        start = datetime.fromisoformat(entry["params"]["start_time"].replace("Z", "+00:00"))
        assert near(start, now - 2 * 86400, 5)
        assert entry["params"]["until_id"] == fake_x.conns[0].streamed[0]


async def test_search_only(fake_x: FakeX) -> None:
    now = time.time()
    fake_x.create(2, at=now - 3 * 86400)
    wanted = {p.id for p in fake_x.create(12, at=now - 86400)}
    fake_x.create(2, at=now)
    fake_x.search_faults.append(("429", 2))
    publisher = ListPublisher()
    collector = XSearchCollector(
        publisher,
        TOKEN,
        "(#أين_المعتقلين OR #اين_المعتقلين OR #WhereAreTheDetainees)",
        since=datetime.fromtimestamp(now - 2 * 86400, UTC),
        until=datetime.fromtimestamp(now - 3600, UTC),
        base_url=fake_x.base_url,
        clock=FastClock(),
        page_size=10,
    )
    stats = await collector.run()
    assert uids(publisher) == {f"x:{i}" for i in wanted} and stats.posts == 12
    assert [d.schedule for d in collector.waiter.history] == ["rate-limit-reset"]
    assert len(fake_x.search_log) == 3  # the 429, then two pages
    # Each post is the exact bytes of its item in the page X sent, hashed as such.
    sent = {
        orjson.loads(item)["id"]: item
        for e in fake_x.search_log
        if "body" in e
        for item in page_item_bytes(e["body"])
    }
    for post in publisher.posts:
        assert bytes(post.raw) == sent[post.id]
        assert post.provenance.sha256 == hashlib.sha256(sent[post.id]).hexdigest()
        assert post.context is not None and post.context["includes"]["users"]


async def test_refusals_stop_the_collector_with_a_clear_message(fake_x: FakeX) -> None:
    wrong = XStreamCollector(
        ListPublisher(), CAMPAIGN, "not-the-token-123", config=config(fake_x), clock=FastClock()
    )
    with pytest.raises(RuleError, match="401 Unauthorized"):
        await wrong.run()
    fake_x.plans.append(Plan("http", status=401))
    refused = XStreamCollector(
        ListPublisher(), CAMPAIGN, TOKEN, config=config(fake_x), clock=FastClock()
    )
    with pytest.raises(StreamError, match="check X_BEARER_TOKEN") as info:
        await refused.run()
    assert TOKEN not in str(info.value)
    assert refused.delays == []  # retrying would not help, so it does not


# --- the command line ------------------------------------------------------------------------


def test_cli_help_and_errors_never_show_the_token(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("HASHWATCH_BROKER", "HASHWATCH_CONFIG", "X_API_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HASHWATCH_DATA_DIR", str(tmp_path))
    runner = CliRunner()
    monkeypatch.setenv("X_BEARER_TOKEN", TOKEN)
    help_text = runner.invoke(x_command, ["--help"])
    assert help_text.exit_code == 0
    assert "X_BEARER_TOKEN" in help_text.output and TOKEN not in help_text.output
    for option in ("--config", "--backfill", "--search", "--since", "--until"):
        assert option in help_text.output

    no_config = runner.invoke(x_command, [])
    assert no_config.exit_code == 2 and "no campaign config" in no_config.output
    no_broker = runner.invoke(x_command, ["--config", str(FIXTURE)])
    assert no_broker.exit_code == 2 and "needs a running broker" in no_broker.output
    bad = runner.invoke(x_command, ["--config", str(FIXTURE), "--backfill", "soon"])
    assert bad.exit_code == 2 and "not a duration" in bad.output
    missing = runner.invoke(x_command, ["--config", str(tmp_path / "none.toml")])
    assert missing.exit_code == 1 and "not found" in missing.output
    for result in (no_config, no_broker, bad, missing):
        assert TOKEN not in result.output

    monkeypatch.delenv("X_BEARER_TOKEN")
    no_token = runner.invoke(x_command, ["--config", str(FIXTURE)])
    assert no_token.exit_code == 2 and "X_BEARER_TOKEN is not set" in no_token.output


def test_campaign_type_is_what_the_collector_takes() -> None:
    assert isinstance(CAMPAIGN, Campaign) and CAMPAIGN.x.max_rule_length == 50
