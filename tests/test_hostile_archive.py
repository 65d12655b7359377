"""``hashwatch run`` over an archive with hostile lines: a record too big for the broker and a
post dated in the year 9999 must not stop the run, lose the other posts or close the windows."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path
from typing import Any

import orjson
import pytest

from agents.publisher import KafkaPublisher
from pipeline.core import kafka
from pipeline.core.settings import Settings
from pipeline.core.topics import Topics
from pipeline.runner import run_archive
from schemas.codec import decode
from schemas.deadletter import HEAD_BYTES as DEAD_LETTER_HEAD
from schemas.deadletter import DeadLetter
from schemas.metrics import MetricsWindow

pytestmark = pytest.mark.slow


def tweet(tweet_id: int, at: str, text: str = "أين المعتقلين #معتقلين", **more: Any) -> bytes:
    data = {"id": str(tweet_id), "text": text, "author_id": "1", "created_at": at, **more}
    return orjson.dumps({"data": data})


def media_tweet(tweet_id: int, keys: int) -> bytes:
    """A tweet whose media list alone makes its record bigger than 1 MB."""
    media = [
        {"media_key": f"3_{i:08d}", "type": "photo", "url": f"https://pbs/{i}.jpg"}
        for i in range(keys)
    ]
    line = {
        "data": {
            "id": str(tweet_id),
            "text": "صور #معتقلين",
            "author_id": "2",
            "created_at": "2024-01-01T00:05:00Z",
            "attachments": {"media_keys": [m["media_key"] for m in media]},
        },
        "includes": {"media": media},
    }
    return orjson.dumps(line)


async def read_all(settings: Settings, topic: str) -> list[bytes]:
    reader = kafka.consumer(
        settings.bootstrap_servers(), group_id=None, auto_offset_reset="earliest"
    )
    await reader.start()
    try:
        reader.subscribe([topic])
        out: list[bytes] = []
        while batch := await reader.getmany(timeout_ms=1500):
            out += [r.value for rs in batch.values() for r in rs if r.value is not None]
        return out
    finally:
        await reader.stop()


async def test_oversized_and_far_future_posts_do_not_stop_the_run(
    settings: Settings, tmp_path: Path
) -> None:
    good = [tweet(100 + i, f"2024-01-01T00:{i // 4:02d}:{i % 4 * 15:02d}Z") for i in range(80)]
    huge_text = tweet(1, "2024-01-01T00:03:00Z", text="#معتقلين " + "ا" * 2_600_000)  # 5 MB
    many_media = media_tweet(2, 12_000)
    year_9999 = tweet(3, "9999-12-31T23:59:59Z")
    archive = tmp_path / "hostile.jsonl"
    archive.write_bytes(b"\n".join([*good[:40], huge_text, many_media, year_9999, *good[40:]]))

    summary = await run_archive(settings, [archive])

    # every good post and the year-9999 one stored; the two giants dead-lettered, not lost
    db = settings.data_dir / "hashwatch.db"
    with sqlite3.connect(db) as conn:
        stored = dict(conn.execute("SELECT uid, time_flag FROM posts").fetchall())
        created = conn.execute("SELECT created_at FROM posts WHERE uid = 'x:3'").fetchone()[0]
    assert set(stored) == {f"x:{100 + i}" for i in range(80)} | {"x:3"}
    assert stored["x:3"] == "future" and created.startswith("9999-12-31")
    assert summary.dead_letter_reasons == {"too-large": 2}
    topics = Topics(settings.topic_prefix)
    letters = {
        d.key: d
        for d in (decode(v, DeadLetter) for v in await read_all(settings, topics.deadletter))
    }
    for uid in ("x:1", "x:2"):
        letter = letters[uid]
        assert letter.reason == "too-large" and len(letter.original) == DEAD_LETTER_HEAD
        assert "1,000,000" in letter.detail  # names the limit it was over
    # the year-9999 post counts in the window of when it was retrieved, and did not close the
    # campaign's windows: all 80 dated posts are in their windows too
    windows = [decode(v, MetricsWindow) for v in await read_all(settings, topics.metrics)]
    final = {w.window_start: w for w in windows if w.final}
    assert len(final) >= 5 and sum(w.posts for w in final.values()) == 81


def test_a_too_large_dead_letter_names_the_hash_of_the_whole() -> None:
    from schemas.deadletter import too_large

    value = b"x" * 2_000_000
    letter = too_large(
        value, 1_000_000, what="post", stage="collector", source="collector", key="x:9"
    )
    assert hashlib.sha256(value).hexdigest() in letter.detail
    assert letter.original == value[:DEAD_LETTER_HEAD] and letter.key == "x:9"
    assert KafkaPublisher  # the publisher is what applies it (tested end to end above)
