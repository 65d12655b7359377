"""Mastodon payloads (real recordings) to Post v1; archives; HTML to text; SSE framing."""

from __future__ import annotations

import contextlib
import functools
import itertools
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from agents.mastodon.api import parse_links, parse_reset
from agents.mastodon.archive import MastodonArchive
from agents.mastodon.content import html_to_text
from agents.mastodon.payload import Statuses, statuses
from agents.mastodon.sse import Comment, Event, Oversized, SseParser
from agents.mastodon.tags import followed_tags, mastodon_tag
from agents.payloads import MappingError, NotAPost
from agents.replay import ReplayCollector
from agents.testing import ListPublisher
from pipeline.core.hashtags import normalize_hashtag
from schemas.codec import PostEvent, decode, encode
from schemas.post import Post, Provenance
from tests.conftest import shared_data

dumps = msgspec.json.encode  # any int, any depth: what a hostile server could send
PROV = Provenance(
    collector="test", version="0", retrieved_at=datetime(2026, 1, 1, tzinfo=UTC), source="test"
)
DATA = shared_data() / "mastodon"
STATUSES = DATA / "mastodonpy-local-statuses.jsonl"


@functools.cache
def recorded() -> list[bytes]:
    if not STATUSES.is_file():
        pytest.fail(f"recorded Mastodon payloads not found at {DATA} (set HASHWATCH_SHARED_DATA)")
    return STATUSES.read_bytes().splitlines()


def utc(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def schema_valid(post: Post) -> None:
    """What the enrich stage will accept: the record decodes as Post v1."""
    assert decode(encode(post), PostEvent) == post


# --- the recorded statuses -------------------------------------------------------------------


def test_every_recorded_status_maps_to_its_posts() -> None:
    lines = recorded()
    assert len(lines) == 267
    reblogs = edits = media = 0
    for line in lines:
        status = orjson.loads(line)
        found = statuses(line, PROV)
        original = status["reblog"]
        if original is not None:  # the original first, then the reblog pointing at it
            reblogs += 1
            first, second = found.posts
            assert orjson.loads(bytes(first.raw)) == original  # its own Status's bytes
            assert bytes(first.raw) in line and bytes(second.raw) == line
            assert first.uid == f"mastodon:{original['uri']}"
            assert second.uid == f"mastodon:{status['uri']}"
            assert second.reference("retweet") == first.uid
            assert (second.text, second.media) == (first.text, first.media)
            assert second.version == utc(status["created_at"]).isoformat()
        else:
            [post] = found.posts
            assert bytes(post.raw) == line
            assert post.uid == f"mastodon:{status['uri']}" and post.id == status["uri"]
            assert post.created_at == utc(status["created_at"])
            assert post.possibly_sensitive is status["sensitive"]
            assert post.content_warning == (status["spoiler_text"] or None)
            assert post.platform_lang == status["language"]
            assert [h.tag for h in post.hashtags] == [t["name"] for t in status["tags"]]
            assert all(h.normalized == normalize_hashtag(h.tag) for h in post.hashtags)
            assert [m.key for m in post.media] == list(
                dict.fromkeys(m["id"] for m in status["media_attachments"])
            )
            media += bool(post.media)
            if status.get("edited_at"):
                edits += 1
                assert post.edited_at == utc(status["edited_at"])
                assert post.version == post.edited_at.isoformat()
            else:
                assert post.edited_at is None and post.version == post.created_at.isoformat()
            if (status.get("quote") or {}).get("quoted_status"):
                uri = status["quote"]["quoted_status"]["uri"]
                assert post.reference("quote") == f"mastodon:{uri}"
        for post in found.posts:
            assert post.platform == "mastodon" and post.author.id.startswith("http")
            assert post.author.handle and "@" in post.author.handle
            assert post.provenance.sha256 is not None
            schema_valid(post)
    assert (reblogs, edits, media) == (7, 1, 9)


def test_local_ids_are_learnt_and_replies_resolved() -> None:
    lines = recorded()
    by_id = {orjson.loads(line)["id"]: orjson.loads(line)["uri"] for line in lines}
    replies = [line for line in lines if orjson.loads(line)["in_reply_to_id"]]
    assert replies
    for line in replies:
        status = orjson.loads(line)
        parent = status["in_reply_to_id"]
        seen = statuses(line, PROV, lambda i: f"mastodon:{by_id[i]}" if i in by_id else None)
        [post] = seen.posts
        expected = f"mastodon:{by_id[parent]}" if parent in by_id else None
        assert post.reference("reply") == expected
        assert seen.local_ids[status["id"]] == status["uri"] and seen.local_id == status["id"]
        assert statuses(line, PROV).posts[0].reference("reply") is None  # nothing to resolve by


def test_media_attachments_by_type_with_sizes_durations_and_alt_text() -> None:
    attachments = [orjson.loads(line) for line in (DATA / "docs-media-attachments.jsonl").open()]
    status = orjson.loads(recorded()[0])
    status["media_attachments"] = attachments
    [post] = statuses(orjson.dumps(status), PROV).posts
    shape = [(m.type, m.width, m.height, m.duration_ms, m.alt_text) for m in post.media]
    assert shape == [
        ("photo", 640, 480, None, "test media description"),
        ("video", 1280, 720, 88654, None),
        ("animated_gif", 600, 332, 1110, None),
        ("audio", None, None, 402860, None),
    ]
    video, gif, audio = post.media[1:]
    assert [(v.content_type, v.bit_rate) for v in video.variants] == [("video/mp4", 862056)]
    assert [(v.content_type, v.bit_rate) for v in gif.variants] == [("video/mp4", 1627639)]
    assert [(v.content_type, v.bit_rate) for v in audio.variants] == [("audio/mpeg", 166290)]
    assert post.media[0].variants == [] and post.media[0].url == attachments[0]["url"]


def test_remote_media_is_named_by_its_origin_url() -> None:
    status = orjson.loads(recorded()[0])
    status["media_attachments"] = [
        {
            "id": "9",
            "type": "image",
            "url": "https://cache.example/9.jpg",
            "remote_url": "https://origin.example/a.jpg",
            "preview_url": "https://cache.example/9s.jpg",
            "meta": {"width": 10, "height": 20},
        }
    ]
    [post] = statuses(orjson.dumps(status), PROV).posts
    [media] = post.media
    assert (media.url, media.preview_url, media.width, media.height) == (
        "https://origin.example/a.jpg",
        "https://cache.example/9s.jpg",
        10,
        20,
    )


# --- HTML to text ------------------------------------------------------------------------------

HTML_CASES = [
    ("<p>Toot number 0!</p>", "Toot number 0!", []),
    ("<p>one<br>two<br />three</p><p>four</p>", "one\ntwo\nthree\n\nfour", []),
    (
        '<p><a href="https://www.youtube.com/watch?v=FAEK" rel="nofollow noopener" '
        'target="_blank"><span class="invisible">https://www.</span><span class="ellipsis">'
        'youtube.com/watch?v=FA</span><span class="invisible">EK</span></a> look</p>',
        "https://www.youtube.com/watch?v=FAEK look",
        ["https://www.youtube.com/watch?v=FAEK"],
    ),
    (
        '<p><a href="https://a.example/tags/hoot" class="mention hashtag" rel="tag">#<span>'
        'hoot</span></a> and <span class="h-card"><a href="https://b.example/@x" '
        'class="u-url mention">@<span>x</span></a></span></p>',
        "#hoot and @x",
        [],
    ),
    (
        '<p class="quote-inline">RE: <a href="https://a.example/@x/1">a.example/@x/1</a></p>'
        "<p>yoooo</p>",
        "yoooo",
        [],
    ),
    ("<p>it&#39;s &amp; &lt;ok&gt;   spaced\n out</p>", "it's & <ok> spaced out", []),
    ("<ul><li>one</li><li>two</li></ul><p>after</p>", "one\ntwo\n\nafter", []),
    (
        '<p>أين المعتقلين؟ <a href="https://x.example/p">x.example/p</a></p>',
        "أين المعتقلين؟ https://x.example/p",
        ["https://x.example/p"],
    ),
    ("<p>unclosed <b>bold</p>tail", "unclosed bold\n\ntail", []),
    ("<![bogus[ <p>still text</p>", "still text", []),  # the parser gives up: tags stripped
    ("plain :emoji: text", "plain :emoji: text", []),
]


@pytest.mark.parametrize(("content", "text", "links"), HTML_CASES)
def test_html_content_to_text(content: str, text: str, links: list[str]) -> None:
    shown = html_to_text(content)
    assert (shown.text, shown.links) == (text, links)


# --- archives ----------------------------------------------------------------------------------


def test_an_api_page_keeps_each_statuss_exact_bytes(tmp_path: Path) -> None:
    lines = recorded()[:3]
    page = b"[" + b" ,\n ".join(lines).replace(b"\n", b"") + b"]"
    fmt = MastodonArchive()
    obj = orjson.loads(page)
    assert fmt.accepts(obj)
    posts = [p for p in fmt.read(obj, page, PROV) if isinstance(p, Post)]
    assert [bytes(p.raw) for p in posts] == lines


async def test_replay_reads_pages_lines_and_stream_events_beside_x(
    tmp_path: Path, x_data: Path
) -> None:
    lines = recorded()
    page = b"[" + b",".join(lines[:5]) + b"]"
    events = (DATA / "streaming" / "docs-websocket-examples.jsonl").read_bytes().splitlines()
    x_line = (x_data / "streaming_output_with_error.jsonl").read_bytes().splitlines()[0]
    broken = lines[5].replace(b'"uri":"', b'"uri":"has space ')
    archive = tmp_path / "mixed.jsonl"
    archive.write_bytes(b"\n".join([page, *lines[5:8], broken, *events, x_line, b"[]"]))
    publisher = ListPublisher()
    stats = await ReplayCollector(publisher, [archive]).run()
    update = orjson.loads(orjson.loads(events[0])["payload"])
    expected = {orjson.loads(line)["uri"] for line in [*lines[:8]]} | {update["uri"]}
    mastodon = [p for p in publisher.posts if p.platform == "mastodon"]
    assert {p.id for p in mastodon} == expected and len(mastodon) == 9
    assert [p.platform for p in publisher.posts].count("x") == 1
    [dead] = publisher.dead_letters
    assert (dead.reason, dead.original) == ("not-a-valid-mastodon-status", broken)
    assert "uri" in dead.detail
    assert stats.skipped == {
        "mastodon-delete-unresolved": 1,
        "mastodon-event-filters_changed": 1,
        "unknown-format": 1,
    }
    [from_event] = [p for p in mastodon if p.id == update["uri"]]
    assert bytes(from_event.raw) == orjson.loads(events[0])["payload"].encode()


async def test_a_capture_of_the_event_stream_is_read_as_its_events(tmp_path: Path) -> None:
    # What ``curl -N …/api/v1/streaming/hashtag?tag=…`` writes (the shape of the recorded
    # streams in shared data): comments, ``event:`` and ``data:`` lines, CRLF or LF.
    status = recorded()[0]
    capture = (
        b":)\r\n:thump\r\n\r\nevent: update\r\ndata: " + status + b"\r\n\r\n"
        b"event: delete\ndata: 117024248092393661\n\n:thump\n"
        b"event: status.update\ndata: " + status  # cut after its last line
    )
    archive = tmp_path / "hashtag.sse"
    archive.write_bytes(capture)
    publisher = ListPublisher()
    stats = await ReplayCollector(publisher, [archive]).run()
    assert [bytes(p.raw) for p in publisher.posts] == [status, status]
    assert publisher.dead_letters == [] and stats.skipped == {"mastodon-delete-unresolved": 1}


def test_a_deleted_status_is_read_by_its_source_text() -> None:
    # DELETE /api/v1/statuses/:id answers the Status with its source ``text`` in place of
    # ``content`` (for redrafting), as recorded in halcy/Mastodon.py's cassettes.
    status = orjson.loads(next(line for line in recorded() if b'"reblog":null' in line))
    del status["content"]
    status["text"] = "http://example.org/ and #Tag, as typed"
    [post] = statuses(orjson.dumps(status), PROV).posts
    assert post.text == "http://example.org/ and #Tag, as typed"
    schema_valid(post)


async def test_search_and_thread_responses_list_their_statuses(tmp_path: Path) -> None:
    # /api/v2/search and /api/v1/statuses/:id/context, shaped as in halcy/Mastodon.py's
    # cassettes (test_search_v2.yaml, test_status_context.yaml): Statuses under a key.
    lines = [line for line in recorded()[:6] if b'"reblog":null' in line][:3]
    search = b'{"accounts":[],"statuses":[' + lines[0] + b'],"hashtags":[]}'
    context = b'{"ancestors":[' + lines[1] + b'],\n"descendants":[' + lines[2] + b"]}"
    empty = b'{"accounts":[],"statuses":[],"hashtags":[]}'
    archive = tmp_path / "responses.jsonl"
    archive.write_bytes(b"\n".join([search, context.replace(b"\n", b" "), empty]))
    publisher = ListPublisher()
    stats = await ReplayCollector(publisher, [archive]).run()
    assert [bytes(p.raw) for p in publisher.posts] == lines
    assert publisher.dead_letters == [] and stats.skipped == {"mastodon-no-statuses": 1}


async def test_a_status_source_is_no_post_and_no_tweet(tmp_path: Path) -> None:
    # GET /api/v1/statuses/:id/source, as recorded in halcy/Mastodon.py's cassettes
    # (test_status_source.yaml): an id and a text, like an X tweet, but no post.
    source = b'{"id":"117020586180926938","text":"the best editor? Kate","spoiler_text":""}'
    archive = tmp_path / "source.jsonl"
    archive.write_bytes(source + b"\n")
    publisher = ListPublisher()
    stats = await ReplayCollector(publisher, [archive]).run()
    assert publisher.posts == [] and publisher.dead_letters == []
    assert stats.skipped == {"mastodon-status-source": 1}


# --- protocol details ----------------------------------------------------------------------------


def test_every_recorded_link_header_parses() -> None:
    for line in (DATA / "link-headers.jsonl").open():
        header = orjson.loads(line)["link"]
        expected: dict[str, str] = {}
        for url, rel in re.findall(r'<([^>]+)>;\s*rel="(\w+)"', header):
            expected.setdefault(rel, url)
        assert parse_links(header) == expected and expected
    assert parse_links('<https://a/x?max_id=1>; rel="next", <https://a/x?min_id=9>; rel=prev') == {
        "next": "https://a/x?max_id=1",
        "prev": "https://a/x?min_id=9",
    }
    assert parse_links(None) == {} and parse_links("garbage") == {}


def test_rate_limit_reset_in_iso_8601_or_epoch() -> None:
    assert parse_reset("2020-09-08T13:25:00.019685Z") == pytest.approx(1599571500.019685)
    assert parse_reset("1599571500") == 1599571500.0
    assert parse_reset("soon") is None and parse_reset(None) is None


def test_tags_are_streamed_once_per_tag_mastodon_tells_apart() -> None:
    spellings = [
        "أين_المعتقلين",
        "اين_المعتقلين",
        "WhereAreTheDetainees",
        "wherearethedetainees",
        "#Cafés",
        "cafes",
        "Where_Are",
    ]
    assert followed_tags(spellings) == [
        "أين_المعتقلين",
        "اين_المعتقلين",
        "WhereAreTheDetainees",
        "Cafés",
        "Where_Are",
    ]
    assert mastodon_tag("ＷＨＥＲＥ") == "where" and mastodon_tag("#a-b") == "ab"


def test_recorded_event_streams_parse_the_same_in_any_chunks() -> None:
    for path in sorted((DATA / "streaming").glob("*.sse")):
        data = path.read_bytes()
        whole = SseParser().feed(data)
        assert [e.event for e in whole if isinstance(e, Event)] == re.findall(
            r"^event: (\S+)$", data.decode(), flags=re.M
        )
        datas = [line[6:] for line in data.split(b"\n") if line.startswith(b"data: ")]
        assert [e.data for e in whole if isinstance(e, Event)] == datas
        for size in (1, 2, 7, 64):
            parser = SseParser()
            split = [i for k in range(0, len(data), size) for i in parser.feed(data[k : k + size])]
            assert split == whole
        for ending in (b"\r\n", b"\r"):
            assert SseParser().feed(data.replace(b"\n", ending)) == whole


def test_sse_framing_comments_multiline_data_and_oversized_events() -> None:
    parser = SseParser(max_event=50)
    stream = (
        b"\xef\xbb\xbf:)\n"  # a byte order mark, then the greeting comment
        b'event: update\ndata: {"a":\ndata:1}\n\n'  # two data lines joined by LF
        b":thump\n\n"
        b"data: no event name\n\n"
        b"event: update\ndata: " + b"x" * 80 + b"\n\n"  # oversized: dropped, head kept
        b"event: delete\ndata:42\nid: 7\nretry: 10\n\n"
    )
    items = parser.feed(stream[:3]) + parser.feed(stream[3:])
    assert items == [
        Comment(b")"),
        Event("update", b'{"a":\n1}'),
        Comment(b"thump"),
        Event("message", b"no event name"),
        Oversized(size=80, head=b"x" * 80),
        Event("delete", b"42"),
    ]
    endless = SseParser(max_event=10)
    assert endless.feed(b"data: " + b"y" * 20) == [Oversized(size=26, head=b"data: " + b"y" * 20)]
    assert endless.feed(b"yyy\n\nevent: delete\ndata: 1\n\n") == [Event("delete", b"1")]


# --- property-based: no input escapes as an exception ---------------------------------------------

JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
)
JSON = st.recursive(
    JSON_SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)
FIELDS = [
    "id",
    "uri",
    "url",
    "created_at",
    "edited_at",
    "content",
    "spoiler_text",
    "sensitive",
    "language",
    "account",
    "tags",
    "mentions",
    "media_attachments",
    "reblog",
    "quote",
    "in_reply_to_id",
]
ODD_VALUES = (
    JSON
    | st.sampled_from(
        [
            "0000-01-01T00:00:00Z",
            "9999-12-31T23:59:59-23:59",
            "0001-01-01T00:00:00+14:00",
            "2026-02-30T00:00:00Z",
            "",
            " ",
            "a b",
            "\x00",
            "<![x[",
            "<p>" * 500,
            "x" * 100_000,
        ]
    )
    | st.integers(min_value=-(2**80), max_value=2**80)
)


def _deep(depth: int) -> Any:
    value: Any = "x"
    for _ in range(depth):
        value = {"reblog": value, "content": [depth]}
    return value


def _mapped(raw: bytes) -> Statuses | None:
    try:
        found = statuses(raw, PROV, lambda i: f"mastodon:https://a.example/{i}")
    except (MappingError, NotAPost):
        return None
    for post in found.posts:
        schema_valid(post)
    return found


@pytest.mark.fuzz
@given(st.sampled_from(range(267)), st.lists(st.tuples(st.sampled_from(FIELDS), ODD_VALUES)))
def test_mutated_statuses_map_or_fail_with_a_reason(index: int, changes: list[Any]) -> None:
    status = orjson.loads(recorded()[index])
    for field, value in changes:
        status[field] = value
    _mapped(dumps(status))
    if isinstance(status.get("account"), dict) and changes:  # odd handles, too
        status["account"] = {**status["account"], "acct": orjson.loads(dumps(changes[0][1]))}
        _mapped(dumps(status))


@pytest.mark.fuzz
@given(st.sampled_from(range(267)), st.sampled_from(FIELDS))
def test_statuses_with_a_field_missing_map_or_fail_with_a_reason(index: int, field: str) -> None:
    status = orjson.loads(recorded()[index])
    status.pop(field, None)
    _mapped(dumps(status))


@pytest.mark.fuzz
@given(st.binary(max_size=2000) | JSON.map(dumps))
def test_any_bytes_map_or_fail_with_a_reason(raw: bytes) -> None:
    _mapped(raw)


@pytest.mark.fuzz
@given(st.sampled_from(range(267)), st.integers(min_value=1, max_value=5000), st.binary(max_size=8))
def test_truncated_and_corrupted_statuses(index: int, cut: int, junk: bytes) -> None:
    line = recorded()[index]
    _mapped(line[:cut])
    _mapped(line[:cut] + junk + line[cut:])
    _mapped(line.replace(b"Toot", b"\xff\xfe", 1))  # invalid UTF-8


@pytest.mark.fuzz
@given(st.integers(min_value=1, max_value=3000))
def test_deeply_nested_statuses(depth: int) -> None:
    status = orjson.loads(recorded()[0])
    status["reblog"] = _deep(min(depth, 200))
    _mapped(dumps(status))
    _mapped(b'{"uri":"u","account":{},"reblog":' * depth + b"1" + b"}" * depth)


@pytest.mark.fuzz
@given(JSON)
def test_any_json_line_in_an_archive(obj: Any) -> None:
    fmt = MastodonArchive()
    for shaped in (obj, {"stream": ["hashtag"], "event": "update", "payload": obj}, [obj]):
        line = dumps(shaped)
        if not fmt.accepts(orjson.loads(line)):
            continue
        with contextlib.suppress(NotAPost):
            for result in fmt.read(orjson.loads(line), line, PROV):
                assert isinstance(result, Post | MappingError)
                if isinstance(result, Post):
                    schema_valid(result)


@pytest.mark.fuzz
@given(
    st.text(max_size=400)
    | st.lists(
        st.sampled_from(
            [
                "<p>",
                "</p>",
                "<br>",
                "<a href='h'>",
                "</a>",
                "<span class='invisible'>",
                "</span>",
                "<pre>",
                "</pre>",
                "<![x[",
                "<!--",
                "-->",
                "&amp;",
                "&#0;",
                "&#xD800;",
                "x",
                " ",
                "\n",
                "<li>",
                "<p class='quote-inline'>",
                "<script>",
                "</script>",
                "<",
                ">",
            ]
        )
    ).map("".join)
)
def test_any_html_gives_text(content: str) -> None:
    shown = html_to_text(content)
    assert isinstance(shown.text, str) and shown.text == shown.text.strip()


@pytest.mark.fuzz
@given(st.binary(max_size=3000), st.lists(st.integers(min_value=0, max_value=3000), max_size=10))
def test_any_byte_stream_in_any_chunks_frames_the_same(data: bytes, cuts: list[int]) -> None:
    whole = SseParser(max_event=200).feed(data)
    parser = SseParser(max_event=200)
    bounds = [0, *sorted(c % (len(data) + 1) for c in cuts), len(data)]
    chunked = [i for a, b in itertools.pairwise(bounds) for i in parser.feed(data[a:b])]
    if not any(isinstance(i, Oversized) for i in whole):  # where a line is cut off differs
        assert chunked == whole
    for item in chunked:
        assert isinstance(item, Event | Comment | Oversized)
        if isinstance(item, Event):
            assert len(item.data) <= 200


def test_a_huge_status_is_one_post() -> None:
    status = orjson.loads(recorded()[0])
    status["content"] = "<p>" + "كلمة " * 200_000 + "</p>"
    [post] = statuses(dumps(status), PROV).posts
    assert len(post.text) == 200_000 * 5 - 1 and msgspec.json.decode(encode(post))
