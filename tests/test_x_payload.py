"""X API v2 payloads (real recordings) to Post v1; generated tweets, damaged lines and any JSON
through the stream and archives, which must never escape as an exception."""

from __future__ import annotations

import contextlib
import hashlib
import html
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from agents.base import CollectorStats
from agents.payloads import MappingError, NotAPost
from agents.replay import ReplayCollector
from agents.testing import ListPublisher
from agents.x.connection import StreamProblem, classify_stream_error
from agents.x.payload import Expansions, posts_from_object, to_post
from agents.x.rules import Rule
from agents.x.stream import XStreamCollector
from pipeline.core.campaign import parse_campaign
from pipeline.core.hashtags import normalize_hashtag
from pipeline.exports.twarc import page_of
from schemas.codec import PostEvent, decode, encode
from schemas.post import Author, Post, Provenance
from tests.conftest import shared_data

PROV = Provenance(
    collector="test", version="0", retrieved_at=datetime(2026, 1, 1, tzinfo=UTC), source="test"
)


def _posts(path: Path) -> list[Post]:
    out: list[Post] = []
    for line in path.read_bytes().splitlines():
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        with contextlib.suppress(NotAPost):
            out += [p for p in posts_from_object(obj, line, PROV) if isinstance(p, Post)]
    return out


def test_stream_line_keeps_raw_bytes_and_rules(x_data: Path) -> None:
    line = (x_data / "streaming_output_with_error.jsonl").read_bytes().splitlines()[0]
    [post] = list(posts_from_object(orjson.loads(line), line, PROV))
    assert isinstance(post, Post)
    assert post.uid == "x:1377650090978992134"
    assert bytes(post.raw) == line
    assert [r.id for r in post.rules] == ["1377649934414049282"]
    assert post.created_at == datetime(2021, 4, 1, 15, 52, 31, tzinfo=UTC)
    assert post.reference("quote") == "x:1377640162566496258"
    assert [m.type for m in post.media] == ["photo"]


def test_retweet_carries_the_originals_full_text(x_data: Path) -> None:
    page = orjson.loads((x_data / "media_policy_violation_off.jsonl").read_bytes())
    includes = {t["id"]: t for t in page["includes"]["tweets"]}
    posts = {p.id: p for p in _posts(x_data / "media_policy_violation_off.jsonl")}
    checked = 0
    for tweet in page["data"]:
        rt = [r for r in tweet.get("referenced_tweets", []) if r["type"] == "retweeted"]
        if rt and rt[0]["id"] in includes:
            post = posts[tweet["id"]]
            assert post.reference("retweet") == f"x:{rt[0]['id']}"
            assert post.text == html.unescape(includes[rt[0]["id"]]["text"])
            assert not post.text.endswith("…")
            checked += 1
    assert checked > 10


def test_a_page_items_raw_is_its_exact_bytes_and_context_says_how_to_read_it(
    x_data: Path,
) -> None:
    [post] = _posts(x_data / "media_tweet.jsonl")
    page = (x_data / "media_tweet.jsonl").read_bytes().rstrip(b"\n")
    # The item as it stands in the page: from '[' after "data": to its matching brace.
    start = page.index(b"{", page.index(b'"data": ['))
    item = page[start : start + len(bytes(post.raw))]
    assert bytes(post.raw) == item and orjson.loads(item)["id"] == post.id
    assert post.provenance.sha256 == hashlib.sha256(item).hexdigest()
    assert post.context is not None
    assert post.context["__twarc"]["url"].startswith("https://api.twitter.com/2/tweets")
    assert post.context["includes"]["media"][0]["media_key"] == "7_1558552952549277696"
    video = post.media[0]
    assert video.type == "video" and video.duration_ms == 71292 and len(video.variants) == 4

    # Put back together as a one-item page, it reads as the same post with the same bytes.
    line = page_of(bytes(post.raw), post.context)
    [again] = list(posts_from_object(orjson.loads(line), line, PROV))
    assert isinstance(again, Post)
    assert bytes(again.raw) == item and again.context == post.context
    assert (again.author, again.media, again.hashtags) == (post.author, post.media, post.hashtags)


def test_page_items_are_cut_exactly_whatever_the_spacing() -> None:
    items = [
        b'{ "id" : "7", "text": "a \\"quoted\\" ]} #tag", "author_id": "1",\n'
        b'  "created_at": "2024-01-01T00:00:00.000Z" }',
        b'{"id":"8","text":"\\u0623\\u064a\\u0646","author_id":"1",'
        b'"created_at":"2024-01-01T00:00:01.000Z"}',
    ]
    body = b'{"data" :[\n  ' + items[0] + b" ,\t" + items[1] + b' ], "meta": {"result_count": 2}}'
    posts = list(posts_from_object(orjson.loads(body), body, PROV))
    assert [bytes(p.raw) for p in posts if isinstance(p, Post)] == items
    assert [p.provenance.sha256 for p in posts if isinstance(p, Post)] == [
        hashlib.sha256(i).hexdigest() for i in items
    ]
    assert [p.text for p in posts if isinstance(p, Post)] == ['a "quoted" ]} #tag', "أين"]


def test_flattened_and_page_forms_give_the_same_posts(x_data: Path) -> None:
    flat = {p.uid: p for p in _posts(x_data / "flat.jsonl")}
    paged = {p.uid: p for p in _posts(x_data / "noflat.jsonl")}
    assert flat.keys() == paged.keys() and len(flat) == 100
    for uid, p in paged.items():
        f = flat[uid]
        assert (f.text, f.author, f.references, f.created_at) == (
            p.text,
            p.author,
            p.references,
            p.created_at,
        )
        assert [(m.key, m.type) for m in f.media] == [(m.key, m.type) for m in p.media]


@pytest.mark.parametrize("name", ["users.jsonl", "lists.jsonl", "counts.jsonl"])
def test_non_tweet_responses_are_not_posts(x_data: Path, name: str) -> None:
    line = (x_data / name).read_bytes().splitlines()[0]
    with pytest.raises(NotAPost):
        list(posts_from_object(orjson.loads(line), line, PROV))


def test_long_post_text_comes_from_note_tweet() -> None:
    tweet = {
        "id": "1",
        "text": "short…",
        "author_id": "2",
        "created_at": "2024-01-01T00:00:00Z",
        "note_tweet": {
            "text": "the whole long text",
            "entities": {"hashtags": [{"tag": "أين_المعتقلين"}]},
        },
    }
    post = to_post(tweet, Expansions(), PROV, b"{}")
    assert post.text == "the whole long text"
    assert post.hashtags[0].tag == "أين_المعتقلين"


@pytest.mark.parametrize(
    "tweet",
    [
        {"id": "abc", "text": "x", "author_id": "1", "created_at": "2024-01-01T00:00:00Z"},
        {"id": "1", "text": "x", "created_at": "2024-01-01T00:00:00Z"},
        {"id": "1", "text": "x", "author_id": "1", "created_at": "yesterday"},
    ],
)
def test_unusable_tweets_raise_mapping_errors(tweet: dict[str, str]) -> None:
    with pytest.raises(MappingError):
        to_post(tweet, Expansions(), PROV, b"{}")


def test_text_is_unescaped_but_raw_is_kept_as_sent() -> None:
    line = (
        b'{"data": {"id": "5", "text": "Free them &amp; tell us &lt;where&gt;", "author_id": "1",'
        b' "created_at": "2024-01-01T00:00:00.000Z"}}'
    )
    [post] = list(posts_from_object(orjson.loads(line), line, PROV))
    assert isinstance(post, Post)
    assert post.text == "Free them & tell us <where>"
    assert bytes(post.raw) == line


# --- property-based: generated tweets, damaged lines, any JSON --------------------------------

dumps = msgspec.json.encode  # any int, any depth: what a hostile server could send
WORDS = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)
IDS = st.integers(1, 2**63 - 1).map(str)
HANDLES = st.from_regex(r"[A-Za-z0-9_]{1,15}", fullmatch=True)
TAGS = st.sampled_from(["أين_المعتقلين", "WhereAreTheDetainees", "TutuklularNerede", "x"])
TIMES = st.datetimes(datetime(2006, 3, 21), datetime(2100, 1, 1), timezones=st.just(UTC))
MEDIA = {"3": "photo", "7": "video", "16": "animated_gif"}
REFERENCES = {"retweeted": "retweet", "quoted": "quote", "replied_to": "reply"}


def schema_valid(post: Post) -> None:
    """What the enrich stage will accept: the record decodes as Post v1."""
    assert decode(encode(post), PostEvent) == post


@st.composite
def tweets(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    """A tweet as X sends it, and the ``includes`` it refers to."""
    author, handle = draw(IDS), draw(HANDLES)
    at = draw(TIMES).replace(microsecond=draw(st.integers(0, 999)) * 1000)
    keys = draw(
        st.lists(st.sampled_from(sorted(MEDIA)).flatmap(lambda p: IDS.map(f"{p}_".__add__)),
                 max_size=3, unique=True)
    )  # fmt: skip
    refs = draw(st.lists(st.tuples(st.sampled_from(sorted(REFERENCES)), IDS), max_size=3,
                         unique_by=lambda r: r[0]))  # fmt: skip
    tweet: dict[str, Any] = {
        "id": draw(IDS),
        "text": draw(WORDS),
        "author_id": author,
        "created_at": at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "lang": draw(st.sampled_from(["ar", "en", "tr", "und"])),
        "possibly_sensitive": draw(st.booleans()),
        "entities": {
            "hashtags": [{"start": 0, "end": 1, "tag": t} for t in draw(st.lists(TAGS))],
            "mentions": [{"username": h, "id": "1"} for h in draw(st.lists(HANDLES))],
        },
        "attachments": {"media_keys": keys},
        "referenced_tweets": [{"type": t, "id": i} for t, i in refs],
    }
    media = [
        {"media_key": k, "type": MEDIA[k.split("_")[0]], "width": draw(st.integers(1, 4096))}
        for k in keys
    ]
    user = {"id": author, "username": handle, "name": draw(WORDS)}
    return tweet, {"users": [user], "media": media}


def expect(post: Post, tweet: dict[str, Any], includes: dict[str, Any]) -> None:
    """The post says what the tweet says."""
    user = includes["users"][0]
    assert post.uid == f"x:{tweet['id']}" and post.id == tweet["id"] and post.platform == "x"
    assert post.author == Author(id=user["id"], handle=user["username"], name=user["name"])
    assert post.url == f"https://x.com/{user['username']}/status/{tweet['id']}"
    assert post.created_at == datetime.fromisoformat(tweet["created_at"])
    assert post.text == html.unescape(tweet["text"])
    entities = tweet["entities"]
    assert [h.tag for h in post.hashtags] == [h["tag"] for h in entities["hashtags"]]
    assert all(h.normalized == normalize_hashtag(h.tag) for h in post.hashtags)
    assert post.mentions == [m["username"] for m in entities["mentions"]]
    assert [(m.key, m.type, m.width) for m in post.media] == [
        (m["media_key"], m["type"], m["width"]) for m in includes["media"]
    ]
    assert [(r.type, r.uid) for r in post.references] == [
        (REFERENCES[r["type"]], f"x:{r['id']}") for r in tweet["referenced_tweets"]
    ]
    assert post.platform_lang == tweet["lang"]
    assert post.possibly_sensitive is tweet["possibly_sensitive"]
    assert post.provenance.sha256 == hashlib.sha256(bytes(post.raw)).hexdigest()
    schema_valid(post)


@pytest.mark.fuzz
@given(tweets(), IDS, HANDLES)
def test_a_generated_tweet_maps_to_its_post_in_every_shape(
    generated: tuple[dict[str, Any], dict[str, Any]], rule_id: str, rule_tag: str
) -> None:
    tweet, includes = generated
    rules = [{"id": rule_id, "tag": rule_tag}]
    line = orjson.dumps({"data": tweet, "includes": includes, "matching_rules": rules})
    [post] = posts_from_object(orjson.loads(line), line, PROV)
    assert isinstance(post, Post)
    expect(post, tweet, includes)
    assert bytes(post.raw) == line and [(r.id, r.tag) for r in post.rules] == [(rule_id, rule_tag)]

    page = orjson.dumps({"data": [tweet], "includes": includes, "meta": {"result_count": 1}})
    [item] = posts_from_object(orjson.loads(page), page, PROV)
    assert isinstance(item, Post)
    expect(item, tweet, includes)
    assert orjson.loads(bytes(item.raw)) == tweet and bytes(item.raw) in page

    media = {"media_keys": tweet["attachments"]["media_keys"], "media": includes["media"]}
    flat = orjson.dumps({**tweet, "author": includes["users"][0], "attachments": media})
    [flattened] = posts_from_object(orjson.loads(flat), flat, PROV)
    assert isinstance(flattened, Post)
    expect(flattened, tweet, includes)
    assert bytes(flattened.raw) == flat


def _recorded_lines() -> list[bytes]:
    data = shared_data() / "x-v2"
    if not data.is_dir():
        return []
    small = ["streaming_output_with_error.jsonl", "two_tweets.jsonl", "media_tweet.jsonl",
             "cotweet.jsonl", "quoted_edit.jsonl", "edited.jsonl", "geo_tweets.jsonl"]  # fmt: skip
    lines = [line for name in small for line in (data / name).read_bytes().splitlines()]
    lines += (data / "flat.jsonl").read_bytes().splitlines()[:10]
    return [line for line in lines if line.strip() and _parses(line)]


def _parses(line: bytes) -> bool:
    with contextlib.suppress(orjson.JSONDecodeError):
        return isinstance(orjson.loads(line), dict)
    return False  # the recordings hold a cut line, as a stream may: damaged() cuts its own


RECORDED = _recorded_lines()
JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | WORDS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(WORDS, inner, max_size=4),
    max_leaves=20,
)
ODD = JSON | st.sampled_from(
    [
        "0000-01-01T00:00:00Z",
        "0001-01-01T00:00:00+14:00",
        "9999-12-31T23:59:59Z",
        "9999-12-31T23:59:59-23:59",
        "-1",
        "١٢٣",  # digits, but not ASCII ones
        "1" * 40,
        "1 2",
        "",
        "\x00",
        "&#0;&#xD800;&amp;",
        "x" * 100_000,
    ]
)


@st.composite
def damaged(draw: st.DrawFn) -> bytes:
    """A recorded line damaged: a subtree replaced by anything, the bytes cut, bytes that are
    not UTF-8, NUL, a huge text, deep nesting, times and ids out of range."""
    if not RECORDED:
        pytest.fail("recorded X API v2 payloads not found (set HASHWATCH_SHARED_DATA)")
    obj = orjson.loads(draw(st.sampled_from(RECORDED)))
    how = draw(st.sampled_from(["subtree", "subtree", "cut", "bytes", "nul", "huge", "deep"]))
    tweet = obj.get("data", obj)
    tweet = tweet[0] if isinstance(tweet, list) and tweet else tweet
    if how in ("subtree", "deep"):
        target: Any = obj
        key: Any = draw(st.sampled_from(sorted(obj)))
        while isinstance(target[key], dict | list) and target[key] and draw(st.booleans()):
            target = target[key]
            key = draw(st.sampled_from(sorted(target) if isinstance(target, dict) else
                                       range(len(target))))  # fmt: skip
        target[key] = "<deep>" if how == "deep" else draw(ODD)
    elif how == "nul" and isinstance(tweet, dict):
        tweet["text"] = "\x00" + draw(WORDS)
    elif how == "huge" and isinstance(tweet, dict):
        tweet["text"] = "#" * 300_000
    raw = dumps(obj)
    if how == "deep":
        depth = draw(st.integers(60, 100_000))
        raw = raw.replace(b'"<deep>"', b'{"a":[' * depth + b"1" + b"]}" * depth)
    elif how == "cut":
        raw = raw[: draw(st.integers(0, len(raw)))]
    elif how == "bytes":
        at = draw(st.integers(0, len(raw)))
        raw = (
            raw[:at]
            + draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x00"]))
            + raw[at:]
        )
    return raw


class NoRules:
    async def current(self) -> list[Rule]:
        return []

    async def add(self, rules: Sequence[Rule], *, dry_run: bool = False) -> list[Rule]:
        return list(rules)

    async def delete(self, ids: Sequence[str]) -> None:
        return None


def accounted(publisher: ListPublisher, stats: CollectorStats, raw: bytes, reason: str) -> None:
    """Every dead letter carries its reason and the line's bytes; every post is valid."""
    for letter in publisher.dead_letters:
        assert letter.original == raw and letter.reason in {"invalid-json", reason}
        assert letter.detail and "unexpected tweet shape" not in letter.detail
    for post in publisher.posts:
        assert post.uid == f"x:{post.id}" and post.id.isascii() and post.id.isdigit()
        schema_valid(post)
    assert stats.posts == len(publisher.posts) and stats.dead_lettered == len(
        publisher.dead_letters
    )


@pytest.mark.fuzz
@given(raw=damaged())
async def test_damaged_lines_become_posts_dead_letters_or_skips(raw: bytes) -> None:
    """The live stream and an archive: never an exception, every line accounted for."""
    publisher = ListPublisher()
    campaign = parse_campaign({"name": "detainees", "hashtags": ["أين_المعتقلين"]})
    live = XStreamCollector(publisher, campaign, "a-bearer-token", rules_api=NoRules())
    problem = await live.stream._line(raw, live.links["x"])
    stats = live.stats
    assert stats.read == 1
    if problem is None:  # a disconnect is the one outcome not counted here
        assert stats.posts + stats.dead_lettered + sum(stats.skipped.values()) >= 1
    accounted(publisher, stats, raw, "not-a-valid-tweet")

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "archive.jsonl"
        path.write_bytes(raw + b"\n")
        archive = ListPublisher()
        replay = ReplayCollector(archive, [path])
        await replay.run()
    counts = replay.stats
    assert counts.read == (1 if raw.strip() else 0)
    assert counts.posts + counts.dead_lettered + sum(counts.skipped.values()) >= counts.read
    accounted(archive, counts, raw, "not-a-valid-tweet")


TWEET_FIELDS = ["id", "text", "author_id", "created_at", "entities", "attachments",
                "referenced_tweets", "author", "note_tweet", "lang", "geo"]  # fmt: skip


@pytest.mark.fuzz
@given(JSON, st.sampled_from(TWEET_FIELDS))
def test_any_json_anywhere_in_a_tweet_or_its_page(value: Any, field: str) -> None:
    tweet = {"id": "1", "text": "t", "author_id": "2", "created_at": "2024-01-01T00:00:00Z"}
    tweet[field] = value
    shapes: list[Any] = [
        value,
        tweet,
        {"data": tweet, "includes": value},
        {"data": [tweet, value], "includes": {"users": value, "tweets": [value], "media": value}},
        {"data": value, "matching_rules": value},
        {"data": [tweet], "includes": {"users": [value], "media": [value], "places": [value]}},
        {"errors": value},
    ]
    for shape in shapes:
        line = dumps(shape)
        try:
            results = list(posts_from_object(orjson.loads(line), line, PROV))
        except NotAPost as exc:
            assert str(exc)
            continue
        for result in results:
            assert isinstance(result, Post | MappingError)
            if isinstance(result, Post):
                schema_valid(result)
            else:
                assert str(result) and "unexpected tweet shape" not in str(result)


@pytest.mark.fuzz
@given(JSON)
def test_any_stream_error_object_is_classified(errors: Any) -> None:
    problem = classify_stream_error({"errors": errors})
    assert isinstance(problem, StreamProblem) and problem.kind and problem.reason


@pytest.mark.parametrize("depth", [65, 1000, 100_000])
def test_deep_nesting_is_a_mapping_error_or_invalid_json(depth: int) -> None:
    line = (
        b'{"data": {"id": "5", "text": "x", "author_id": "1", "created_at": "2024-01-01T00:00:00Z",'
        b' "geo": ' + b'{"a":[' * depth + b"1" + b"]}" * depth + b"}}"
    )
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError:
        assert depth > 512  # orjson's own limit: the caller dead-letters it as invalid-json
        return
    [error] = posts_from_object(obj, line, PROV)
    assert isinstance(error, MappingError) and "nested" in str(error)
