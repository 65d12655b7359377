"""The SQLite store: the embedded default, idempotent by uid."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import msgspec

from pipeline.media_tags import summarize
from pipeline.sinks import open_store
from schemas.enriched import EnrichedPost, Language
from schemas.post import Author, Hashtag, Media, Post, Provenance

NOW = datetime(2026, 1, 1, tzinfo=UTC)
PROV = Provenance(collector="t", version="0", retrieved_at=NOW, source="t")


def ep(pid: str, repost_of: str | None = None, amp: int = 0) -> EnrichedPost:
    media = [Media(key=f"3_{pid}", type="photo"), Media(key=f"7_{pid}", type="video")]
    post = Post(
        uid=f"x:{pid}",
        platform="x",
        id=pid,
        author=Author(id="1"),
        created_at=NOW,
        text="نص",
        media=media,
        provenance=PROV,
        raw=msgspec.Raw(b'{"id": "%s"}' % pid.encode()),
        hashtags=[
            Hashtag(tag="أين_المعتقلين", normalized="اين_المعتقلين"),
            Hashtag(tag="اين_المعتقلين", normalized="اين_المعتقلين"),
        ],
    )
    return EnrichedPost(
        post=post,
        language=Language(code="ar", confidence=0.9, backend="t"),
        media=summarize(media),
        repost_of=repost_of,
        amplification=amp,
        processed_at=NOW,
    )


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
