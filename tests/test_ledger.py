"""The ledger: each post counted once, in event-time order, the same whatever the arrival order.

Most tests run the enrich stage and the ledger in memory (``InMemoryPipeline``); the property
tests at the end shuffle how a campaign's records are batched, interleaved across partitions
and redelivered, and require the very same output every time.
"""

from __future__ import annotations

import os
import random
from datetime import timedelta

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.synth.collector import SynthConfig, SynthStream
from agents.synth.text import copy_variant, original_text
from pipeline.alerts.config import AlertConfig
from pipeline.core.hashtags import normalize_hashtag
from pipeline.core.records import InRecord, OutRecord
from pipeline.enrich.facts import FactBatch
from pipeline.testing import InMemoryPipeline, ScriptedDetector
from schemas.alert import Alert
from schemas.codec import EnrichedEvent, decode
from schemas.enriched import EnrichedPost
from schemas.metrics import MetricsWindow
from schemas.post import Hashtag, Media, Post, PostDeletion
from schemas.testing import PROVENANCE, T0, post

MINUTE = 60.0


def at(ident: int, seconds: float, text: str = "نص قصير", **kw: object) -> Post:
    return post(ident, text, at=seconds, url=f"https://x.com/i/{ident}", **kw)  # type: ignore[arg-type]


def run(posts: list[Post], **kw: object) -> InMemoryPipeline:
    p = InMemoryPipeline(**kw)  # type: ignore[arg-type]
    p.publish(posts)
    p.end()
    return p


# --- counting once ---------------------------------------------------------------------------


def test_the_same_post_counts_once_within_and_across_batches() -> None:
    p = InMemoryPipeline()
    p.publish([at(1, 0), at(1, 0)])
    p.publish([at(1, 0), at(2, 1)])
    p.end()
    assert [e.post.uid for e in p.enriched()] == ["x:1", "x:2"]
    assert p.ledger.counters.duplicates == 2


def test_an_edit_is_published_as_a_version_and_counted_nowhere() -> None:
    p = run([at(1, 0, "first words"), at(1, 0, "edited words"), at(1, 0, "edited words")])
    assert [(e.post.text, e.edit) for e in p.enriched()] == [
        ("first words", False),
        ("edited words", True),
    ]
    [window] = p.of(p.topics.metrics, MetricsWindow)
    assert window.posts == 1


def test_a_deletion_passes_on_in_event_time_order() -> None:
    gone = PostDeletion(
        uid="x:1",
        platform="x",
        id="1",
        deleted_at=T0 + timedelta(seconds=30),
        provenance=PROVENANCE,
        raw=msgspec.Raw(b"{}"),
    )
    p = run([gone, at(1, 0)])
    events = [decode(o.value or b"", EnrichedEvent) for o in p.out if o.topic == p.topics.enriched]
    assert [type(e).__name__ for e in events] == ["EnrichedPost", "PostDeletion"]


# --- reposts, clusters, media ---------------------------------------------------------------


def test_reposts_are_ranked_by_event_time_and_inherit_from_their_original() -> None:
    video = Media(key="7_1", type="video")
    # read out of order: the later repost, the original, then the earlier repost
    p = run(
        [
            at(3, 20, "RT", retweet_of="1", author="c"),
            at(1, 0, "أين المعتقلين", media=[video]),
            at(2, 10, "RT", retweet_of="1", author="b"),
        ]
    )
    by_uid = {e.post.uid: e for e in p.enriched()}
    assert by_uid["x:1"].amplification == 0
    assert (by_uid["x:2"].amplification, by_uid["x:3"].amplification) == (1, 2)
    for uid in ("x:2", "x:3"):
        language = by_uid[uid].language
        assert language.inherited and language.code == "ar" and by_uid[uid].media.has_video


def test_copies_join_one_cluster_and_sizes_grow_in_event_time() -> None:
    rng = random.Random(3)
    template = original_text(rng, "ar")
    copies = [copy_variant(template, rng) for _ in range(5)]
    other = original_text(rng, "ar")
    texts = [template, *copies, other]
    p = run([at(i, float(i), t) for i, t in reversed(list(enumerate(texts)))])
    results = sorted(p.enriched(), key=lambda e: e.post.created_at)
    ids = [r.cluster.id if r.cluster else None for r in results]
    assert len(set(ids[:6])) == 1 and ids[6] != ids[0]
    assert [r.cluster.size for r in results[:6] if r.cluster] == [1, 2, 3, 4, 5, 6]


def test_a_cluster_quiet_for_longer_than_the_window_starts_afresh() -> None:
    rng = random.Random(4)
    text = original_text(rng, "en")
    p = run([at(1, 0, text), at(2, 30, text), at(3, 200, text)], state_window_s=100.0)
    assert [e.cluster.size for e in p.enriched() if e.cluster] == [1, 2, 1]


def test_short_texts_are_not_clustered() -> None:
    p = run([at(1, 0, "#أين_المعتقلين"), at(2, 1, "#أين_المعتقلين")])
    assert [e.cluster for e in p.enriched()] == [None, None]


def test_media_reuse_counts_earlier_posts_with_the_same_media() -> None:
    photo = Media(key="3_9", type="photo", url="https://pbs.example/a.jpg")
    same_url = Media(key="3_10", type="photo", url="https://pbs.example/a.jpg")
    p = run(
        [
            at(3, 3, "three", media=[same_url]),
            at(1, 1, "one", media=[photo]),
            at(2, 2, "two", media=[photo]),
            at(4, 4, "four"),
        ]
    )
    assert [e.media.reused for e in sorted(p.enriched(), key=lambda e: e.post.id)] == [0, 1, 2, 0]


# --- windows and alerts ---------------------------------------------------------------------


def test_one_record_per_window_with_correct_counts() -> None:
    video = [Media(key="7_9", type="video")]
    posts = [
        at(1, 1, author="a", hashtags=["Tag"]),
        at(2, 2, "where are they", author="b", media=video, hashtags=["Tag"]),
        at(3, 3, "RT", retweet_of="1", author="a", hashtags=["Tag"]),
        at(4, 61, "yerde", author="c"),
    ]
    p = run(posts)
    windows = p.of(p.topics.metrics, MetricsWindow)
    assert [
        (w.window_start, w.posts, w.originals, w.reposts, w.unique_authors) for w in windows
    ] == [(T0, 3, 2, 1, 2), (T0 + timedelta(minutes=1), 1, 1, 0, 1)]
    assert windows[0].by_language == {"ar": 2, "en": 1}
    assert windows[0].by_media_type == {"video": 1}
    assert windows[0].top_hashtags[0].key == "tag" and windows[0].top_hashtags[0].count == 3
    assert windows[0].top_amplified[0].key == "x:1" and all(w.final for w in windows)


def test_windows_close_by_event_time_and_later_posts_are_counted_as_dropped() -> None:
    p = InMemoryPipeline(grace_s=30)
    p.publish([at(1, 10), at(2, 70)])
    assert p.of(p.topics.metrics, MetricsWindow) == []  # 70 s is not past 60 + 30
    p.publish([at(3, 20)])  # late but within grace: joins the open window
    p.publish([at(4, 95)])  # the watermark passes the first window's end and grace
    [first] = p.of(p.topics.metrics, MetricsWindow)
    assert first.posts == 2
    p.publish([at(5, 30)])  # past the grace period: dropped, and counted
    assert p.ledger.windows.late_dropped == 1
    assert p.ledger.counters.out_of_order == 1  # post 5 came after event time had passed it


def test_when_every_partition_is_quiet_the_last_windows_close_as_the_log_goes_on() -> None:
    p = InMemoryPipeline(partitions=2, grace_s=30)
    everyone = [0, 1]
    p.sent_at = 1000.0
    p.publish([at(1, 10), at(2, 20)])
    p.feed(FactBatch(worker="w", sent_at=1001.0, quiet=everyone, empty=everyone))
    assert p.of(p.topics.metrics, MetricsWindow) == []  # nothing on its way, but 20 + 30 > 60
    p.feed(FactBatch(worker="w", sent_at=1001.0 + 75, quiet=everyone, empty=everyone))
    [window] = p.of(p.topics.metrics, MetricsWindow)
    assert window.posts == 2


def campaign(per_window: list[int]) -> list[Post]:
    n = iter(range(10**6))
    return [
        at(next(n), w * MINUTE + i * (MINUTE / (count + 1)), author=f"u{i}")
        for w, count in enumerate(per_window)
        for i in range(count)
    ]


def test_a_surge_raises_exactly_one_alert() -> None:
    p = run(campaign([20, 22, 18, 21, 19, 200, 240, 210, 20, 21]))
    alerts = p.of(p.topics.alerts, Alert)
    assert [a.rule for a in alerts] == ["surge"]
    [surge] = alerts
    assert surge.window_start == T0 + timedelta(minutes=5) and surge.value == 200
    assert surge.id == f"surge:{surge.window_start.isoformat()}:all"
    assert surge.raised_at == surge.window_end + timedelta(seconds=120)  # event time, not clock
    assert surge.examples and surge.links[0].startswith("https://")


def test_no_surge_without_baseline_or_below_minimum() -> None:
    assert run(campaign([50, 300])).of("mem.alerts", Alert) == []
    assert run(campaign([2, 1, 2, 3, 2, 15])).of("mem.alerts", Alert) == []


def test_a_restarted_ledger_publishes_nothing_twice() -> None:
    p = InMemoryPipeline()
    posts = campaign([20, 22, 18, 21, 19, 200, 20])
    p.publish(posts[:150])
    p.publish(posts[150:])
    p.end()
    rebuilt = p.rebuilt()  # read the whole log again, as a restarted ledger does
    assert rebuilt.add(FactBatch(worker="again", end=True)) == []
    assert len(p.of(p.topics.alerts, Alert)) == 1


def test_cluster_crossing_new_language_video_surge_and_watchlist() -> None:
    cfg = AlertConfig(cluster_size=3, keywords=("saydnaya",), surge=False)
    rng = random.Random(5)
    template = original_text(rng, "ar")
    special = [at(1000 + i, 200 + i, copy_variant(template, rng)) for i in range(4)]
    special += [at(2000 + i, 210 + i, "اردو متن", author=f"v{i}") for i in range(3)]
    special += [at(3000 + i, 220 + i, media=[Media(key=f"v{i}", type="video")]) for i in range(12)]
    special += [at(4000, 240, "Saydnaya prison")]
    urdu = ScriptedDetector().decide
    detector = ScriptedDetector(lambda t: "ur" if t == "اردو متن" else urdu(t))
    p = run(campaign([5, 5, 5]) + special, alerts=cfg, detector=detector)
    assert sorted((a.rule, a.subject) for a in p.of(p.topics.alerts, Alert)) == [
        (
            "copy-paste",
            next(e.cluster.id for e in p.enriched() if e.cluster and e.post.id == "1000"),
        ),
        ("media-surge", "video"),
        ("new-language", "ur"),
        ("watchlist", "saydnaya"),
    ]


def test_hashtags_used_together_are_counted_per_window() -> None:
    tags = [
        Hashtag(tag="أين_المعتقلين", normalized="اين_المعتقلين"),
        Hashtag(tag="اين_المعتقلين", normalized="اين_المعتقلين"),
        Hashtag(tag="Saydnaya", normalized="saydnaya"),
    ]
    p = run([at(1, 5, hashtags=tags), at(2, 6, hashtags=tags)])
    [window] = p.of(p.topics.metrics, MetricsWindow)
    [pair] = window.top_hashtag_pairs
    expected = " + ".join(
        sorted({normalize_hashtag("أين_المعتقلين"), normalize_hashtag("Saydnaya")})
    )
    assert pair.key == expected and pair.count == 2  # the two spellings are one tag


# --- the same answer whatever the arrival order ------------------------------------------------


def synthetic(count: int, seed: int = 5) -> list[Post]:
    stream = SynthStream(SynthConfig(seed=seed, rate=50.0))
    return [stream.next_post() for _ in range(count)]


def comparable(p: InMemoryPipeline) -> tuple[list[bytes], list[bytes], list[bytes]]:
    """Everything published, in a canonical order, ``processed_at`` aside."""

    def scrub(o: OutRecord) -> bytes:
        event = decode(o.value or b"", EnrichedEvent)
        if isinstance(event, EnrichedPost):
            event = msgspec.structs.replace(event, processed_at=T0)
        return msgspec.json.encode(event)

    enriched = sorted(scrub(o) for o in p.out if o.topic == p.topics.enriched)
    metrics = sorted(o.value or b"" for o in p.out if o.topic == p.topics.metrics)
    alerts = sorted(o.value or b"" for o in p.out if o.topic == p.topics.alerts)
    return enriched, metrics, alerts


def shuffled_run(posts: list[Post], seed: int, partitions: int) -> InMemoryPipeline:
    """Records read in random batches from random partitions (each in its own order), some
    batches delivered twice, as several workers and a few crashes would deliver them."""
    rng = random.Random(seed)
    p = InMemoryPipeline(partitions=partitions)
    records = p.records(posts)
    queues: dict[int, list[InRecord]] = {}
    for r in records:
        queues.setdefault(r.partition, []).append(r)
    read: dict[int, float] = {}
    while any(queues.values()):
        partition = rng.choice([k for k, q in queues.items() if q])
        take = rng.randint(1, 60)
        chunk, queues[partition] = queues[partition][:take], queues[partition][take:]
        result = p.enricher.process(chunk)
        for part, ts in result.marks.items():
            read[part] = max(ts, read.get(part, ts))
        done = [k for k, q in queues.items() if not q]
        marks = {k: v for k, v in read.items()}
        batch = FactBatch(worker="w", marks=marks, quiet=done, empty=[], facts=result.facts)
        p.feed(batch, result.out)
        if rng.random() < 0.2:  # redelivered after a crash: the same facts again
            p.feed(FactBatch(worker="w2", facts=result.facts))
    p.end()
    return p


POSTS = synthetic(600)
REFERENCE = comparable(run(POSTS, partitions=1))


@pytest.mark.fuzz
@settings(max_examples=400 if os.environ.get("HYPOTHESIS_PROFILE") == "fuzz" else 15)
@given(seed=st.integers(0, 10**9), partitions=st.sampled_from([1, 2, 3, 4]))
def test_any_batching_interleaving_or_redelivery_gives_the_same_answer(
    seed: int, partitions: int
) -> None:
    assert comparable(shuffled_run(POSTS, seed, partitions)) == REFERENCE
