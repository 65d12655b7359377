"""Hostile input across stages: whatever is on the raw topic or in an archive becomes a valid
record or a dead letter with its reason and its original bytes, and the stream goes on."""

from __future__ import annotations

import contextlib
import copy
import gzip
import itertools
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from agents.replay import FORMATS, ReplayCollector
from agents.testing import ListPublisher
from pipeline.core.records import InRecord
from pipeline.enrich import facts
from pipeline.testing import InMemoryPipeline
from schemas.codec import EnrichedEvent, decode, encode
from schemas.deadletter import DeadLetter
from schemas.post import Author, Hashtag, Media, MediaVariant, Post, PostDeletion, Provenance
from schemas.testing import PROVENANCE, post
from tests.conftest import shared_data

dumps = msgspec.json.encode  # any int, any depth: what a hostile producer could send

# --- generated values ------------------------------------------------------------------------

TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)
JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=20,
)
ODD_TIMES = st.sampled_from(
    [
        "0000-01-01T00:00:00Z",
        "0001-01-01T00:00:00Z",
        "0001-01-01T00:00:00+14:00",
        "9999-12-31T23:59:59Z",
        "9999-12-31T23:59:59-23:59",
        "1969-12-31T23:59:59Z",
        "2026-02-30T00:00:00Z",
        "2026-01-01T00:00:00",  # no time zone
        "2026-01-01T00:00:00+25:00",
        "",
        "-1",
    ]
)
ODD = (
    JSON
    | ODD_TIMES
    | st.integers(-(2**80), 2**80)
    | st.sampled_from(["\x00", "x" * 100_000, "a b", "x:1 2", "twitter:1", "<deep>"])
)
DEEP = st.integers(60, 100_000).map(lambda n: b"[" * n + b"]" * n)


def deepen(raw: bytes, depth: bytes) -> bytes:
    return raw.replace(b'"<deep>"', depth)


# --- the enrich stage's validate -------------------------------------------------------------

REASONS = {"schema", "invalid-json", "too-deep", "key-mismatch", "implausible-time"}
# A post as the raw topic carries it, and the places a field may sit.
VIDEO = Media(
    key="7_1",
    type="video",
    duration_ms=5000,
    width=1280,
    variants=[MediaVariant(url="https://v.example/1.mp4", content_type="video/mp4", bit_rate=9)],
)
BASE = orjson.loads(
    encode(post("1", hashtags=["حرية"], url="https://x.com/a/status/1", media=[VIDEO] * 3))
)
FIELDS = [
    ("uid",),
    ("platform",),
    ("id",),
    ("author",),
    ("author", "id"),
    ("created_at",),
    ("text",),
    ("hashtags",),
    ("media",),
    ("media", 0, "duration_ms"),
    ("media", 1, "width"),
    ("media", 2, "variants", 0, "bit_rate"),
    ("references",),
    ("edited_at",),
    ("context",),
    ("provenance", "retrieved_at"),
    ("provenance",),
    ("raw",),
    ("schema",),
]


def through_the_pipeline(value: bytes, key: bytes | None = b"x:1") -> InMemoryPipeline:
    """One raw record through the enrich stage and the ledger, then the end of input; every
    batch of facts as the enrich agent encodes it, every output as its consumers decode it."""
    pipe = InMemoryPipeline()
    pipe.process([InRecord(pipe.topics.raw, 0, 0, key, value)])
    pipe.end()
    for batch in pipe.log:
        assert facts.decoder.decode(facts.encoder.encode(batch)) == batch
    for out in pipe.out:
        record_type = {pipe.topics.enriched: EnrichedEvent, pipe.topics.deadletter: DeadLetter}
        if out.topic in record_type:
            decode(out.value or b"", record_type[out.topic])
    return pipe


def outcome(pipe: InMemoryPipeline, value: bytes) -> DeadLetter | None:
    """The record's dead letter (its reason known, its bytes the original), or None when it
    became a fact."""
    letters = pipe.of(pipe.topics.deadletter, DeadLetter)
    facts = [f for batch in pipe.log for f in batch.facts]
    assert len(letters) + len(facts) == 1
    if not letters:
        return None
    [letter] = letters
    assert letter.reason in REASONS and letter.detail and letter.stage == "validate"
    assert letter.original == value and letter.source == f"{pipe.topics.raw}/0@0"
    return letter


@pytest.mark.fuzz
@given(
    st.binary(max_size=2000)
    | JSON.map(dumps)
    | JSON.map(msgspec.msgpack.encode)
    | DEEP
    | st.builds(lambda n: b'{"schema":"post/1","context":' * n, st.integers(1, 100_000))
)
def test_any_bytes_on_the_raw_topic_are_dead_lettered_with_their_bytes(value: bytes) -> None:
    pipe = through_the_pipeline(value)
    letter = outcome(pipe, value)
    assert letter is not None and letter.reason in {"invalid-json", "schema", "too-deep"}


def put(obj: dict[str, Any], path: tuple[str | int, ...], value: Any) -> None:
    """Set ``value`` at ``path``, making objects on the way; a list index that is not there
    (an earlier change replaced the list) leaves ``obj`` as it is."""
    target: Any = obj
    for name, following in itertools.pairwise(path):
        if isinstance(name, int):
            if not isinstance(target, list) or len(target) <= name:
                return
        elif not isinstance(target.get(name), dict | list):
            target[name] = {}
        target = target[name]
        if isinstance(following, str) and not isinstance(target, dict):
            return
    if isinstance(path[-1], int) and not (isinstance(target, list) and len(target) > path[-1]):
        return
    target[path[-1]] = value


@pytest.mark.fuzz
@given(st.lists(st.tuples(st.sampled_from(FIELDS), ODD), min_size=1, max_size=4), DEEP)
def test_a_damaged_post_is_a_fact_or_a_dead_letter(
    changes: list[tuple[tuple[str | int, ...], Any]], depth: bytes
) -> None:
    obj = copy.deepcopy(BASE)
    for path, value in changes:
        put(obj, path, value)
    value = deepen(dumps(obj), depth)
    pipe = through_the_pipeline(value)
    letter = outcome(pipe, value)
    if letter is None:  # it was a post after all: what comes out is valid and in UTC
        [enriched] = pipe.enriched()
        assert enriched.post.uid == obj["uid"] == "x:1"
        assert enriched.post.created_at.utcoffset() == timedelta(0)
        assert decode(encode(enriched.post), Post) == enriched.post


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        (("created_at",), "9999-12-31T23:59:59-23:59", "schema"),
        (("created_at",), "0001-01-01T00:00:00+14:00", "schema"),
        (("created_at",), "2026-01-01T00:00:00", "schema"),
        (("edited_at",), "9999-12-31T23:59:59-23:59", "schema"),
        (("provenance", "retrieved_at"), "9999-12-31T23:59:59Z", "implausible-time"),
        (("provenance", "retrieved_at"), "0001-01-01T00:00:00Z", "implausible-time"),
        (("provenance", "retrieved_at"), "2026-01-01T00:00:00", "schema"),
        (("context",), "<deep>", "too-deep"),
        (("raw",), "<deep>", "too-deep"),
        (("media", 0, "duration_ms"), 2**70, "schema"),
        (("media", 1, "width"), -1, "schema"),
        (("media", 2, "variants", 0, "bit_rate"), 2**64, "schema"),
    ],
)
def test_out_of_range_values_and_deep_nesting_are_dead_lettered(
    field: tuple[str | int, ...], value: Any, reason: str
) -> None:
    obj = copy.deepcopy(BASE)
    target = obj
    for name in field[:-1]:
        target = target[name]
    target[field[-1]] = value
    levels = 100_000
    raw = deepen(dumps(obj), b'{"a":' * levels + b"[]" + b"}" * levels)
    letter = outcome(through_the_pipeline(raw), raw)
    assert letter is not None and letter.reason == reason, letter
    assert str(field[-1]) in letter.detail or reason == "too-deep"


@pytest.mark.parametrize("created", ["9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z"])
def test_a_created_at_far_off_is_kept_and_flagged(created: str) -> None:
    obj = {**BASE, "created_at": created}
    pipe = through_the_pipeline(dumps(obj))
    [enriched] = pipe.enriched()
    assert enriched.post.created_at.isoformat().startswith(created[:4])
    assert enriched.time_flag in {"future", "before-platform"}


def test_a_deletion_in_another_time_zone_is_brought_to_utc() -> None:
    gone = PostDeletion(
        uid="x:1",
        platform="x",
        id="1",
        deleted_at=datetime(2026, 1, 1, 3, tzinfo=UTC),
        provenance=PROVENANCE,
        raw=msgspec.Raw(b"{}"),
    )
    raw = encode(gone).replace(b"2026-01-01T03:00:00Z", b"2026-01-01T06:00:00+03:00")
    pipe = through_the_pipeline(raw)
    assert outcome(pipe, raw) is None
    [fact] = [f for batch in pipe.log for f in batch.facts]
    assert decode(fact.record, PostDeletion) == gone


POSTS = st.builds(
    lambda ident, text, tags, at, lang: Post(
        uid=f"x:{ident}",
        platform="x",
        id=str(ident),
        author=Author(id="7", handle="someone"),
        created_at=datetime(2026, 1, 1, tzinfo=UTC) - timedelta(seconds=at),
        text=text,
        hashtags=[Hashtag(tag=t, normalized=t) for t in tags],
        platform_lang=lang,
        provenance=Provenance(
            collector="test", version="0", retrieved_at=datetime(2026, 1, 1, tzinfo=UTC), source="t"
        ),
        raw=msgspec.Raw(b"{}"),
    ),
    st.integers(1, 2**63),
    TEXT,
    st.lists(TEXT.filter(bool), max_size=3),
    st.integers(0, 10**9),
    st.none() | TEXT,
)


@pytest.mark.fuzz
@given(POSTS)
def test_a_valid_post_is_enriched_under_its_uid(p: Post) -> None:
    pipe = through_the_pipeline(encode(p), p.uid.encode())
    assert outcome(pipe, encode(p)) is None
    [enriched] = pipe.enriched()
    assert enriched.post.uid == p.uid and enriched.post.text == p.text
    assert [h.tag for h in enriched.post.hashtags] == [h.tag for h in p.hashtags]


# --- the archive reader (hashwatch run, collect replay) --------------------------------------


def _good_lines() -> dict[bytes, list[str]]:
    """Recorded lines of each platform, and the uids each holds."""
    data = shared_data()
    lines = [
        (data / "x-v2" / "streaming_output_with_error.jsonl").read_bytes().splitlines()[0],
        (data / "x-v2" / "two_tweets.jsonl").read_bytes().strip(),
        (data / "mastodon" / "mastodonpy-local-statuses.jsonl").read_bytes().splitlines()[0],
        (data / "bluesky" / "marshalx-getRecord-posts.jsonl").read_bytes().splitlines()[0],
    ]
    good: dict[bytes, list[str]] = {}
    for line in lines:
        obj = orjson.loads(line)
        fmt = next(f for f in FORMATS if f.accepts(obj))
        good[line] = [p.uid for p in fmt.read(obj, line, PROVENANCE) if isinstance(p, Post)]
        assert good[line]
    return good


GOOD = _good_lines() if shared_data().is_dir() else {}
LINES = st.sampled_from(sorted(GOOD)) if GOOD else st.nothing()
GARBAGE = (
    st.binary(max_size=300).map(lambda b: b.replace(b"\n", b" "))
    | JSON.map(dumps)
    | st.integers(60, 100_000).map(lambda n: b'{"data":' * n)
    | st.sampled_from([b"\xff\xfe{}", b'{"id":"1","text":"x\x00"}', b"[" * 100_000, b"{}", b"[]"])
)


@st.composite
def archives(draw: st.DrawFn) -> tuple[bytes, list[bytes]]:
    """An archive's lines, good and garbage mixed (the first good: JSON lines, not a document)."""
    lines = [draw(LINES), *draw(st.lists(LINES | GARBAGE, max_size=8))]
    ending = draw(st.sampled_from([b"\n", b"\r\n"]))
    return ending.join(lines) + draw(st.sampled_from([b"", ending])), lines


async def replayed(*contents: bytes) -> tuple[ReplayCollector, ListPublisher]:
    publisher = ListPublisher()
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i, content in enumerate(contents):
            paths.append(Path(tmp) / f"{i}.jsonl")
            paths[-1].write_bytes(content)
        replay = ReplayCollector(publisher, paths)
        await replay.run()
    return replay, publisher


ARCHIVE_REASONS = {
    "invalid-json",
    "not-a-valid-tweet",
    "not-a-valid-mastodon-status",
    "not-a-valid-bluesky-record",
}


@pytest.mark.fuzz
@given(archives(), st.booleans())
async def test_an_archive_of_good_and_garbage_lines_keeps_every_good_post(
    archive: tuple[bytes, list[bytes]], zipped: bool
) -> None:
    content, lines = archive
    replay, publisher = await replayed(gzip.compress(content) if zipped else content)
    stats = replay.stats
    assert stats.read == sum(1 for line in lines if line.strip())
    published = {p.uid for p in publisher.posts}
    assert {uid for line in lines if line in GOOD for uid in GOOD[line]} <= published
    as_read = [line.rstrip(b"\r\n") for line in lines]  # a line ends at LF, CRLF or CR LF
    for letter in publisher.dead_letters:
        assert letter.reason in ARCHIVE_REASONS and letter.detail
        assert "unexpected payload shape" not in letter.detail
        assert letter.original in as_read and letter.original not in GOOD
    for line in as_read:  # what is not JSON (as orjson reads it) is dead-lettered as such
        with contextlib.suppress(orjson.JSONDecodeError):
            orjson.loads(line)
            continue
        if line.strip():
            assert any(d.original == line for d in publisher.dead_letters)
    for p in publisher.posts:
        assert decode(encode(p), Post) == p


@pytest.mark.fuzz
@given(archives(), st.data())
async def test_a_cut_or_corrupt_gzip_keeps_what_was_read_and_the_next_file(
    archive: tuple[bytes, list[bytes]], data: st.DataObject
) -> None:
    compressed = gzip.compress(archive[0])
    cut = data.draw(st.integers(2, len(compressed) - 1))
    damaged = data.draw(
        st.sampled_from(
            [
                compressed[:cut],  # cut short
                compressed[:cut] + b"\x00" * 16 + compressed[cut + 16 :],  # corrupted
                compressed[:2] + b"\x09" + compressed[3:],  # an unknown compression method
            ]
        )
    )
    after = next(iter(GOOD))
    _, publisher = await replayed(damaged, after + b"\n")
    unreadable = [d for d in publisher.dead_letters if d.reason == "unreadable-archive"]
    assert len(unreadable) <= 1
    for letter in unreadable:
        assert letter.source.endswith("0.jsonl") and "cannot read" in letter.detail
        assert letter.original == b""
    assert set(GOOD[after]) <= {p.uid for p in publisher.posts}  # the next file was read


async def test_a_directory_among_the_files_is_a_dead_letter_and_the_rest_is_read(
    tmp_path: Path,
) -> None:
    line = next(iter(GOOD))
    (tmp_path / "good.jsonl").write_bytes(line)
    publisher = ListPublisher()
    await ReplayCollector(publisher, [tmp_path, tmp_path / "good.jsonl"]).run()
    [letter] = publisher.dead_letters
    assert letter.reason == "unreadable-archive" and "IsADirectoryError" in letter.detail
    assert {p.uid for p in publisher.posts} == set(GOOD[line])
