"""The SQLite store: the embedded default, idempotent by uid."""

from __future__ import annotations

from pathlib import Path

from pipeline.sinks import open_store
from tests.records import enriched_post as ep


async def test_redelivered_records_never_make_two_rows(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path}/s.db")
    await store.open()
    batch = [ep("1"), ep("2"), ep("1")]
    await store.write(batch)
    await store.write(batch)
    assert await store.query("SELECT uid, lang FROM posts ORDER BY uid") == [
        ("x:1", "ar"),
        ("x:2", "ar"),
    ]
    assert await store.query(
        "SELECT uid, media_key, type FROM media WHERE uid = 'x:1' ORDER BY media_key"
    ) == [("x:1", "3_1", "photo"), ("x:1", "7_1", "video")]
    assert await store.query("SELECT count(*) FROM hashtags") == [(2,)]  # one per post and tag
    await store.close()


async def test_reposts_raise_the_originals_amplification(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path}/s.db")
    await store.open()
    await store.write([ep("1")])
    await store.write([ep("2", repost_of="x:1", amp=1), ep("3", repost_of="x:1", amp=2)])
    await store.write([ep("2", repost_of="x:1", amp=1)])  # redelivered: the count never drops
    assert await store.query("SELECT amplification FROM posts WHERE uid = 'x:1'") == [(2,)]
    assert await store.query("SELECT repost_of FROM posts WHERE uid = 'x:3'") == [("x:1",)]
    await store.close()


async def test_reopening_an_existing_store_keeps_its_rows(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/s.db"
    store = open_store(url)
    await store.open()
    await store.write([ep("1")])
    await store.close()
    again = open_store(url)
    await again.open()  # migrations already applied: nothing is re-run
    assert await again.query("SELECT count(*) FROM posts") == [(1,)]
    await again.close()
