"""The enrichment step on its own: validation, dedupe, reposts, batching."""

from __future__ import annotations

from typing import Any

from msgspec import Raw

from pipeline.core.records import InRecord, OutRecord
from pipeline.core.topics import Topics
from pipeline.enrich.enricher import Enricher
from pipeline.testing import ScriptedDetector
from schemas.codec import PostEvent, decode, encode
from schemas.deadletter import DeadLetter
from schemas.enriched import EnrichedPost
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


def raw(p: Post) -> InRecord:
    return InRecord(T.raw, p.uid.encode(), encode(p), "test")


def enricher(state: dict[str, Any] | None = None) -> tuple[Enricher, ScriptedDetector]:
    det = ScriptedDetector()
    return Enricher(T, det, {} if state is None else state), det


def enriched(out: list[OutRecord]) -> list[EnrichedPost]:
    return [decode(o.value, EnrichedPost) for o in out if o.topic == T.enriched]


def forward(out: list[OutRecord]) -> list[InRecord]:
    """What the reposts topic would deliver back to the enricher."""
    return [InRecord(o.topic, o.key, o.value, "test") for o in out if o.topic == T.reposts]


def test_invalid_records_are_dead_lettered_and_the_batch_goes_on() -> None:
    e, _ = enricher()
    good = post("1")
    bad_json = InRecord(T.raw, b"x:2", b"{not json", "raw/0@1")
    bad_schema = InRecord(T.raw, b"x:3", b'{"schema": "post/1", "uid": "x:3"}', "raw/0@2")
    wrong_key = InRecord(T.raw, b"x:999", encode(post("4")), "raw/0@3")
    out = e.process([bad_json, raw(good), bad_schema, wrong_key])
    letters = [decode(o.value, DeadLetter) for o in out if o.topic == T.deadletter]
    assert [d.reason for d in letters] == ["invalid-json", "schema", "key-mismatch"]
    assert letters[0].original == b"{not json" and letters[0].source == "raw/0@1"
    assert [p.post.uid for p in enriched(out)] == ["x:1"]


def test_same_uid_is_dropped_within_and_across_batches() -> None:
    e, _ = enricher()
    assert len(enriched(e.process([raw(post("1")), raw(post("1"))]))) == 1
    assert enriched(e.process([raw(post("1"))])) == []
    assert e.counters.duplicates == 2


def test_language_is_detected_once_per_batch() -> None:
    e, det = enricher()
    out = e.process([raw(post("1")), raw(post("2", "where are the detainees of Syria"))])
    assert det.batches == [2]
    assert [p.language.code for p in enriched(out)] == ["ar", "en"]


def test_media_is_tagged() -> None:
    e, _ = enricher()
    [ep] = enriched(e.process([raw(post("1", media=[VIDEO]))]))
    assert ep.media.counts == {"video": 1} and ep.media.has_video
    assert ep.media.video_duration_ms == 5000 and ep.media.best_variant_url == "high.mp4"


def test_repost_inherits_from_its_original_and_amplifies_it() -> None:
    e, det = enricher()
    e.process([raw(post("1", media=[VIDEO]))])
    out = e.process([raw(post("2", retweet_of="1")), raw(post("3", retweet_of="1"))])
    assert enriched(out) == []  # reposts travel to their original's partition first
    assert {r.key for r in forward(out)} == {b"x:1"}
    reposts = enriched(e.process(forward(out)))
    assert [r.repost_of for r in reposts] == ["x:1", "x:1"]
    assert [r.amplification for r in reposts] == [1, 2]
    assert all(r.language.inherited and r.language.code == "ar" for r in reposts)
    assert all(r.media.has_video for r in reposts)
    assert det.batches == [1]  # nothing was detected again for the reposts


def test_repost_before_its_original_counts_towards_it() -> None:
    e, _ = enricher()
    [rt] = enriched(e.process(forward(e.process([raw(post("2", "RT text", retweet_of="1"))]))))
    assert rt.repost_of == "x:1" and rt.amplification == 1
    [orig] = enriched(e.process([raw(post("1"))]))
    assert orig.amplification == 1 and orig.repost_of is None


def test_state_survives_a_new_enricher() -> None:
    """What the Faust table gives a restarted worker: the same state mapping."""
    state: dict[str, Any] = {}
    first, _ = enricher(state)
    first.process([raw(post("1"))])
    second, _ = enricher(state)
    assert enriched(second.process([raw(post("1"))])) == []


def test_an_edit_is_a_version_and_a_deletion_passes_on() -> None:
    e, _ = enricher()
    first = post("1", "the first words of this post")
    again = post("1", "the first words of this post", raw=b'{"from": "a second instance"}')
    edited = post("1", "edited words of this post")
    out = enriched(e.process([raw(first), raw(again), raw(edited), raw(edited)]))
    assert [(p.post.text, p.edit) for p in out] == [
        ("the first words of this post", False),
        ("edited words of this post", True),
    ]
    assert e.counters.duplicates == 2 and e.counters.edits == 1
    assert [p.post.uid for p in e.emitted] == ["x:1"]  # windows count the post once
    gone = PostDeletion(
        uid="x:1", platform="x", id="1", deleted_at=T0, provenance=PROVENANCE, raw=Raw(b"{}")
    )
    [passed] = e.process([InRecord(T.raw, b"x:1", encode(gone), "raw/0@9")])
    assert passed.topic == T.enriched and decode(passed.value or b"", PostEvent) == gone
