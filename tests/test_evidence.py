"""The record as evidence, end to end: the recorded X payloads replayed through the real
pipeline into SQLite and PostgreSQL, exported, verified clean; then one byte flipped in the
store and one in an exported file, and ``hashwatch verify`` names both and exits 1.

Every expected hash here is computed with hashlib from the files themselves (stdlib ``json``
finds a page item's bytes), never with the pipeline's own code.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
import sys
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import msgspec
import orjson
import pytest

from pipeline.core.settings import Settings
from pipeline.exports import PostFilter, run_export
from pipeline.exports.command import gaps_path_for
from pipeline.exports.manifest import store_label
from pipeline.runner import run_archive
from pipeline.sinks.querying import open_existing, placeholders
from pipeline.sinks.sqlite import SqliteStore
from schemas.post import PostDeletion, Provenance
from tests.fakes.x_api import page_item_bytes

pytestmark = pytest.mark.slow


def edited_line(x_data: Path, folder: Path) -> Path:
    """A stream line of the recordings again, its text edited: the same post, a new version."""
    line = (x_data / "streaming_output_with_error.jsonl").read_bytes().splitlines()[0]
    assert b'"text": "Fury ' in line
    path = folder / "edited_again.jsonl"
    path.write_bytes(line.replace(b'"text": "Fury ', b'"text": "Fury (edited) ') + b"\n")
    return path


def deletion(ident: str) -> PostDeletion:
    raw = b'{"delete": {"status": {"id": "%s"}}}' % ident.encode()
    provenance = Provenance(
        collector="test", version="0", retrieved_at=datetime.now(UTC), source="test"
    )
    return PostDeletion(
        uid=f"x:{ident}",
        platform="x",
        id=ident,
        deleted_at=datetime.now(UTC),
        provenance=provenance.of(raw),
        raw=msgspec.Raw(raw),
    )


def expected_hashes(files: list[Path]) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """SHA-256 of what each post was made from, by uid: whole lines (stream lines, flattened
    lines) and page items (the item's bytes as they stand in the page); and the whole-line
    hashes alone, as ``sha256sum`` of each line would give them."""
    by_uid: dict[str, set[str]] = defaultdict(set)
    lines: dict[str, set[str]] = defaultdict(set)
    for path in files:
        for line in path.read_bytes().splitlines():
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            data = obj.get("data") if isinstance(obj, dict) else None
            if isinstance(obj, dict) and "text" in obj and "id" in obj:  # flattened line
                lines[f"x:{obj['id']}"].add(hashlib.sha256(line).hexdigest())
            elif isinstance(data, dict) and "text" in data:  # stream line
                lines[f"x:{data['id']}"].add(hashlib.sha256(line).hexdigest())
            elif isinstance(data, list):
                for item in page_item_bytes(line):
                    tweet = json.loads(item)
                    if "text" in tweet:
                        by_uid[f"x:{tweet['id']}"].add(hashlib.sha256(item).hexdigest())
    for uid, digests in lines.items():
        by_uid[uid] |= digests
    return by_uid, lines


async def stored_hashes(url: str) -> dict[str, list[str | None]]:
    store = await open_existing(url)
    try:
        out: dict[str, list[str | None]] = defaultdict(list)
        for table in ("posts", "post_versions"):
            for uid, digest in await store.query(f"SELECT uid, sha256 FROM {table}"):
                out[str(uid)].append(None if digest is None else str(digest))
        return out
    finally:
        await store.close()


async def verify(target: str) -> tuple[int, str, str]:
    """``hashwatch verify TARGET`` as people run it: exit status, stdout, stderr."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "pipeline.cli",
        "verify",
        target,
        "--no-progress",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def flip_a_stored_byte(url: str, uid: str) -> None:
    """One byte of the post's stored payload changed (an ASCII letter's case flipped)."""
    store = await open_existing(url)
    try:
        [(raw,)] = await store.query(
            placeholders("SELECT raw FROM posts WHERE uid = ?", store), uid
        )
    finally:
        await store.close()
    if isinstance(store, SqliteStore):
        text = str(raw)
        at = next(i for i, c in enumerate(text) if c.isascii() and c.isalpha())
        with_flip = text[:at] + text[at].swapcase() + text[at + 1 :]
        with sqlite3.connect(store.path) as db:
            db.execute("UPDATE posts SET raw = ? WHERE uid = ?", (with_flip, uid))
        return
    conn = await asyncpg.connect(url.split("?")[0], server_settings={"search_path": _schema(url)})
    try:
        await conn.execute(
            "UPDATE posts SET raw_bytes = set_byte(raw_bytes, 2, get_byte(raw_bytes, 2) # 32) "
            "WHERE uid = $1",
            uid,
        )
    finally:
        await conn.close()


def _schema(url: str) -> str:
    return url.split("schema=", 1)[1]


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, settings: Settings, pg_base: str, schema: str) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{settings.data_dir / 'evidence.db'}"
    return f"{pg_base}?schema={schema}"


async def test_collect_store_export_verify_and_a_flipped_byte_is_named(
    settings: Settings, x_data: Path, store_url: str, tmp_path: Path
) -> None:
    files = [*sorted(x_data.glob("*.json*")), edited_line(x_data, tmp_path)]
    summary = await run_archive(settings.model_copy(update={"store": store_url}), files)
    assert summary.unique == 316
    store = await open_existing(store_url)
    try:
        await store.write_deletions([deletion("1377650090978992134")])
    finally:
        await store.close()

    # Every stored hash is the SHA-256 of the bytes the post was made from.
    expected, lines = expected_hashes(files)
    stored = await stored_hashes(store_url)
    assert len(stored) == 316 and sum(map(len, stored.values())) == 317  # and the edit
    assert {(u, d) for u, ds in stored.items() for d in ds if d not in expected[u]} == set()
    whole = {(u, d) for u, ds in stored.items() for d in ds if d in lines[u]}
    assert len(whole) >= 100  # flattened lines and stream lines: hashes of the whole line
    assert {d for u, d in whole if u == "x:1377650090978992134"} == lines["x:1377650090978992134"]

    # Export, then verify the export and the store: clean.
    out = tmp_path / "export" / "campaign.jsonl"
    out.parent.mkdir()
    store = await open_existing(store_url)
    try:
        result = await run_export(store, "jsonl", out, gaps_path_for(out, "jsonl"), PostFilter())
    finally:
        await store.close()
    assert (result.posts, result.versions, result.deletions) == (316, 1, 1)
    assert (await verify(str(out.parent)))[0] == 0
    code, _, err = await verify(store_url)
    assert code == 0 and "318 checked, 0 differ" in err  # posts, the version, the deletion

    # One byte flipped in the store, one in an exported file: both named, exit status 1.
    victim = sorted(stored)[7]
    await flip_a_stored_byte(store_url, victim)
    code, found, _ = await verify(store_url)
    assert code == 1 and len(found.splitlines()) == 1
    assert found.startswith(f"DIFFERS posts {victim}: ")
    data = bytearray(out.read_bytes())
    data[100] ^= 1
    out.write_bytes(bytes(data))
    code, found, _ = await verify(str(out.parent))
    assert code == 1 and found.startswith("DIFFERS campaign.jsonl: sha256 ")
    assert len(found.splitlines()) == 1


async def test_the_manifest_records_files_rows_query_runs_and_gaps(
    settings: Settings, x_data: Path, tmp_path: Path
) -> None:
    stream = x_data / "streaming_output_with_error.jsonl"
    files = [x_data / "media_tweet.jsonl", stream, edited_line(x_data, tmp_path)]
    await run_archive(settings, files)
    store = await open_existing(settings.store_url())
    out = tmp_path / "e.csv"
    where = PostFilter(since=datetime(2020, 1, 1, tzinfo=UTC))
    try:
        result = await run_export(store, "csv", out, gaps_path_for(out, "csv"), where)
        [(run,)] = await store.query("SELECT DISTINCT collection FROM posts")
    finally:
        await store.close()
    manifest = orjson.loads((tmp_path / "e.manifest.json").read_bytes())
    assert hashlib.sha256((tmp_path / "e.manifest.json").read_bytes()).hexdigest() == (
        result.manifest_sha256
    )
    listed = {f["name"]: f for f in manifest["files"]}
    assert set(listed) == {"e.csv", "e.gaps.csv", "e.versions.csv", "e.deletions.csv"}
    for name, entry in listed.items():
        body = (tmp_path / name).read_bytes()
        assert entry["sha256"] == hashlib.sha256(body).hexdigest()
        assert entry["bytes"] == len(body)
    assert listed["e.csv"]["rows"] == result.posts > 0
    assert listed["e.versions.csv"]["rows"] == result.versions == 1  # the tweet, edited
    since = "2020-01-01T00:00:00+00:00"
    assert manifest["selection"]["options"] == ["--since", since]
    assert manifest["selection"]["posts"] == {
        "sql": "SELECT * FROM posts WHERE created_at >= ? ORDER BY created_at, uid",
        "parameters": [since],
    }
    [collection] = manifest["collections"]
    assert collection["id"] == run and collection["collector"] == "replay"
    assert collection["software"].startswith("hashwatch ") and collection["stopped_at"]
    assert manifest["gaps"] == [] and manifest["posts"]["without_sha256"] == 0

    versions = (tmp_path / "e.versions.csv").read_text().splitlines()
    assert versions[0].split(",")[:3] == ["uid", "version", "edited_at"]
    posts = (tmp_path / "e.csv").read_text()
    assert "hashwatch.sha256" in posts.splitlines()[0] and run in posts


async def test_verify_says_what_it_cannot_check(tmp_path: Path) -> None:
    assert (await verify(str(tmp_path / "nowhere")))[0] == 2
    assert (await verify(str(tmp_path)))[0] == 2  # a folder with no manifest
    (tmp_path / "x.manifest.json").write_text("{}")
    code, _, err = await verify(str(tmp_path))
    assert code == 2 and "not a hashwatch export manifest" in err
    (tmp_path / "x.manifest.json").write_text(
        orjson.dumps(
            {"manifest": "hashwatch-export-manifest/1", "files": [_entry("gone.csv")]}
        ).decode()
    )
    code, found, _ = await verify(str(tmp_path / "x.manifest.json"))
    assert code == 1 and found == "DIFFERS gone.csv: missing\n"
    assert (await verify(f"sqlite:///{tmp_path}/none.db"))[0] == 2


def _entry(name: str) -> dict[str, Any]:
    return {"role": "posts", "name": name, "rows": 1, "bytes": 1, "sha256": "0" * 64}


def test_the_manifest_names_a_store_without_its_credentials() -> None:
    url = "postgresql://hw:s3cret@db.example:5433/evidence?schema=camp&password=other"
    assert store_label(url) == "postgresql://db.example:5433/evidence?schema=camp"
    assert store_label("sqlite:///data/hashwatch.db") == "sqlite:///data/hashwatch.db"
