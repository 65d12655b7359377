"""X API v2 payloads (real recordings) to Post v1."""

from __future__ import annotations

import contextlib
import hashlib
import html
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from agents.payloads import MappingError, NotAPost
from agents.x.payload import Expansions, posts_from_object, to_post
from pipeline.exports.twarc import page_of
from schemas.post import Post, Provenance

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
