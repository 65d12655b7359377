"""Bluesky payloads to Post v1: the recorded records, facets by byte offset, every embed kind,
Jetstream events, archives, and generated input that must never escape as an exception."""

from __future__ import annotations

import copy
import hashlib
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from agents.bluesky.archive import BlueskyArchive
from agents.bluesky.aturi import AtUri
from agents.bluesky.collector import BlueskyCollector
from agents.bluesky.events import parse_event, post_of
from agents.bluesky.jetstream import BlueskyConfig, Replay
from agents.bluesky.record import to_post
from agents.payloads import MappingError, NotAPost
from agents.replay import ReplayCollector
from agents.testing import ListPublisher
from pipeline.core.campaign import parse_campaign
from pipeline.core.hashtags import normalize_hashtag
from schemas.codec import decode, encode
from schemas.post import Author, Post, PostDeletion
from schemas.testing import PROVENANCE
from tests.conftest import shared_data

ARCHIVE = BlueskyArchive()
DID = "did:plc:kvwvcn5iqfooopmyzvb4qzba"
URI = AtUri.of(DID, "app.bsky.feed.post", "3kaheyt6vpc22")
SEEN = datetime(2026, 5, 25, 14, 23, 29, tzinfo=UTC)
TAGS = ["أين_المعتقلين", "WhereAreTheDetainees"]


@pytest.fixture(scope="module")
def bluesky_data() -> Path:
    path = shared_data() / "bluesky"
    if not path.is_dir():
        pytest.fail(f"recorded Bluesky payloads not found at {path} (set HASHWATCH_SHARED_DATA)")
    return path


def lines(path: Path) -> list[bytes]:
    return [line for line in path.read_bytes().splitlines() if line.strip()]


def read(line: bytes) -> list[Any]:
    obj = orjson.loads(line)
    assert ARCHIVE.accepts(obj)
    return list(ARCHIVE.read(obj, line, PROVENANCE))


def mapped(record: dict[str, Any], **kwargs: Any) -> Post:
    raw = orjson.dumps(record)
    return to_post(
        URI, record, cid="bafyreiabc", author=Author(id=DID), seen=SEEN, raw=raw,
        provenance=PROVENANCE, **kwargs,
    )  # fmt: skip


def facet(data: bytes, piece: bytes, feature: dict[str, Any]) -> dict[str, Any]:
    start = data.index(piece)
    return {"index": {"byteStart": start, "byteEnd": start + len(piece)}, "features": [feature]}


# --- the recorded records ------------------------------------------------------------------


def sliced(value: dict[str, Any], kind: str) -> list[str]:
    """What the facets of ``kind`` cover in the text, sliced as UTF-8 bytes (independently)."""
    data = value["text"].encode()
    out = []
    for f in value.get("facets", []):
        if any(feat["$type"].endswith(f"#{kind}") for feat in f["features"]):
            out.append(data[f["index"]["byteStart"] : f["index"]["byteEnd"]].decode())
    return out


@pytest.mark.parametrize(
    "name",
    [
        "indigo-automod-atprotocom-post-records.jsonl",
        "indigo-automod-spam-post-records.jsonl",
        "marshalx-getRecord-posts.jsonl",
    ],
)
def test_every_recorded_post_record_maps(bluesky_data: Path, name: str) -> None:
    for line in lines(bluesky_data / name):
        obj = orjson.loads(line)
        value = obj["value"]
        [post] = read(line)
        assert isinstance(post, Post), post
        uri = obj["uri"]
        did, _, rkey = uri.removeprefix("at://").split("/")
        assert post.uid == f"bluesky:{uri}" and post.id == uri and post.platform == "bluesky"
        assert post.url == f"https://bsky.app/profile/{did}/post/{rkey}"
        assert post.author.id == did and post.version == obj["cid"]
        assert post.text == value["text"]
        assert post.platform_lang == (value.get("langs") or [None])[0]
        assert bytes(post.raw) == line
        assert post.provenance.sha256 == hashlib.sha256(line).hexdigest()
        assert post.mentions == [m.removeprefix("@") for m in sliced(value, "mention")]
        links = [
            feat["uri"] for f in value.get("facets", []) for feat in f["features"] if "uri" in feat
        ]
        external = value.get("embed", {}).get("external", {}).get("uri")
        assert post.urls == list(dict.fromkeys(links + ([external] if external else [])))
        quoted = value.get("embed", {}).get("record", {}).get("uri")
        assert post.reference("quote") == (f"bluesky:{quoted}" if quoted else None)
        parent = value.get("reply", {}).get("parent", {}).get("uri")
        assert post.reference("reply") == (f"bluesky:{parent}" if parent else None)
        assert decode(encode(post), Post) == post  # valid Post v1


def test_a_created_at_without_a_time_zone_is_utc(bluesky_data: Path) -> None:
    with_zone, without = lines(bluesky_data / "marshalx-getRecord-posts.jsonl")
    assert read(with_zone)[0].created_at == datetime(2024, 2, 22, 19, 58, 13, 903293, tzinfo=UTC)
    post = read(without)[0]
    assert b'"createdAt":"2023-07-21T01:33:51.481951"' in bytes(post.raw)  # kept as written
    assert post.created_at == datetime(2023, 7, 21, 1, 33, 51, 481951, tzinfo=UTC)


def test_the_thread_with_record_and_media(bluesky_data: Path) -> None:
    path = bluesky_data / "marshalx-getPostThread-recordWithMedia.json"
    document = path.read_bytes()
    [post] = read(document)
    view = orjson.loads(document)["thread"]["post"]
    assert post.uid == f"bluesky:{view['uri']}" and post.text == ""
    assert post.author.handle == "test.marshal.dev" and post.author.name == "Python SDK"
    assert post.reference("quote") == f"bluesky:{view['embed']['record']['record']['uri']}"
    [photo] = post.media
    shown = view["embed"]["media"]["images"][0]
    assert (photo.type, photo.url, photo.preview_url) == (
        "photo",
        shown["fullsize"],
        shown["thumb"],
    )
    assert photo.key == view["record"]["embed"]["media"]["images"][0]["image"]["ref"]["$link"]
    assert photo.alt_text is None  # "" is no alt text
    raw = bytes(post.raw)
    assert orjson.loads(raw) == view and raw in document  # the element's exact bytes


def test_jetstream_golden_sample(bluesky_data: Path) -> None:
    results: dict[str, Any] = {}
    for line in lines(bluesky_data / "jetstream-v1-golden-sample.jsonl"):
        obj = orjson.loads(line)
        try:
            [result] = read(line)
        except NotAPost as exc:
            results.setdefault("skipped", []).append(str(exc))
            continue
        assert not isinstance(result, MappingError), result
        results[obj["commit"]["collection"]] = (result, obj, line)
    assert sorted(results.pop("skipped")) == sorted(
        ["like", "follow", "block", "profile", "identity-event", "account-event"]
        + ["other-collection"] * 2  # a delete and an update of other apps' records
    )
    post, obj, line = results["app.bsky.feed.post"]
    assert post.uid == f"bluesky:at://{obj['did']}/app.bsky.feed.post/{obj['commit']['rkey']}"
    assert post.created_at == datetime(2026, 5, 25, 14, 23, 28, 757000, tzinfo=UTC)
    assert post.version == obj["commit"]["cid"] and post.edited_at is None
    assert bytes(post.raw) == line
    repost, obj, _ = results["app.bsky.feed.repost"]
    assert repost.reference("retweet") == f"bluesky:{obj['commit']['record']['subject']['uri']}"
    assert repost.author.id == obj["did"] and repost.url is None and repost.text == ""


async def test_replaying_the_recorded_files(bluesky_data: Path) -> None:
    files = sorted(bluesky_data.glob("*.json*"))
    publisher = ListPublisher()
    stats = await ReplayCollector(publisher, files).run()
    assert publisher.dead_letters == []
    assert stats.posts == 20 + 20 + 2 + 1 + 2  # records, thread (one document), golden post+repost
    assert sum(stats.skipped.values()) == 8
    assert stats.read == 20 + 20 + 2 + 1 + 10
    assert len({p.uid for p in publisher.posts}) == stats.posts


# --- facets, tags, embeds ------------------------------------------------------------------


def test_facets_are_byte_offsets_into_utf8_text() -> None:
    text = "الحرية للمعتقلين 🕊️ @amal.bsky.social اقرأ: example.org/r… #أين_المعتقلين"
    data = text.encode()
    record = {
        "$type": "app.bsky.feed.post",
        "text": text,
        "createdAt": "2026-05-25T14:23:28.757Z",
        "langs": ["ar", "en"],
        "tags": ["TutuklularNerede", "أين_المعتقلين"],
        "facets": [
            facet(data, b"@amal.bsky.social", {
                "$type": "app.bsky.richtext.facet#mention", "did": "did:plc:amal"}),
            facet(data, "example.org/r…".encode(), {
                "$type": "app.bsky.richtext.facet#link", "uri": "https://example.org/report"}),
            facet(data, "#أين_المعتقلين".encode(), {
                "$type": "app.bsky.richtext.facet#tag", "tag": "أين_المعتقلين"}),
            {"index": {"byteStart": 1, "byteEnd": 3}, "features": [  # inside a character
                {"$type": "app.bsky.richtext.facet#mention", "did": "did:plc:fallback"}]},
            {"index": {"byteStart": 5, "byteEnd": 999}, "features": [  # past the end
                {"$type": "app.bsky.richtext.facet#tag", "tag": "BeyondTheText"}]},
            {"index": "nonsense", "features": "nonsense"},
        ],
    }  # fmt: skip
    post = mapped(record)
    assert post.mentions == ["amal.bsky.social", "did:plc:fallback"]
    assert post.urls == ["https://example.org/report"]
    assert [h.tag for h in post.hashtags] == ["أين_المعتقلين", "BeyondTheText", "TutuklularNerede"]
    assert [h.normalized for h in post.hashtags] == [
        normalize_hashtag(t) for t in ("أين_المعتقلين", "BeyondTheText", "TutuklularNerede")
    ]
    assert post.platform_lang == "ar"
    # character offsets would have cut the handle out of the wrong place
    chars = text.index("@amal")
    assert text.encode()[chars : chars + 17] != b"@amal.bsky.social"


def test_self_labels_are_a_content_warning() -> None:
    labels = {"$type": "com.atproto.label.defs#selfLabels", "values": [{"val": "graphic-media"}]}
    post = mapped({"text": "x", "createdAt": "2026-01-01T00:00:00Z", "labels": labels})
    assert post.possibly_sensitive and post.content_warning == "graphic-media"


def blob(cid: str, mime: str = "image/jpeg") -> dict[str, Any]:
    return {"$type": "blob", "ref": {"$link": cid}, "mimeType": mime, "size": 1}


QUOTED = "at://did:plc:other/app.bsky.feed.post/3kquoted"
IMAGES = {
    "$type": "app.bsky.embed.images",
    "images": [
        {"alt": "وقفة أمام المحكمة", "image": blob("bafkreione"),
         "aspectRatio": {"width": 1200, "height": 800}},
        {"alt": "", "image": {"cid": "bafkreilegacy", "mimeType": "image/png"}},
        {"alt": "no blob"},
    ],
}  # fmt: skip
VIDEO = {
    "$type": "app.bsky.embed.video",
    "video": blob("bafkreivideo", "video/mp4"),
    "alt": "the vigil",
    "aspectRatio": {"width": 1080, "height": 1920},
}


@pytest.mark.parametrize(
    ("embed", "media", "urls", "quote"),
    [
        (IMAGES, [("photo", "bafkreione", 1200, 800, "وقفة أمام المحكمة"),
                  ("photo", "bafkreilegacy", None, None, None)], [], None),
        (VIDEO, [("video", "bafkreivideo", 1080, 1920, "the vigil")], [], None),
        ({**VIDEO, "presentation": "gif"},
         [("animated_gif", "bafkreivideo", 1080, 1920, "the vigil")], [], None),
        ({"$type": "app.bsky.embed.external",
          "external": {"uri": "https://example.org/a", "title": "t", "description": "d"}},
         [], ["https://example.org/a"], None),
        ({"$type": "app.bsky.embed.external",
          "external": {"uri": "https://media.tenor.com/x/vigil.gif?hh=1", "title": ""}},
         [("animated_gif", "https://media.tenor.com/x/vigil.gif?hh=1", None, None, None)],
         ["https://media.tenor.com/x/vigil.gif?hh=1"], None),
        ({"$type": "app.bsky.embed.record", "record": {"uri": QUOTED, "cid": "bafy"}},
         [], [], f"bluesky:{QUOTED}"),
        ({"$type": "app.bsky.embed.record",  # a feed generator: not a quote
          "record": {"uri": "at://did:plc:x/app.bsky.feed.generator/whats-hot", "cid": "b"}},
         [], [], None),
        ({"$type": "app.bsky.embed.recordWithMedia",
          "record": {"$type": "app.bsky.embed.record", "record": {"uri": QUOTED, "cid": "b"}},
          "media": VIDEO},
         [("video", "bafkreivideo", 1080, 1920, "the vigil")], [], f"bluesky:{QUOTED}"),
        ({"$type": "app.bsky.embed.unknownThing", "x": 1}, [], [], None),
    ],
)  # fmt: skip
def test_every_embed_kind(
    embed: dict[str, Any], media: list[tuple[Any, ...]], urls: list[str], quote: str | None
) -> None:
    post = mapped({"text": "x", "createdAt": "2026-01-01T00:00:00Z", "embed": embed})
    assert [(m.type, m.key, m.width, m.height, m.alt_text) for m in post.media] == media
    assert post.urls == urls and post.reference("quote") == quote
    for item in post.media:
        if item.type == "photo":
            assert item.url == f"https://cdn.bsky.app/img/feed_fullsize/plain/{DID}/{item.key}@jpeg"
            assert item.preview_url and "feed_thumbnail" in item.preview_url
        elif item.key.startswith("bafkrei"):  # a video blob: Bluesky's HLS address
            assert item.url == (
                f"https://video.bsky.app/watch/did%3Aplc%3Akvwvcn5iqfooopmyzvb4qzba/{item.key}"
                "/playlist.m3u8"
            )


@pytest.mark.parametrize(
    ("created", "expected"),
    [
        ("2026-05-25T14:23:28.757Z", datetime(2026, 5, 25, 14, 23, 28, 757000, tzinfo=UTC)),
        ("2026-05-25T16:23:28+02:00", datetime(2026, 5, 25, 14, 23, 28, tzinfo=UTC)),
        ("2030-01-01T00:00:00Z", SEEN),  # in the future of when the network saw it
        ("yesterday", SEEN),
        (None, SEEN),
        ("0001-01-01T00:00:00+14:00", SEEN),
    ],
)
def test_created_at(created: str | None, expected: datetime) -> None:
    record: dict[str, Any] = {"text": "x"}
    if created is not None:
        record["createdAt"] = created
    assert mapped(record).created_at == expected


def test_a_post_without_text_or_time_is_a_mapping_error() -> None:
    with pytest.raises(MappingError, match="no text"):
        mapped({"createdAt": "2026-01-01T00:00:00Z"})
    with pytest.raises(MappingError, match="createdAt"):
        to_post(URI, {"text": "x"}, cid=None, author=Author(id=DID), seen=None, raw=b"{}",
                provenance=PROVENANCE)  # fmt: skip


# --- Jetstream events ----------------------------------------------------------------------


def event(operation: str, collection: str = "app.bsky.feed.post", **commit: Any) -> dict[str, Any]:
    return {
        "did": DID,
        "time_us": 1779719009157119,
        "kind": "commit",
        "commit": {"rev": "3mmoojpaqkn2z", "operation": operation, "collection": collection,
                   "rkey": "3mmoojp4cd223", **commit},
    }  # fmt: skip


def test_an_update_is_a_new_version_and_a_delete_names_the_post() -> None:
    record = {"$type": "app.bsky.feed.post", "text": "edited", "createdAt": "2026-05-25T14:00:00Z"}
    [edit] = read(orjson.dumps(event("update", record=record, cid="bafyreiedit")))
    assert isinstance(edit, Post)
    assert edit.version == "bafyreiedit" and edit.text == "edited"
    assert edit.edited_at == datetime(2026, 5, 25, 14, 23, 29, 157119, tzinfo=UTC)
    assert edit.created_at == datetime(2026, 5, 25, 14, tzinfo=UTC)
    [deletion] = read(orjson.dumps(event("delete")))
    assert isinstance(deletion, PostDeletion)
    assert deletion.uid == f"bluesky:at://{DID}/app.bsky.feed.post/3mmoojp4cd223"
    assert deletion.deleted_at == edit.edited_at


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"time_us": "soon"}, "time_us"),
        ({"time_us": 2**63 - 1}, "time_us"),
        ({"did": "not a did"}, "not a DID"),
        ({"commit": {"operation": "explode", "collection": "app.bsky.feed.post"}}, "operation"),
        ({"commit": {"operation": "create", "collection": "app.bsky.feed.post", "rkey": "a b"}},
         "record key"),
        ({"commit": {"operation": "create", "collection": "app.bsky.feed.post", "rkey": "k"}},
         "without its record"),
    ],
)  # fmt: skip
def test_malformed_events_are_mapping_errors(change: dict[str, Any], error: str) -> None:
    obj = {**event("create", record={"text": "x"}), **change}
    [result] = read(orjson.dumps(obj))
    assert isinstance(result, MappingError) and error in str(result)


# --- property-based: the mapping ----------------------------------------------------------

WORDS = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)


@pytest.mark.fuzz
@given(before=WORDS, between=WORDS, after=WORDS, tag=st.sampled_from([*TAGS, "Ünïcödé_تاغ"]))
def test_facets_find_what_they_index_in_any_text(
    before: str, between: str, after: str, tag: str
) -> None:
    handle = "@someone.bsky.social"
    text = f"{before}{handle}{between}#{tag}{after}"
    data = text.encode()
    mention_at = len(before.encode())
    tag_at = mention_at + len(handle.encode()) + len(between.encode())
    record = {
        "text": text,
        "createdAt": "2026-01-01T00:00:00Z",
        "facets": [
            {"index": {"byteStart": mention_at, "byteEnd": mention_at + len(handle.encode())},
             "features": [{"$type": "app.bsky.richtext.facet#mention", "did": "did:plc:x"}]},
            {"index": {"byteStart": tag_at, "byteEnd": tag_at + 1 + len(tag.encode())},
             "features": [{"$type": "app.bsky.richtext.facet#tag"}]},  # the tag from the text
        ],
    }  # fmt: skip
    post = mapped(record)
    assert data[mention_at:].startswith(handle.encode())
    assert post.mentions == ["someone.bsky.social"]
    assert [h.tag for h in post.hashtags] == [tag]
    assert post.hashtags[0].normalized == normalize_hashtag(tag)


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | WORDS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(WORDS, inner, max_size=4),
    max_leaves=20,
)


def _recorded_events() -> list[dict[str, Any]]:
    data = shared_data() / "bluesky"
    out = [orjson.loads(line) for line in lines(data / "jetstream-v1-golden-sample.jsonl")]
    for line in lines(data / "indigo-automod-atprotocom-post-records.jsonl")[:5]:
        record = orjson.loads(line)
        value = record["value"]
        value["tags"] = [TAGS[0]]  # a campaign post, so the live path publishes it
        out.append({**event("create", record=value, cid=record["cid"])})
    return out


RECORDED = _recorded_events()


@st.composite
def damaged(draw: st.DrawFn) -> bytes:
    """A recorded event damaged: a subtree replaced by anything, the bytes cut, bytes that are
    not UTF-8, NUL, a huge string, deep nesting, times and offsets out of range."""
    obj = copy.deepcopy(draw(st.sampled_from(RECORDED)))
    how = draw(st.sampled_from(["subtree", "cut", "bytes", "nul", "huge", "deep", "range"]))
    if how == "subtree":
        target, key = obj, draw(st.sampled_from(sorted(obj)))
        while isinstance(target[key], dict) and target[key] and draw(st.booleans()):
            target, key = target[key], draw(st.sampled_from(sorted(target[key])))
        target[key] = draw(JSON)
    elif how == "nul":
        obj.setdefault("commit", {}).setdefault("record", {})["text"] = "\x00" + draw(WORDS)
    elif how == "huge":
        obj.setdefault("commit", {}).setdefault("record", {})["text"] = "#" * 200_000
    elif how == "deep":  # spliced in as text: deeper than any JSON encoder goes
        obj.setdefault("commit", {}).setdefault("record", {})["embed"] = "<deep>"
    elif how == "range":
        obj["time_us"] = draw(st.integers(-(2**63), 2**63 - 1) | st.floats() | st.just(0))
        record = obj.setdefault("commit", {}).setdefault("record", {})
        record["createdAt"] = draw(
            st.sampled_from(["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:60Z", "", "2026-13-45"])
        )
        offsets = st.integers(-(2**63), 2**63 - 1)
        index = {"byteStart": draw(offsets), "byteEnd": draw(offsets)}
        feature = {"$type": "app.bsky.richtext.facet#tag", "tag": 7}
        record["facets"] = [{"index": index, "features": [feature]}]
    raw = orjson.dumps(obj)
    if how == "deep":
        depth = draw(st.integers(60, 3000))
        raw = raw.replace(b'"<deep>"', b'{"x":' * depth + b"{}" + b"}" * depth)
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


def collector() -> tuple[BlueskyCollector, ListPublisher]:
    publisher = ListPublisher()
    campaign = parse_campaign({"name": "detainees", "hashtags": TAGS})
    return BlueskyCollector(publisher, campaign, config=BlueskyConfig()), publisher


@pytest.mark.fuzz
@given(raw=damaged())
async def test_damaged_events_become_posts_dead_letters_or_skips(raw: bytes) -> None:
    """The live path and the archive path: never an exception, every message accounted for,
    every published record valid Post v1 / PostDeletion v1."""
    live, publisher = collector()
    link = live.links["jetstream"]
    await live.stream.handle_message(raw, link, Replay(None, 0))
    stats = live.stats
    published = len(publisher.posts) + len(publisher.deletions)
    assert published + stats.dead_lettered + sum(stats.skipped.values()) == stats.read == 1
    for letter in publisher.dead_letters:
        assert letter.original == raw and letter.reason
    for record in [*publisher.posts, *publisher.deletions]:
        assert decode(encode(record), type(record)) == record

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "capture.jsonl"
        path.write_bytes(raw + b"\n")
        archive = ListPublisher()
        replay = ReplayCollector(archive, [path])
        await replay.run()
    results = len(archive.posts) + len(archive.deletions) + replay.stats.dead_lettered
    assert replay.stats.read == (1 if raw.strip() else 0)  # blank lines are not read
    assert results + sum(replay.stats.skipped.values()) == replay.stats.read
    for record in [*archive.posts, *archive.deletions]:
        assert decode(encode(record), type(record)) == record


@pytest.mark.fuzz
@given(obj=JSON)
def test_any_json_is_a_post_a_mapping_error_or_not_a_post(obj: Any) -> None:
    shapes = [
        obj,
        {"posts": [obj]},
        {"thread": {"post": obj}},
        {"uri": str(URI), "value": obj},
        {"did": DID, "time_us": 1779719009157119, "kind": "commit", "commit": obj},
    ]
    for shape in shapes:
        line = orjson.dumps(shape)
        if not ARCHIVE.accepts(shape):
            continue
        try:
            results = list(ARCHIVE.read(shape, line, PROVENANCE))
        except NotAPost:
            continue
        for result in results:
            assert isinstance(result, Post | PostDeletion | MappingError)


def test_post_of_keeps_the_event_bytes() -> None:
    record = {"text": "#أين_المعتقلين", "createdAt": "2026-01-01T00:00:00Z"}
    raw = orjson.dumps(event("create", record=record, cid="bafyreix"))
    post = post_of(parse_event(orjson.loads(raw)), raw, PROVENANCE)
    assert bytes(post.raw) == raw and post.hashtags == []  # no facet, no tags: not a hashtag


# A getRecord answer for a like and for a feed generator (shapes of MarshalX/atproto's
# tests/test_atproto_client/models/test_data/extended_like_record.json and feed_record.json),
# and a repost record as listRecords gives it: only posts and reposts are posts.
@pytest.mark.parametrize(
    ("collection", "value", "skipped"),
    [
        ("app.bsky.feed.like", {"subject": {"uri": str(URI), "cid": "bafyreidv"}}, "like"),
        ("app.bsky.feed.generator", {"did": "did:web:feed.example", "displayName": "x"},
         "other-collection"),
    ],
)  # fmt: skip
def test_a_record_of_another_collection_holds_no_post(
    collection: str, value: dict[str, Any], skipped: str
) -> None:
    value = {"$type": collection, **value, "createdAt": "2023-08-26T12:19:50.226623"}
    record = {"uri": f"at://{DID}/{collection}/3k5u5ammyg72r", "cid": "bafyreid", "value": value}
    with pytest.raises(NotAPost, match=skipped):
        read(orjson.dumps(record))
    listed = orjson.dumps({"records": [record]})
    with pytest.raises(NotAPost, match="no-posts"):
        read(listed)


def test_a_repost_record_is_a_repost() -> None:
    value = {"$type": "app.bsky.feed.repost", "subject": {"uri": str(URI), "cid": "bafyreidv"},
             "createdAt": "2023-08-26T12:19:50.226623"}  # fmt: skip
    record = {"uri": f"at://{DID}/app.bsky.feed.repost/3k5u5ammyg72r", "cid": "bafyrei1",
              "value": value}  # fmt: skip
    for line in (orjson.dumps(record), orjson.dumps({"records": [record], "cursor": "x"})):
        [post] = read(line)
        assert isinstance(post, Post)
        assert post.references[0].type == "retweet" and post.references[0].uid == URI.uid
        assert post.author.id == DID and post.text == "" and post.url is None
        assert post.created_at == datetime(2023, 8, 26, 12, 19, 50, 226623, tzinfo=UTC)
        assert bytes(post.raw) == orjson.dumps(record) and post.version == "bafyrei1"


def test_a_feed_item_shown_as_reposted_is_that_repost_too() -> None:
    # A getAuthorFeed / getTimeline item as the appview sends it: the post's view, and the
    # reason it is in the feed (app.bsky.feed.defs#reasonRepost: by, uri, cid, indexedAt).
    reposter = "did:plc:lw5dadzkguntwgkj2jxmulxk"
    view = {"uri": str(URI), "cid": "bafyreiaicb", "indexedAt": "2025-02-06T17:50:34.148Z",
            "author": {"did": DID, "handle": "theferrarilab.bsky.social"},
            "record": {"$type": "app.bsky.feed.post", "text": "#WhereAreTheDetainees",
                       "createdAt": "2025-02-06T17:50:33.851Z", "langs": ["en"],
                       "tags": ["WhereAreTheDetainees"]}}  # fmt: skip
    reason = {"$type": "app.bsky.feed.defs#reasonRepost",
              "by": {"did": reposter, "handle": "daniloc.xyz", "displayName": "Danilo"},
              "uri": f"at://{reposter}/app.bsky.feed.repost/3lhjo3xkuw22e",
              "cid": "bafyreirepost", "indexedAt": "2025-02-06T17:58:31.348Z"}  # fmt: skip
    pinned = {"post": view, "reason": {"$type": "app.bsky.feed.defs#reasonPin"}}
    item = {"post": view, "reason": reason}
    line = orjson.dumps({"feed": [item, pinned], "cursor": "x"})
    original, repost, again = read(line)
    assert original.uid == again.uid == URI.uid
    assert original.author.handle == "theferrarilab.bsky.social"
    assert repost.uid == f"bluesky:{reason['uri']}" and repost.version == "bafyreirepost"
    assert repost.references[0].type == "retweet" and repost.references[0].uid == URI.uid
    assert repost.author == Author(id=reposter, handle="daniloc.xyz", name="Danilo")
    assert repost.created_at == datetime(2025, 2, 6, 17, 58, 31, 348000, tzinfo=UTC)
    assert repost.text == original.text and repost.hashtags == original.hashtags
    assert bytes(repost.raw) == orjson.dumps(item)
    without_uri = {k: v for k, v in reason.items() if k != "uri"}
    older = orjson.dumps({"feed": [{"post": view, "reason": without_uri}]})
    assert [p.uid for p in read(older)] == [URI.uid]  # no repost record named: the post only


def test_a_flat_thread_of_get_post_thread_v2() -> None:
    # app.bsky.unspecced.getPostThreadV2 (lexicon in MarshalX/atproto's lexicons/): the thread
    # is a flat list of items {uri, depth, value}, a post's value holding its view.
    record = {"text": "#WhereAreTheDetainees", "createdAt": "2025-02-06T17:50:33.851Z"}
    view = {"uri": str(URI), "cid": "bafyreiaicb", "indexedAt": "2025-02-06T17:50:34.148Z",
            "author": {"did": DID, "handle": "a.bsky.social"}, "record": record}  # fmt: skip
    post = {"$type": "app.bsky.unspecced.defs#threadItemPost", "post": view,
            "moreParents": False, "moreReplies": 0, "opThread": True}  # fmt: skip
    gone = {"$type": "app.bsky.unspecced.defs#threadItemNotFound"}
    other = str(URI).replace("3kaheyt6vpc22", "3kaheyt6vpc23")
    line = orjson.dumps({"thread": [
        {"uri": other, "depth": -1, "value": gone},
        {"uri": str(URI), "depth": 0, "value": post},
    ], "hasOtherReplies": False})  # fmt: skip
    [found] = read(line)
    assert isinstance(found, Post) and found.uid == URI.uid
    assert bytes(found.raw) == orjson.dumps(view)
