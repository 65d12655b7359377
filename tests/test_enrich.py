"""The enrich stage on its own: validation, language per batch, media, signatures, event time."""

from __future__ import annotations

from datetime import timedelta

from msgspec import Raw

from pipeline.core.records import InRecord
from pipeline.core.topics import Topics
from pipeline.enrich.enricher import Enricher
from pipeline.enrich.facts import DELETION, POST
from pipeline.testing import ScriptedDetector
from schemas.codec import decode, encode
from schemas.deadletter import DeadLetter
from schemas.post import Media, MediaVariant, Post, PostDeletion
from schemas.testing import PROVENANCE, T0, post

T = Topics("t")
VIDEO = Media(
    key="7_1",
    type="video",
    duration_ms=5000,
    variants=[
        MediaVariant(url="low.mp4", content_type="video/mp4", bit_rate=1),
        MediaVariant(url="high.mp4", content_type="video/mp4", bit_rate=9),
    ],
)
COPY = "Where are the detainees of Saydnaya? Their families have waited for years"


def raw(p: Post | PostDeletion, partition: int = 0, offset: int = 0) -> InRecord:
    return InRecord(T.raw, partition, offset, p.uid.encode(), encode(p))


def enricher() -> tuple[Enricher, ScriptedDetector]:
    det = ScriptedDetector()
    return Enricher(T, det, watch=("saydnaya",)), det


def test_invalid_records_are_dead_lettered_and_the_batch_goes_on() -> None:
    e, _ = enricher()
    bad_json = InRecord(T.raw, 0, 1, b"x:2", b"{not json")
    bad_schema = InRecord(T.raw, 0, 2, b"x:3", b'{"schema": "post/1", "uid": "x:3"}')
    wrong_key = InRecord(T.raw, 0, 3, b"x:999", encode(post("4")))
    result = e.process([bad_json, raw(post("1")), bad_schema, wrong_key])
    letters = [decode(o.value or b"", DeadLetter) for o in result.out]
    assert [d.reason for d in letters] == ["invalid-json", "schema", "key-mismatch"]
    assert letters[0].original == b"{not json" and letters[0].source == "t.posts.raw/0@1"
    assert [f.uid for f in result.facts] == ["x:1"]


def test_language_is_detected_once_per_batch_and_each_text_once() -> None:
    e, det = enricher()
    first = e.process([raw(post("1")), raw(post("2", "where are the detainees of Syria"))])
    again = e.process([raw(post("3")), raw(post("4", "where are the detainees of Syria"))])
    assert det.batches == [2]  # the second batch's texts were known
    assert [f.lang for f in first.facts + again.facts] == ["ar", "en", "ar", "en"]


def test_a_fact_carries_what_the_ledger_counts() -> None:
    e, _ = enricher()
    p = post("1", COPY, media=[VIDEO], hashtags=["Syria", "Detainees"], handle="someone")
    [fact] = e.process([raw(p, partition=2, offset=7)]).facts
    assert (fact.kind, fact.uid, fact.partition, fact.offset) == (POST, "x:1", 2, 7)
    assert fact.record == encode(p)  # the post as published, not encoded again
    assert fact.version == p.version_key() and fact.event_ts == T0.timestamp()
    assert fact.media is not None and fact.media.has_video
    assert fact.media.best_variant_url == "high.mp4" and fact.media_keys == ["key:7_1"]
    assert fact.hashtags == ["detainees", "syria"] and fact.pairs == ["detainees + syria"]
    assert fact.watch == ["saydnaya"]
    assert fact.cluster_key is not None and fact.tokens and fact.bands


def test_reposts_are_not_signed_for_copy_paste_clusters() -> None:
    e, _ = enricher()
    [fact] = e.process([raw(post("2", COPY, retweet_of="1"))]).facts
    assert fact.repost_of == "x:1" and fact.cluster_key is None and fact.tokens == b""


def test_unbelievable_dates_are_flagged_and_placed_by_retrieval_time() -> None:
    e, _ = enricher()
    retrieved = PROVENANCE.retrieved_at
    future = post("1", created_at=retrieved + timedelta(days=3000))
    ancient = post("2", created_at=retrieved.replace(year=1990))
    fine = post("3", created_at=retrieved - timedelta(minutes=5))
    facts = e.process([raw(future), raw(ancient), raw(fine)]).facts
    assert [(f.time_flag, f.event_ts) for f in facts] == [
        ("future", retrieved.timestamp()),
        ("before-platform", retrieved.timestamp()),
        (None, (retrieved - timedelta(minutes=5)).timestamp()),
    ]


def test_a_deletion_is_a_fact_of_its_own() -> None:
    e, _ = enricher()
    gone = PostDeletion(
        uid="x:1", platform="x", id="1", deleted_at=T0, provenance=PROVENANCE, raw=Raw(b"{}")
    )
    result = e.process([raw(gone, partition=1, offset=3)])
    [fact] = result.facts
    assert (
        fact.kind == DELETION and fact.record == encode(gone) and result.marks == {1: fact.event_ts}
    )
