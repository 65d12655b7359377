"""Event-time windows and alert rules, on the aggregation step alone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from pipeline.alerts.rules import AlertConfig
from pipeline.core.hashtags import normalize_hashtag
from pipeline.core.topics import Topics
from pipeline.windows.aggregator import Aggregator
from pipeline.windows.partials import partials
from pipeline.windows.watermarks import Watermarks
from schemas.alert import Alert
from schemas.codec import decode
from schemas.enriched import Cluster, EnrichedPost
from schemas.metrics import MetricsWindow
from schemas.post import Hashtag, Media
from schemas.testing import enriched, post

T = Topics("m")
T0 = datetime(2026, 3, 1, tzinfo=UTC)
_ids = iter(range(10**9))


def ep(
    at: float,
    lang: str = "ar",
    repost_of: str | None = None,
    author: str = "a",
    text: str = "نص",
    video: bool = False,
    cluster: Cluster | None = None,
) -> EnrichedPost:
    """A post ``at`` seconds into the campaign, with an id of its own."""
    n = next(_ids)
    p = post(
        n,
        text,
        created_at=T0,
        at=at,
        author=author,
        handle=author,
        url=f"https://x.com/i/{n}",
        hashtags=[Hashtag(tag="Tag", normalized="tag")],
        media=[Media(key=f"v{n}", type="video")] if video else [],
        retweet_of=repost_of,
    )
    return enriched(
        p, lang=lang, confidence=1, amplification=1 if repost_of else 0, cluster=cluster
    )


def aggregator(
    cfg: AlertConfig | None = None,
    tables: dict[str, dict[str, Any]] | None = None,
    grace: float = 0.0,
) -> Aggregator:
    tables = {} if tables is None else tables
    return Aggregator(
        T, 60.0, grace, cfg or AlertConfig(), tables.setdefault("w", {}), tables.setdefault("m", {})
    )


def feed(agg: Aggregator, posts: list[EnrichedPost]) -> tuple[list[MetricsWindow], list[Alert]]:
    out = agg.add(partials(posts, 60.0, AlertConfig(keywords=("saydnaya",)).watch_terms()))
    out += agg.flush()
    return (
        [decode(o.value, MetricsWindow) for o in out if o.topic == T.metrics],
        [decode(o.value, Alert) for o in out if o.topic == T.alerts],
    )


def campaign(per_window: list[int]) -> list[EnrichedPost]:
    return [
        ep(w * 60 + i * 60 / n, author=f"u{i % 7}")
        for w, n in enumerate(per_window)
        for i in range(n)
    ]


def test_one_record_per_window_with_correct_counts() -> None:
    posts = [
        ep(1, "ar", author="a"),
        ep(2, "en", author="b", video=True),
        ep(3, "ar", repost_of="x:0", author="a"),
        ep(61, "tr", author="c"),
    ]
    windows, _ = feed(aggregator(), posts)
    assert [
        (w.window_start, w.posts, w.originals, w.reposts, w.unique_authors) for w in windows
    ] == [(T0, 3, 2, 1, 2), (T0 + timedelta(minutes=1), 1, 1, 0, 1)]
    assert windows[0].by_language == {"ar": 2, "en": 1}
    assert windows[0].by_media_type == {"video": 1}
    assert windows[0].top_hashtags[0].key == "tag" and windows[0].top_hashtags[0].count == 3
    assert windows[0].top_hashtag_pairs == []  # one tag per post: nothing co-occurs
    assert windows[0].top_amplified[0].key == "x:0" and all(w.final for w in windows)


def test_windows_close_by_event_time_and_late_posts_within_grace_count() -> None:
    agg = aggregator(grace=30)
    closed = agg.add(partials([ep(10), ep(70)], 60.0))
    assert closed == []  # 70 s is not past the first window's end + grace
    agg.add(partials([ep(20)], 60.0))  # late, but within grace: joins the open window
    out = agg.add(partials([ep(95)], 60.0))  # watermark 95 >= 60 + 30: the first window closes
    [first] = [decode(o.value, MetricsWindow) for o in out if o.topic == T.metrics]
    assert first.posts == 2
    agg.add(partials([ep(30)], 60.0))  # past the grace period: dropped and counted
    assert agg.late_dropped == 1


def test_a_surge_raises_exactly_one_alert() -> None:
    _, alerts = feed(aggregator(), campaign([20, 22, 18, 21, 19, 200, 240, 210, 20, 21]))
    assert [a.rule for a in alerts] == ["surge"]
    [surge] = alerts
    assert surge.window_start == T0 + timedelta(minutes=5) and surge.value == 200
    assert surge.id == f"surge:{surge.window_start.isoformat()}:all"
    assert surge.examples and surge.links[0].startswith("https://")


def test_no_surge_without_baseline_or_below_minimum() -> None:
    assert feed(aggregator(), campaign([50, 300]))[1] == []  # no baseline yet
    assert feed(aggregator(), campaign([2, 1, 2, 3, 2, 15]))[1] == []  # under min posts


def test_the_same_alert_is_never_published_twice_also_after_a_restart() -> None:
    tables: dict[str, dict[str, Any]] = {}
    posts = campaign([20, 22, 18, 21, 19, 200])
    _, first = feed(aggregator(tables=tables), posts)
    tables["m"].pop("closed_until")  # a replay of the same archive into a restarted worker
    tables["m"]["history"] = None
    _, again = feed(aggregator(tables=tables), posts)
    assert len(first) == 1 and again == []


def test_cluster_crossing_new_language_video_surge_and_watchlist() -> None:
    cfg = AlertConfig(cluster_size=3, keywords=("saydnaya",), surge=False)
    base = campaign([5, 5, 5])
    special = [ep(200 + i, cluster=Cluster(id="c1", size=i + 1)) for i in range(4)]
    special += [ep(210 + i, lang="ur") for i in range(3)]
    special += [ep(220 + i, video=True) for i in range(12)]
    special += [ep(240, text="Saydnaya prison")]
    agg = aggregator(cfg)
    out = agg.add(partials(base + special, 60.0, cfg.watch_terms(), cfg.cluster_size))
    out += agg.flush()
    alerts = [decode(o.value, Alert) for o in out if o.topic == T.alerts]
    assert sorted((a.rule, a.subject) for a in alerts) == [
        ("copy-paste", "c1"),
        ("media-surge", "video"),
        ("new-language", "ur"),
        ("watchlist", "saydnaya"),
    ]


def test_low_watermark_waits_for_slow_partitions_and_reposts_in_flight() -> None:
    now = [0.0]
    marks = Watermarks(idle_s=10, clock=lambda: now[0])
    marks.observe("raw/0", 500)
    marks.observe("raw/1", 100)
    assert marks.low() == 100
    marks.in_flight("x:9", 50)
    assert marks.low() == 50
    marks.arrived("x:9")
    now[0] = 11  # raw/1 and raw/0 idle: they no longer hold windows open
    marks.observe("raw/0", 600)
    assert marks.low() == 600


def test_windows_close_only_as_far_as_the_slowest_active_worker() -> None:
    now = [1000.0]
    tables: dict[str, dict[str, Any]] = {}
    agg = Aggregator(
        T,
        60.0,
        0.0,
        AlertConfig(),
        tables.setdefault("w", {}),
        tables.setdefault("m", {}),
        idle_s=30,
        clock=lambda: now[0],
    )
    t0 = T0.timestamp()
    fast = partials([ep(10), ep(200)], 60.0, watermark=t0 + 200, source="worker-a")
    slow = partials([ep(20)], 60.0, watermark=t0 + 30, source="worker-b")
    assert [o for o in agg.add(fast + slow) if o.topic == T.metrics] == []  # b is at 30 s
    now[0] += 31  # worker b went quiet: it no longer holds the windows open
    out = agg.add(partials([ep(210)], 60.0, watermark=t0 + 210, source="worker-a"))
    [first] = [decode(o.value, MetricsWindow) for o in out if o.topic == T.metrics]
    assert first.posts == 2 and agg.late_dropped == 0


def test_hashtags_used_together_are_counted_per_window() -> None:
    base = ep(5)
    tags = [
        Hashtag(tag="أين_المعتقلين", normalized="اين_المعتقلين"),
        Hashtag(tag="اين_المعتقلين", normalized="اين_المعتقلين"),
        Hashtag(tag="Saydnaya", normalized="saydnaya"),
    ]
    post = msgspec.structs.replace(base, post=msgspec.structs.replace(base.post, hashtags=tags))
    windows, _ = feed(aggregator(), [post, post])
    [pair] = windows[0].top_hashtag_pairs
    expected = " + ".join(
        sorted({normalize_hashtag("أين_المعتقلين"), normalize_hashtag("Saydnaya")})
    )
    assert pair.key == expected and pair.count == 2  # the two spellings are one tag
