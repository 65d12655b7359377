"""The PostgreSQL store against a real server, each test in a schema of its own.

The server is ``$HASHWATCH_TEST_POSTGRES`` (default: ``postgresql://postgres@127.0.0.1:5432/test``,
then the same as ``root``); the tests skip only when it cannot be reached.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import asyncpg
import msgspec
import pytest

from pipeline.sinks import open_store
from pipeline.sinks.migrate import migrations
from pipeline.sinks.postgres import PostgresStore, _clean_raw, _Mode, _prepare, _split_url
from pipeline.sinks.rows import POST_COLUMNS
from schemas.alert import Alert
from schemas.enriched import EnrichedPost
from schemas.gap import Gap
from schemas.post import Hashtag, Media, MediaVariant
from tests.fakes.tcp_proxy import proxied
from tests.records import NOW
from tests.records import enriched_post as ep


@pytest.fixture
def url(pg_base: str, schema: str) -> str:
    return f"{pg_base}?schema={schema}"


@pytest.fixture
async def store(url: str) -> AsyncIterator[PostgresStore]:
    s = open_store(url)
    assert isinstance(s, PostgresStore)
    await s.open()
    yield s
    await s.close()


async def test_migrations_create_the_tables_once(url: str, schema: str) -> None:
    # Two workers starting at once: the advisory lock lets each migration run exactly once.
    first, second = open_store(url), open_store(url)
    await asyncio.gather(first.open(), second.open())
    tables = await first.query(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = $1 "
        "ORDER BY table_name",
        schema,
    )
    assert tables == [
        ("alerts",),
        ("collections",),
        ("deletions",),
        ("gaps",),
        ("hashtags",),
        ("media",),
        ("post_versions",),
        ("posts",),
        ("schema_migrations",),
    ]
    await first.write([ep("1")])
    await first.close()
    await second.close()
    again = open_store(url)
    await again.open()  # nothing left to apply, rows kept
    assert await again.query("SELECT version FROM schema_migrations ORDER BY 1") == [
        (version,) for version, _ in migrations("postgresql")
    ]
    assert await again.query("SELECT count(*) FROM posts") == [(1,)]
    await again.close()


async def test_redelivered_records_never_make_two_rows(store: PostgresStore) -> None:
    batch = [ep("1"), ep("2"), ep("1")]  # a duplicate inside the batch too
    await store.write(batch)
    await store.write(batch)  # a retried batch never fails on a conflict
    assert await store.query("SELECT uid, lang, created_at FROM posts ORDER BY uid") == [
        ("x:1", "ar", NOW),
        ("x:2", "ar", NOW),
    ]
    assert await store.query("SELECT count(*) FROM media") == [(4,)]
    assert await store.query("SELECT count(*) FROM hashtags") == [(2,)]  # one per post and tag


async def test_a_post_another_writer_stores_meanwhile_goes_through_the_merge(
    store: PostgresStore, url: str, schema: str, pg_base: str
) -> None:
    # New posts are copied straight into their tables; a post another writer (a second worker
    # during a rebalance) stores between the check and the copy makes the copy fail on its
    # key, and the batch is written again through the merge, with nothing lost or doubled.
    other = await asyncpg.connect(pg_base, server_settings={"search_path": schema})
    try:
        other_tx = other.transaction()
        await other_tx.start()
        rows = _prepare([ep("2", amp=1)], _Mode.FAST).posts
        await other.copy_records_to_table("posts", records=rows, columns=POST_COLUMNS)
        write = asyncio.ensure_future(store.write([ep("1"), ep("2", amp=4), ep("3")]))
        await asyncio.sleep(0.5)  # its copy waits on the other writer's uncommitted key
        assert not write.done()
        await other_tx.commit()
        await asyncio.wait_for(write, 10)
    finally:
        await other.close()
    assert await store.query("SELECT uid, amplification FROM posts ORDER BY uid") == [
        ("x:1", 0),
        ("x:2", 4),
        ("x:3", 0),
    ]
    assert await store.query("SELECT count(*) FROM media") == [(6,)]


async def test_duplicates_in_a_batch_keep_the_highest_amplification(store: PostgresStore) -> None:
    await store.write([ep("1", amp=3), ep("1", amp=5), ep("1", amp=4)])
    await store.write([ep("1", amp=2)])  # redelivered later: the count never drops
    assert await store.query("SELECT amplification FROM posts") == [(5,)]


async def test_reposts_raise_the_originals_amplification(store: PostgresStore) -> None:
    await store.write([ep("1")])
    await store.write([ep("2", repost_of="x:1", amp=1), ep("3", repost_of="x:1", amp=2)])
    await store.write([ep("2", repost_of="x:1", amp=1)])
    assert await store.query("SELECT amplification FROM posts WHERE uid = 'x:1'") == [(2,)]
    assert await store.query("SELECT repost_of FROM posts WHERE uid = 'x:3'") == [("x:1",)]
    # an original and its reposts in one batch
    await store.write([ep("4"), ep("5", repost_of="x:4", amp=1), ep("6", repost_of="x:4", amp=2)])
    assert await store.query("SELECT amplification FROM posts WHERE uid = 'x:4'") == [(2,)]


async def test_media_and_hashtag_rows(store: PostgresStore) -> None:
    await store.write([ep("1")])
    media = await store.query(
        "SELECT media_key, type, duration_ms, alt_text, variants->0->>'url' FROM media "
        "WHERE uid = $1 ORDER BY media_key",
        "x:1",
    )
    assert media == [
        ("3_1", "photo", None, "صورة", None),
        ("7_1", "video", 5000, None, "https://v.example/1.mp4"),
    ]
    assert await store.query("SELECT tag, normalized FROM hashtags WHERE uid = 'x:1'") == [
        ("أين_المعتقلين", "اين_المعتقلين")
    ]
    assert await store.query(
        "SELECT media_count, has_video, video_duration_ms, raw->>'id' FROM posts"
    ) == [(2, True, 5000, "1")]


async def test_gaps_are_upserted_by_id(store: PostgresStore) -> None:
    start, end = datetime(2026, 1, 1, 10, tzinfo=UTC), datetime(2026, 1, 1, 11, tzinfo=UTC)
    await store.write_gaps([Gap(id="g1", collector="x", start=start, reason="429")])
    assert await store.query('SELECT "end", recovered FROM gaps') == [(None, 0)]
    closed = Gap(id="g1", collector="x", start=start, end=end, reason="429", recovered=7)
    await store.write_gaps([closed, closed])
    await store.write_gaps(
        [Gap(id="g1", collector="x", start=start, end=end, reason="429", recovered=3)]
    )  # a late, smaller report never lowers it
    assert await store.query('SELECT id, start, "end", recovered FROM gaps') == [
        ("g1", start, end, 7)
    ]


async def test_alerts_are_inserted_once(store: PostgresStore) -> None:
    alert = Alert(
        id="surge:1",
        rule="surge",
        severity="warning",
        subject="اين_المعتقلين",
        summary="3x the usual rate",
        window_start=NOW,
        window_end=NOW,
        value=3.0,
        threshold=2.0,
        examples=["x:1"],
        links=["https://x.com/i/1\x00"],
        raised_at=NOW,
    )
    await store.write_alerts([alert, alert])
    await store.write_alerts([alert])
    assert await store.query(
        "SELECT id, subject, window_start, examples->>0, links->>0 FROM alerts"
    ) == [("surge:1", "اين_المعتقلين", NOW, "x:1", "https://x.com/i/1")]


NUL_RAW = b'{"id": "1", "text": "a\\u0000b"}'
SURROGATE_RAW = b'{"id": "2", "text": "c\\ud800d \\\\ud800 \\ud83d\\ude00"}'
INVALID_UTF8_RAW = b'{"id": "3", "text": "\xff"}'
NOT_JSON_RAW = b"<html>\x00</html>"


@pytest.mark.parametrize(
    ("post", "text", "raw", "original"),
    [
        # NUL in a column and in the payload: both refused by the server
        (ep("1", text="a\x00b", raw=NUL_RAW), "ab", {"id": "1", "text": "ab"}, "a\x00b"),
        # a lone surrogate: refused by asyncpg's encoder (and by jsonb); a pair is kept
        (
            ep("2", text="c\ud800d", raw=SURROGATE_RAW),
            "c\ufffdd",
            {"id": "2", "text": "c\ufffdd \\ud800 😀"},
            "c\ud800d \\ud800 😀",
        ),
        # a payload that is not UTF-8
        (ep("3", raw=INVALID_UTF8_RAW), "نص", {"id": "3", "text": "\ufffd"}, None),
        # \u0000 only in the payload: jsonb refuses it
        (ep("7", raw=b'{"t": "\\u0000"}'), "نص", {"t": ""}, None),
        # a payload that is not JSON: kept as a jsonb string of its cleaned text
        (ep("8", raw=b"not json"), "نص", "not json", None),
        (ep("4", raw=NOT_JSON_RAW), "نص", "<html></html>", None),
    ],
    ids=["nul", "lone-surrogate", "invalid-utf8", "escaped-nul", "not-json", "not-json-nul"],
)
async def test_text_postgresql_cannot_store_is_cleaned_and_the_original_kept(
    store: PostgresStore, post: EnrichedPost, text: str, raw: object, original: str | None
) -> None:
    batch = [ep("5"), post, ep("6")]  # clean posts in the same batch are stored as they are
    await store.write(batch)
    await store.write(batch)  # and again: still one row each
    rows = await store.query("SELECT uid, text, raw, raw_bytes FROM posts ORDER BY uid")
    assert [r[0] for r in rows] == sorted([post.post.uid, "x:5", "x:6"])
    [(_, stored_text, stored_raw, raw_bytes)] = [r for r in rows if r[0] == post.post.uid]
    clean = [r for r in rows if r[0] != post.post.uid]
    assert stored_text == text
    assert isinstance(stored_raw, str) and json.loads(stored_raw) == raw
    assert raw_bytes == bytes(post.post.raw)  # the original, byte for byte
    if original is not None:
        assert json.loads(bytes(post.post.raw))["text"] == original
    assert [(json.loads(str(r[2])), r[3]) for r in clean] == [
        ({"id": "5"}, b'{"id": "5"}'),  # every post's bytes are kept, not only cleaned ones
        ({"id": "6"}, b'{"id": "6"}'),
    ]


async def test_dirty_media_and_hashtags_are_cleaned(store: PostgresStore) -> None:
    post = ep("1")
    dirty = msgspec.structs.replace(
        post.post,
        media=[
            Media(
                key="k\x00",
                type="photo",
                alt_text="\ud800",
                variants=[MediaVariant(url="https://v.example/\x00.mp4")],
            )
        ],
        hashtags=[Hashtag(tag="a\x00b", normalized="ab\udfff")],
    )
    await store.write([msgspec.structs.replace(post, post=dirty)])
    assert await store.query("SELECT media_key, alt_text, variants->0->>'url' FROM media") == [
        ("k", "\ufffd", "https://v.example/.mp4")
    ]
    assert await store.query("SELECT tag, normalized FROM hashtags") == [("ab", "ab\ufffd")]


def test_a_payload_jsonb_might_still_refuse_can_be_kept_as_a_string() -> None:
    # The last resort, should PostgreSQL refuse a payload the client took for JSON.
    assert _clean_raw(b'{"n": 1}', as_text=False) == '{"n": 1}'
    assert _clean_raw(b'{"n": 1}', as_text=True) == '"{\\"n\\": 1}"'
    assert _clean_raw(b'"\\\\u0000 \\u0000"', as_text=False) == '"\\\\u0000 "'


async def test_an_outage_fails_writes_until_the_database_is_back(pg_base: str, schema: str) -> None:
    proxy, via_proxy = await proxied(pg_base)
    store = open_store(f"{via_proxy}?schema={schema}")
    await store.open()
    await store.write([ep("1"), ep("2")])
    await proxy.stop()
    for attempt in range(3):  # the sink agent keeps retrying while the database is away
        with pytest.raises((OSError, asyncpg.PostgresError, asyncpg.InterfaceError)):
            await store.write([ep(f"{3 + attempt}")])
    await proxy.start()  # same port: the database is back
    await store.write([ep("3"), ep("4"), ep("5")])
    assert await store.query("SELECT count(*) FROM posts") == [(5,)]
    assert await store.query("SELECT count(*) FROM media") == [(10,)]
    await store.close()
    await proxy.stop()


async def _terminate_backend(store: PostgresStore, admin_url: str) -> None:
    [(pid,)] = await store.query("SELECT pg_backend_pid()")
    admin = await asyncpg.connect(admin_url)
    assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
    await admin.close()


async def test_terminated_connections_do_not_poison_later_writes(
    store: PostgresStore,
    pg_base: str,
) -> None:
    # A server restart kills the pooled connection while it is idle; the next write (or read)
    # finds out and is done again on a fresh connection, staging tables and all.
    await store.write([ep("1")])
    await _terminate_backend(store, pg_base)
    await store.write([ep("2")])
    await _terminate_backend(store, pg_base)
    assert await store.query("SELECT uid FROM posts ORDER BY uid") == [("x:1",), ("x:2",)]


def test_the_schema_parameter_is_kept_from_asyncpg() -> None:
    assert _split_url("postgresql://u:p%40ss@db:5433/hw?schema=Camp_1&sslmode=disable") == (
        "postgresql://u:p%40ss@db:5433/hw?sslmode=disable",
        "Camp_1",
    )
    assert _split_url("postgres://db/hw") == ("postgres://db/hw", None)
