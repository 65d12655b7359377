"""The replay collector on its own: formats, gzip, pacing, bad lines."""

from __future__ import annotations

import gzip
import time
from pathlib import Path

import orjson

from agents.replay import ReplayCollector
from agents.testing import ListPublisher


def stream_line(tweet_id: int, at: str) -> bytes:
    return orjson.dumps(
        {"data": {"id": str(tweet_id), "text": "أين المعتقلين", "author_id": "1", "created_at": at}}
    )


async def test_gzipped_archives_replay_like_plain_ones(tmp_path: Path, x_data: Path) -> None:
    plain = x_data / "media_policy_violation_off.jsonl"
    packed = tmp_path / "archive.jsonl.gz"  # named .gz, but detected by its magic bytes
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    a, b = ListPublisher(), ListPublisher()
    await ReplayCollector(a, [plain]).run()
    await ReplayCollector(b, [packed]).run()
    assert [p.uid for p in a.posts] == [p.uid for p in b.posts] and len(a.posts) == 100


async def test_bad_lines_are_dead_lettered_with_reason_and_bytes(tmp_path: Path) -> None:
    archive = tmp_path / "a.jsonl"
    bad = b'{"data": {"id": "7", "text": "cut in the mid'
    no_author = b'{"data": {"id": "8", "text": "x", "created_at": "2024-01-01T00:00:00Z"}}'
    archive.write_bytes(b"\n".join([stream_line(1, "2024-01-01T00:00:00Z"), bad, no_author, b""]))
    pub = ListPublisher()
    stats = await ReplayCollector(pub, [archive]).run()
    assert [p.uid for p in pub.posts] == ["x:1"]
    assert [(d.reason, d.original, d.source) for d in pub.dead_letters] == [
        ("invalid-json", bad, f"{archive}:2"),
        ("not-a-valid-tweet", no_author, f"{archive}:3"),
    ]
    assert stats.read == 3 and stats.dead_lettered == 2 and pub.flushes == 1


async def test_speed_keeps_n_times_the_original_pace(tmp_path: Path) -> None:
    archive = tmp_path / "a.jsonl"
    archive.write_bytes(
        b"\n".join(
            [
                stream_line(1, "2024-01-01T00:00:00Z"),
                stream_line(2, "2024-01-01T00:00:02Z"),
                stream_line(3, "2024-01-01T00:00:04Z"),
            ]
        )
    )
    began = time.monotonic()
    await ReplayCollector(ListPublisher(), [archive], speed=10).run()
    assert 0.38 <= time.monotonic() - began < 1.5  # 4 s of campaign at 10x
    began = time.monotonic()
    await ReplayCollector(ListPublisher(), [archive]).run()
    assert time.monotonic() - began < 0.3  # as fast as possible by default
