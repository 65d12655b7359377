"""Exports of a real ``hashwatch run`` over the recorded X payloads, read back the way people do.

JSONL must go back through ``hashwatch run`` unchanged; CSV and Parquet must load in pandas
with twarc-csv's columns; filters and gaps must select what they say.
"""

from __future__ import annotations

import itertools
import os
import shutil
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import pytest_asyncio
from click.testing import CliRunner

from pipeline.core.broker import EmbeddedBroker
from pipeline.core.settings import Settings
from pipeline.exports import PostFilter, export_command, run_export
from pipeline.exports.command import gaps_path_for, load_format
from pipeline.exports.reader import iter_pages
from pipeline.exports.twarc import TWEET_COLUMNS
from pipeline.runner import Summary, run_archive
from pipeline.sinks.querying import open_existing
from schemas.gap import Gap

pytestmark = pytest.mark.slow
TWARC_NAMES = [name for name, _ in TWEET_COLUMNS]
_prefixes = itertools.count()


@dataclass
class Archive:
    settings: Settings
    summary: Summary
    db: Path

    @property
    def url(self) -> str:
        return f"sqlite:///{self.db}"

    def rows(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.db) as conn:
            return conn.execute(sql, args).fetchall()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def archive(
    broker: EmbeddedBroker, x_data: Path, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Archive]:
    """One run over every recorded file, shared by the tests that only read its store."""
    await broker.wait_ready()
    data = tmp_path_factory.mktemp("export-archive")
    settings = Settings(
        broker=broker.url,
        data_dir=data,
        topic_prefix=f"exp{next(_prefixes)}-{os.getpid()}",
        lang_backend="langdetect",
        batch_seconds=0.05,
    )
    summary = await run_archive(settings, sorted(x_data.glob("*.json*")))
    yield Archive(settings, summary, data / "hashwatch.db")


async def export(url: str, fmt: str, path: Path, where: PostFilter | None = None) -> int:
    store = await open_existing(url)
    try:
        ext = load_format(fmt).extension
        result = await run_export(store, fmt, path, gaps_path_for(path, ext), where or PostFilter())
    finally:
        await store.close()
    return result.posts


POSTS_SQL = (
    "SELECT uid, repost_of, quote_of, reply_to, author_id, created_at, text, platform_lang, "
    "possibly_sensitive, raw, sha256 FROM posts"
)
MEDIA_SQL = "SELECT * FROM media"


async def test_jsonl_export_fed_back_to_run_gives_the_same_posts(
    archive: Archive, settings: Settings, tmp_path: Path
) -> None:
    out = tmp_path / "campaign.jsonl"
    assert await export(archive.url, "jsonl", out) == archive.summary.unique == 316

    again = await run_archive(settings, [out])

    assert again.dead_lettered == 0 and again.skipped == {}  # every line is a post, as written
    assert again.unique == again.posts == archive.summary.unique
    second = settings.data_dir / "hashwatch.db"
    with sqlite3.connect(second) as conn:
        posts = set(conn.execute(POSTS_SQL).fetchall())
        media = set(conn.execute(MEDIA_SQL).fetchall())
        tags = set(conn.execute("SELECT * FROM hashtags").fetchall())
    assert posts == set(archive.rows(POSTS_SQL))  # same uids, references, bytes and hashes
    assert {p[1] for p in posts if p[1]} and media  # reposts and media were really compared
    assert media == set(archive.rows(MEDIA_SQL))
    assert tags == set(archive.rows("SELECT * FROM hashtags"))
    assert out.with_name("campaign.gaps.jsonl").read_bytes() == b""  # written, though empty


async def test_csv_and_parquet_load_in_pandas_with_twarc_csv_columns(
    archive: Archive, tmp_path: Path
) -> None:
    assert await export(archive.url, "csv", tmp_path / "c.csv") == 316
    assert await export(archive.url, "parquet", tmp_path / "c.parquet") == 316
    ids = {n: str for n in TWARC_NAMES if n == "id" or n.endswith(("_id", ".id"))}
    csv = pd.read_csv(tmp_path / "c.csv", dtype=ids)  # ids as text, as with any twarc CSV
    parquet = pd.read_parquet(tmp_path / "c.parquet")

    for frame in (csv, parquet):
        assert list(frame.columns[: len(TWARC_NAMES)]) == TWARC_NAMES
        assert {
            "hashwatch.lang",
            "hashwatch.repost_of",
            "hashwatch.cluster_id",
            "hashwatch.amplification",
        } <= set(frame.columns)
        assert len(frame) == 316 and frame["id"].is_unique
    stored = dict(archive.rows("SELECT uid, repost_of FROM posts"))
    assert set(csv["hashwatch.uid"]) == set(stored) == {f"x:{i}" for i in parquet["id"]}
    assert (csv["hashwatch.uid"] == "x:" + csv["id"]).all()
    reposts = csv[csv["hashwatch.repost_of"].notna()]
    assert dict(zip(reposts["hashwatch.uid"], reposts["hashwatch.repost_of"], strict=True)) == {
        k: v for k, v in stored.items() if v
    }
    assert ("x:" + reposts["referenced_tweets.retweeted.id"]).tolist() == (
        reposts["hashwatch.repost_of"].tolist()
    )
    # twarc-csv conventions: a retweet shows its original's text, entities are "#tag" lists.
    merged = reposts[reposts["retweeted_username"].notna()]
    assert len(merged) > 50 and not merged["text"].str.startswith("RT @").any()
    tags = csv["entities.hashtags"].dropna().map(orjson.loads)
    assert len(tags) > 20 and all(t.startswith("#") for row in tags for t in row)

    # Arabic text arrives intact (CSV turns line breaks into "\n", as twarc-csv does).
    texts = dict(archive.rows("SELECT uid, text FROM posts WHERE lang = 'ar'"))
    arabic = csv[csv["hashwatch.lang"] == "ar"].set_index("hashwatch.uid")["hashwatch.text"]
    assert len(arabic) >= 5
    assert arabic.to_dict() == {
        k: v.replace("\r", "").replace("\n", "\\n") for k, v in texts.items()
    }
    assert parquet.set_index("hashwatch.uid").loc[list(texts), "hashwatch.text"].to_dict() == texts

    schema = pq.read_schema(tmp_path / "c.parquet")
    assert schema.field("created_at").type == pa.timestamp("us", tz="UTC")
    assert schema.field("public_metrics.retweet_count").type == pa.int64()
    assert schema.field("possibly_sensitive").type == pa.bool_()
    assert schema.field("hashwatch.hashtags").type == pa.list_(pa.string())
    assert (
        pd.to_datetime(csv["created_at"]).tolist() == parquet["created_at"].tolist()
    )  # same instants in both formats
    assert parquet["public_metrics.retweet_count"].notna().sum() > 300

    gaps_csv = pd.read_csv(tmp_path / "c.gaps.csv")
    assert list(gaps_csv.columns) == ["id", "collector", "start", "end", "reason", "recovered"]
    assert len(gaps_csv) == 0 and pd.read_parquet(tmp_path / "c.gaps.parquet").empty


async def test_filters_select_by_language_hashtag_spelling_and_time(
    archive: Archive, tmp_path: Path
) -> None:
    def uids(path: Path) -> set[str]:
        return {_uid(line) for line in path.read_bytes().splitlines()}

    en = {r[0] for r in archive.rows("SELECT uid FROM posts WHERE lang = 'en'")}
    await export(archive.url, "jsonl", tmp_path / "en.jsonl", PostFilter(langs=("en",)))
    assert uids(tmp_path / "en.jsonl") == en and 0 < len(en) < 316

    tag, count = archive.rows(
        "SELECT normalized, count(*) FROM hashtags GROUP BY 1 ORDER BY 2 DESC LIMIT 1"
    )[0]
    tagged = {r[0] for r in archive.rows("SELECT uid FROM hashtags WHERE normalized = ?", tag)}
    spelled = "#" + tag.upper()  # as someone would type it
    await export(archive.url, "jsonl", tmp_path / "t.jsonl", PostFilter(hashtags=(spelled,)))
    assert uids(tmp_path / "t.jsonl") == tagged and count >= 2

    times = sorted(r[0] for r in archive.rows("SELECT created_at FROM posts"))
    since, until = (datetime.fromisoformat(times[i]) for i in (100, 200))
    window = PostFilter(since=since, until=until)
    await export(archive.url, "jsonl", tmp_path / "w.jsonl", window)
    expected = {
        r[0]
        for r in archive.rows(
            "SELECT uid, created_at FROM posts WHERE created_at >= ? AND created_at < ?",
            since.isoformat(),
            until.isoformat(),
        )
    }
    assert uids(tmp_path / "w.jsonl") == expected
    assert len(expected) == sum(1 for t in times if times[100] <= t < times[200])


def _uid(line: bytes) -> str:
    obj = orjson.loads(line)
    data = obj.get("data", obj)
    return "x:" + (data[0] if isinstance(data, list) else data)["id"]


async def test_pages_cover_every_post_once_in_time_order(archive: Archive) -> None:
    store = await open_existing(archive.url)
    try:
        seen = [p async for page in iter_pages(store, PostFilter(), page_size=7) for p in page]
    finally:
        await store.close()
    keys = [(p.created_at, p.uid) for p in seen]
    assert keys == sorted(keys) and len(set(keys)) == len(keys) == 316
    # Ties on created_at exist, so paging really had to use the uid as tie-breaker.
    assert len({p.created_at for p in seen}) < 316
    with_media = [p for p in seen if p.media]
    assert sum(len(p.media) for p in seen) == archive.rows("SELECT count(*) FROM media")[0][0]
    assert all(p.media_count == len(p.media) for p in with_media)


async def test_gaps_overlapping_the_range_go_along_and_open_ones_say_so(
    archive: Archive, tmp_path: Path
) -> None:
    db = tmp_path / "copy.db"
    shutil.copy(archive.db, db)
    url = f"sqlite:///{db}"
    t0 = datetime(2021, 4, 1, tzinfo=UTC)
    gaps = [
        Gap(
            id="x-stream@early",
            collector="x-stream",
            start=t0 - timedelta(days=30),
            end=t0 - timedelta(days=29),
            reason="rate limited",
            recovered=3,
        ),
        Gap(
            id="x-stream@in",
            collector="x-stream",
            start=t0 + timedelta(hours=1),
            end=t0 + timedelta(hours=2),
            reason="network: تعذر الاتصال\nretrying",
            recovered=0,
        ),
        Gap(
            id="x-stream@open",
            collector="x-stream",
            start=t0 + timedelta(days=3),
            reason="token revoked",
        ),
    ]
    store = await open_existing(url)
    try:
        await store.write_gaps(gaps)
        result = await run_export(
            store,
            "csv",
            tmp_path / "g.csv",
            tmp_path / "g.gaps.csv",
            PostFilter(since=t0),
        )
    finally:
        await store.close()
    assert result.gaps == 2 and result.open_gaps == 1
    frame = pd.read_csv(tmp_path / "g.gaps.csv")
    assert frame["id"].tolist() == ["x-stream@in", "x-stream@open"]
    assert frame["end"].isna().tolist() == [False, True]
    assert frame["reason"][0] == "network: تعذر الاتصال\\nretrying"


def test_cli_writes_both_files_and_refuses_what_would_lose_the_gaps(
    archive: Archive, tmp_path: Path
) -> None:
    runner = CliRunner()
    out = tmp_path / "ar.csv"
    ok = runner.invoke(
        export_command,
        ["--store", archive.url, "--output", str(out), "--lang", "ar", "--no-progress"],
    )
    assert ok.exit_code == 0, ok.output
    assert len(pd.read_csv(out)) == archive.rows("SELECT count(*) FROM posts WHERE lang='ar'")[0][0]
    assert (tmp_path / "ar.gaps.csv").exists()
    assert "exported" in ok.stderr and "ar.gaps.csv" in ok.stderr
    assert not list(tmp_path.glob(".*.part"))

    to_stdout = runner.invoke(export_command, ["--store", archive.url, "--output", "-"])
    assert to_stdout.exit_code == 2 and "--gaps" in to_stdout.output

    missing = runner.invoke(
        export_command, ["--store", f"sqlite:///{tmp_path}/none.db", "-o", str(tmp_path / "x")]
    )
    assert missing.exit_code == 1 and "no store at" in missing.output
    assert not (tmp_path / "none.db").exists() and not (tmp_path / "x").exists()


async def test_postgresql_store_exports_the_same_as_sqlite(
    archive: Archive, settings: Settings, x_data: Path, pg_base: str, schema: str, tmp_path: Path
) -> None:
    pg_url = f"{pg_base}?schema={schema}"  # the conftest's server, a schema of this test's own
    files = [x_data / n for n in ("kpop.jsonl", "media_policy_violation_off.jsonl")]
    settings = settings.model_copy(update={"store": pg_url})
    summary = await run_archive(settings, files)
    assert summary.unique == 200

    for fmt in ("jsonl", "csv"):
        assert await export(pg_url, fmt, tmp_path / f"pg.{fmt}") == 200
        assert await export(archive.url, fmt, tmp_path / f"lite.{fmt}") == 316
    pg = {
        _uid(line): orjson.loads(line) for line in (tmp_path / "pg.jsonl").read_bytes().splitlines()
    }
    lite = {
        _uid(ln): orjson.loads(ln) for ln in (tmp_path / "lite.jsonl").read_bytes().splitlines()
    }
    assert pg == {uid: lite[uid] for uid in pg}
    lite_lines = set((tmp_path / "lite.jsonl").read_bytes().splitlines())
    assert set((tmp_path / "pg.jsonl").read_bytes().splitlines()) <= lite_lines  # byte for byte

    keep = [
        *TWARC_NAMES,
        "hashwatch.uid",
        "hashwatch.repost_of",
        "hashwatch.hashtags",
        "hashwatch.media_types",
        "hashwatch.text",
        "hashwatch.has_video",
    ]
    pg_csv = pd.read_csv(tmp_path / "pg.csv", dtype=str)[keep].set_index("hashwatch.uid")
    lite_csv = pd.read_csv(tmp_path / "lite.csv", dtype=str)[keep].set_index("hashwatch.uid")
    pd.testing.assert_frame_equal(pg_csv.sort_index(), lite_csv.loc[pg_csv.index].sort_index())

    # Placeholders, time parameters and the hashtag subquery in PostgreSQL's dialect.
    tag = archive.rows(
        "SELECT normalized FROM hashtags WHERE uid IN (SELECT uid FROM posts WHERE id IN "
        f"({', '.join(repr(u[2:]) for u in pg)})) GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"
    )[0][0]
    times = sorted(
        datetime.fromisoformat(r[0]) for r in archive.rows("SELECT created_at FROM posts")
    )
    where = PostFilter(
        since=times[50], until=times[250], hashtags=(tag.upper(),), langs=("en", "ar", "ko")
    )
    n_pg = await export(pg_url, "parquet", tmp_path / "pg.parquet", where)
    await export(archive.url, "parquet", tmp_path / "lite.parquet", where)
    lite_uids = set(pd.read_parquet(tmp_path / "lite.parquet")["hashwatch.uid"]) & set(pg)
    assert set(pd.read_parquet(tmp_path / "pg.parquet")["hashwatch.uid"]) == lite_uids
    assert n_pg == len(lite_uids) > 0
