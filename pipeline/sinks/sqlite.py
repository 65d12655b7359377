"""SQLite store: the embedded default, one file under ./hashwatch-data/."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from pathlib import Path

from pipeline.sinks.base import Store, StoreError
from pipeline.sinks.migrate import migrations
from pipeline.sinks.rows import (
    ALERT_COLUMNS,
    COLLECTION_COLUMNS,
    DELETION_COLUMNS,
    GAP_COLUMNS,
    HASHTAG_COLUMNS,
    MEDIA_COLUMNS,
    POST_COLUMNS,
    VERSION_COLUMNS,
    PostRow,
    alert_row,
    collection_row,
    deletion_row,
    gap_row,
    hashtag_rows,
    media_rows,
    post_row,
    version_row,
)
from schemas.alert import Alert
from schemas.collection import Collection
from schemas.enriched import EnrichedPost
from schemas.gap import Gap
from schemas.post import PostDeletion


def _upsert(table: str, columns: Sequence[str], key: Sequence[str], update: str) -> str:
    marks = ", ".join("?" for _ in columns)
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks}) "
        f"ON CONFLICT ({', '.join(key)}) DO {update}"
    )


# A redelivered post changes nothing but the amplification count, which only grows.
_POSTS = _upsert(
    "posts",
    POST_COLUMNS,
    ["uid"],
    "UPDATE SET amplification = MAX(posts.amplification, excluded.amplification)",
)
_MEDIA = _upsert("media", MEDIA_COLUMNS, ["uid", "media_key"], "NOTHING")
_HASHTAGS = _upsert("hashtags", HASHTAG_COLUMNS, ["uid", "normalized"], "NOTHING")
_GAPS = _upsert(
    "gaps",
    GAP_COLUMNS,
    ["id"],
    'UPDATE SET "end" = excluded."end", reason = excluded.reason, '
    "recovered = MAX(gaps.recovered, excluded.recovered)",
)
# A run's later record (rules known, stopped) replaces its earlier one, never the reverse.
_COLLECTIONS = _upsert(
    "collections",
    COLLECTION_COLUMNS,
    ["id"],
    "UPDATE SET rules = excluded.rules, parameters = excluded.parameters, "
    "stopped_at = COALESCE(excluded.stopped_at, collections.stopped_at), "
    "outcome = COALESCE(excluded.outcome, collections.outcome)",
)
_ALERTS = _upsert("alerts", ALERT_COLUMNS, ["id"], "NOTHING")
_VERSIONS = _upsert("post_versions", VERSION_COLUMNS, ["uid", "version"], "NOTHING")
_EDITED = "UPDATE posts SET edited_at = ? WHERE uid = ? AND (edited_at IS NULL OR edited_at < ?)"
_DELETIONS = _upsert("deletions", DELETION_COLUMNS, ["uid"], "NOTHING")
# A post stored after its deletion was (a late or backfilled post) is marked all the same.
_MARK_DELETED = (
    "UPDATE posts SET deleted_at = (SELECT d.deleted_at FROM deletions d WHERE d.uid = posts.uid) "
    "WHERE deleted_at IS NULL AND uid IN (SELECT uid FROM deletions)"
)
# An original's amplification is the highest rank among its stored reposts, whichever of the
# original and its reposts was stored first.
_AMPLIFY = (
    "UPDATE posts SET amplification = MAX(amplification, "
    "(SELECT COALESCE(MAX(r.amplification), 0) FROM posts r WHERE r.repost_of = posts.uid)) "
    "WHERE uid = ?"
)


class SqliteStore(Store):
    def __init__(self, url: str) -> None:
        self.url = url
        path = url.removeprefix("sqlite://")
        if not path.startswith("/"):
            raise StoreError(f"sqlite URL needs an absolute path (sqlite:///...): {url!r}")
        self.path = Path(path)
        self._db: sqlite3.Connection | None = None
        self._lock = asyncio.Lock()

    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = await asyncio.to_thread(self._connect)

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA foreign_keys=OFF")  # reposts may point at originals not collected
        version = db.execute("PRAGMA user_version").fetchone()[0]
        for number, sql in migrations("sqlite"):
            if number > version:
                db.executescript(f"BEGIN;\n{sql}\nPRAGMA user_version={number};\nCOMMIT;")
        return db

    async def write(self, batch: Sequence[EnrichedPost]) -> None:
        if batch:
            async with self._lock:
                await asyncio.to_thread(self._write, batch)

    def _write(self, batch: Sequence[EnrichedPost]) -> None:
        db = self._require()
        posts = [e for e in batch if not e.edit]
        edits = [e for e in batch if e.edit]
        db.execute("BEGIN")
        try:
            db.executemany(_POSTS, [post_row(e) for e in posts])
            db.executemany(_MEDIA, [row for e in posts for row in media_rows(e)])
            db.executemany(_HASHTAGS, [row for e in posts for row in hashtag_rows(e)])
            originals = sorted({e.repost_of or e.post.uid for e in posts})
            db.executemany(_AMPLIFY, [(uid,) for uid in originals])
            if edits:
                db.executemany(_VERSIONS, [version_row(e) for e in edits])
                db.executemany(_EDITED, [_edited(e) for e in edits if e.post.edited_at])
            db.execute(_MARK_DELETED)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    async def write_deletions(self, deletions: Sequence[PostDeletion]) -> None:
        rows = [deletion_row(d) for d in deletions]
        if rows:
            async with self._lock:
                await asyncio.to_thread(self._write_deletions, rows)

    def _write_deletions(self, rows: list[PostRow]) -> None:
        db = self._require()
        db.execute("BEGIN")
        try:
            db.executemany(_DELETIONS, rows)
            db.execute(_MARK_DELETED)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    async def write_gaps(self, gaps: Sequence[Gap]) -> None:
        rows = [gap_row(g) for g in gaps]
        async with self._lock:
            await asyncio.to_thread(self._require().executemany, _GAPS, rows)

    async def write_collections(self, collections: Sequence[Collection]) -> None:
        rows = [collection_row(c) for c in collections]
        async with self._lock:
            await asyncio.to_thread(self._require().executemany, _COLLECTIONS, rows)

    async def write_alerts(self, alerts: Sequence[Alert]) -> None:
        rows = [alert_row(a) for a in alerts]
        async with self._lock:
            await asyncio.to_thread(self._require().executemany, _ALERTS, rows)

    async def query(self, sql: str, *args: object) -> list[tuple[object, ...]]:
        async with self._lock:
            return await asyncio.to_thread(lambda: self._require().execute(sql, args).fetchall())

    async def close(self) -> None:
        db, self._db = self._db, None
        if db is not None:
            await asyncio.to_thread(db.close)

    def _require(self) -> sqlite3.Connection:
        if self._db is None:
            raise StoreError("store is not open")
        return self._db


def _edited(e: EnrichedPost) -> tuple[str, str, str]:
    when = e.post.edited_at.isoformat() if e.post.edited_at else ""
    return when, e.post.uid, when
