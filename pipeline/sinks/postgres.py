"""PostgreSQL store: the SQLite store's tables with native types, written through asyncpg.

URL: ``postgresql://user[:password]@host[:port]/db[?schema=name]``. ``schema`` puts every table
in that schema (created if missing, set as the connections' ``search_path``); without it the
server's default search_path (``public``) is used. Other query parameters go to asyncpg.

- Schema: ``migrations/postgresql/NNNN_name.sql``, applied in order at ``open()`` under an
  advisory lock (so workers starting together apply each once), recorded in
  ``schema_migrations``. Same table and column names as SQLite; times are ``timestamptz``,
  flags ``boolean``, integers ``bigint``, JSON (``raw``, ``media.variants``, the alerts'
  lists) ``jsonb``; keys sort bytewise (``COLLATE "C"``) as in SQLite.
- Writes: each batch is COPYed into per-connection TEMP staging tables and merged with
  ``INSERT … SELECT DISTINCT ON … ON CONFLICT``, all in one transaction, so a redelivered
  record, a retried batch or a duplicate inside a batch never makes a second row; a post's
  ``amplification`` (and a repost's original's) only ever grows. Gaps are upserted by id,
  alerts inserted once by id.
- Evidence: ``raw_bytes`` keeps every post's payload byte for byte, next to its ``sha256``;
  ``raw`` is the same payload as jsonb, the view to query (jsonb's spacing and key order).
- Text PostgreSQL cannot store (NUL characters, lone surrogates, invalid UTF-8, payloads
  jsonb rejects) is cleaned, never a failed batch: NUL is removed and lone surrogates become
  U+FFFD in every column. ``raw`` is the payload as jsonb, cleaned the same way, or a jsonb
  string of its cleaned text when it is not JSON at all (``raw_bytes`` is untouched). Clean
  batches (nearly all) take a fast path with no per-value checks; a batch PostgreSQL refuses
  is cleaned and written again.
- Outages: ``write`` raises (the sink agent retries with backoff and commits no offsets).
  Connections come from a pool that replaces broken ones; a transaction that finds its
  pooled connection dead (the server restarted meanwhile) runs once more on a fresh one, so
  writes resume as soon as the server is back.
- ``query(sql, *args)`` takes PostgreSQL placeholders (``$1``, ``$2``…) and returns tuples:
  times as aware datetimes, jsonb as JSON text, ``raw_bytes`` as bytes.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import re
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, NamedTuple, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg
import msgspec
import orjson

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

log = logging.getLogger(__name__)

T = TypeVar("T")
Transaction = Callable[[asyncpg.Connection], Awaitable[None]]

POOL_SIZE = 4
TIMEOUT = 60.0  # seconds for any one statement or COPY
CONNECT_TIMEOUT = 10.0

_POSTS = POST_COLUMNS
_RAW = POST_COLUMNS.index("raw")
_RAW_BYTES = POST_COLUMNS.index("raw_bytes")
_STAGE = {"posts": "_hw_stage_posts", "media": "_hw_stage_media", "hashtags": "_hw_stage_hashtags"}

# Temp tables live as long as their connection and are emptied at every commit.
_CREATE_STAGING = "\n".join(
    f"CREATE TEMP TABLE IF NOT EXISTS {stage} (LIKE {table}) ON COMMIT DELETE ROWS;"
    for table, stage in _STAGE.items()
)


def _cols(columns: Sequence[str]) -> str:
    return ", ".join(columns)


# One round trip after the COPYs. Posts go in key order so concurrent writers lock them in the
# same order (a writer of the same post then waits for the first, so its media and hashtags
# need no order); a post redelivered with a higher amplification raises it, nothing else.
_MERGE = f"""
INSERT INTO posts ({_cols(_POSTS)})
SELECT DISTINCT ON (uid) {_cols(_POSTS)} FROM {_STAGE["posts"]} ORDER BY uid, amplification DESC
ON CONFLICT (uid) DO UPDATE
SET amplification = GREATEST(posts.amplification, excluded.amplification)
WHERE posts.amplification < excluded.amplification;
INSERT INTO media ({_cols(MEDIA_COLUMNS)})
SELECT {_cols(MEDIA_COLUMNS)} FROM {_STAGE["media"]}
ON CONFLICT (uid, media_key) DO NOTHING;
INSERT INTO hashtags ({_cols(HASHTAG_COLUMNS)})
SELECT {_cols(HASHTAG_COLUMNS)} FROM {_STAGE["hashtags"]}
ON CONFLICT (uid, normalized) DO NOTHING;
"""
# An original's amplification is the highest rank among its stored reposts, whichever of them
# was stored first. Run in its own transaction after the batch's: two workers storing an
# original and its repost at once each miss the other's uncommitted row, but whichever runs
# this last sees both.
_AMPLIFY = """
UPDATE posts SET amplification = r.amplification
FROM (SELECT repost_of, max(amplification) AS amplification FROM posts
      WHERE repost_of = ANY($1::text[]) GROUP BY repost_of) AS r
WHERE posts.uid = r.repost_of AND posts.amplification < r.amplification
"""


def _insert(table: str, columns: Sequence[str]) -> str:
    marks = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
    return f"INSERT INTO {table} ({_cols(columns)}) VALUES ({marks})"


_GAPS = (
    _insert("gaps", GAP_COLUMNS)
    + ' ON CONFLICT (id) DO UPDATE SET "end" = excluded."end", reason = excluded.reason, '
    "recovered = GREATEST(gaps.recovered, excluded.recovered)"
)
_GAP_TIMES = (GAP_COLUMNS.index("start"), GAP_COLUMNS.index('"end"'))
# A run's later record (rules known, stopped) replaces its earlier one, never the reverse.
_COLLECTIONS = (
    _insert("collections", COLLECTION_COLUMNS)
    + " ON CONFLICT (id) DO UPDATE SET rules = excluded.rules, parameters = excluded.parameters,"
    " stopped_at = COALESCE(excluded.stopped_at, collections.stopped_at),"
    " outcome = COALESCE(excluded.outcome, collections.outcome)"
)
_COLLECTION_TIMES = (
    COLLECTION_COLUMNS.index("started_at"),
    COLLECTION_COLUMNS.index("stopped_at"),
)

_ALERTS = (
    f"INSERT INTO alerts ({_cols(ALERT_COLUMNS)}) "
    f"VALUES ({', '.join(f'${i}' for i in range(1, len(ALERT_COLUMNS) + 1))}) "
    "ON CONFLICT (id) DO NOTHING"
)
_ALERT_TIMES = tuple(ALERT_COLUMNS.index(c) for c in ("window_start", "window_end", "raised_at"))
_VERSIONS = _insert("post_versions", VERSION_COLUMNS) + " ON CONFLICT (uid, version) DO NOTHING"
_VERSION_TIMES = (VERSION_COLUMNS.index("edited_at"), VERSION_COLUMNS.index("retrieved_at"))
_EDITED = "UPDATE posts SET edited_at = $1 WHERE uid = $2 AND (edited_at IS NULL OR edited_at < $1)"
_DELETIONS = _insert("deletions", DELETION_COLUMNS) + " ON CONFLICT (uid) DO NOTHING"
_DELETION_TIMES = (DELETION_COLUMNS.index("deleted_at"), DELETION_COLUMNS.index("retrieved_at"))
# A post stored after its deletion was (a late or backfilled post) is marked all the same.
_MEDIA_KEY = MEDIA_COLUMNS.index("media_key")
_HASHTAG_KEY = HASHTAG_COLUMNS.index("normalized")
_STORED = "SELECT uid FROM posts WHERE uid = ANY($1::text[])"
_MARK_DELETED = """
UPDATE posts SET deleted_at = d.deleted_at FROM deletions d
WHERE d.uid = posts.uid AND posts.deleted_at IS NULL
"""

_MIGRATIONS_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""

# A lost race with another writer: worth one immediate retry before the caller's backoff.
_RETRY_ONCE = (asyncpg.DeadlockDetectedError, asyncpg.SerializationError)


class _Mode(enum.Enum):
    """How much a batch is cleaned; the next mode is tried when PostgreSQL refuses one."""

    FAST = "as received"
    CLEAN = "cleaned"
    RAW_AS_TEXT = "cleaned, every payload stored as a JSON string"


class _Rows(NamedTuple):
    posts: list[PostRow]
    media: list[PostRow]
    hashtags: list[PostRow]


class PostgresStore(Store):
    def __init__(self, url: str) -> None:
        self.url = url
        self._dsn, self.schema = _split_url(url)
        self._pool: asyncpg.Pool | None = None

    async def open(self) -> None:
        if self._pool is not None:
            return
        conn = await asyncpg.connect(
            self._dsn, timeout=CONNECT_TIMEOUT, server_settings=self._settings()
        )
        try:
            encoding = await conn.fetchval("SHOW server_encoding")
            if encoding != "UTF8":
                raise StoreError(f"database encoding is {encoding}: hashwatch needs UTF8")
            await _migrate(conn, self.schema)
        finally:
            await conn.close()
        self._pool = await asyncpg.create_pool(
            self._dsn,
            min_size=0,  # no background reconnect loop (and its log noise) in an outage
            max_size=POOL_SIZE,
            timeout=CONNECT_TIMEOUT,
            command_timeout=TIMEOUT,
            server_settings=self._settings(),
            init=_init_connection,
        )

    async def write(self, batch: Sequence[EnrichedPost]) -> None:
        if not batch:
            return
        modes = list(_Mode)
        for mode, fallback in zip(modes, [*modes[1:], None], strict=True):
            try:
                try:
                    await self._transaction(_writer(batch, mode, direct=True))
                except asyncpg.UniqueViolationError:  # another writer stored one meanwhile
                    await self._transaction(_writer(batch, mode, direct=False))
                break
            except (asyncpg.DataError, UnicodeError) as exc:
                if fallback is None:
                    raise
                log.warning(
                    "a batch of %d posts cannot be stored %s (%s: %s); writing it %s",
                    len(batch),
                    mode.value,
                    type(exc).__name__,
                    exc,
                    fallback.value,
                )
        originals = sorted({e.repost_of or e.post.uid for e in batch if not e.edit})
        await self._transaction(lambda conn: conn.execute(_AMPLIFY, originals, timeout=TIMEOUT))

    async def write_deletions(self, deletions: Sequence[PostDeletion]) -> None:
        rows = [_with_times(deletion_row(_scrub(d)), _DELETION_TIMES) for d in deletions]
        if not rows:
            return

        async def work(conn: asyncpg.Connection) -> None:
            await conn.executemany(_DELETIONS, rows)
            await conn.execute(_MARK_DELETED)

        await self._transaction(work)

    async def write_gaps(self, gaps: Sequence[Gap]) -> None:
        rows = [_with_times(gap_row(_scrub(g)), _GAP_TIMES) for g in gaps]
        if rows:
            await self._transaction(lambda conn: conn.executemany(_GAPS, rows))

    async def write_collections(self, collections: Sequence[Collection]) -> None:
        rows = [_with_times(collection_row(_scrub(c)), _COLLECTION_TIMES) for c in collections]
        if rows:
            await self._transaction(lambda conn: conn.executemany(_COLLECTIONS, rows))

    async def write_alerts(self, alerts: Sequence[Alert]) -> None:
        rows = [_with_times(alert_row(_scrub(a)), _ALERT_TIMES) for a in alerts]
        if rows:
            await self._transaction(lambda conn: conn.executemany(_ALERTS, rows))

    async def query(self, sql: str, *args: object) -> list[tuple[object, ...]]:
        rows = await self._transaction(lambda conn: conn.fetch(sql, *args))
        return [tuple(r) for r in rows]

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            try:
                await asyncio.wait_for(pool.close(), CONNECT_TIMEOUT)
            except TimeoutError:
                pool.terminate()

    async def _transaction(self, work: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        """``work`` in a transaction, once more on a fresh connection if the first one turns out
        to have died while idle in the pool (a restarted or failed-over server)."""
        pool = self._require()
        for attempt in (1, 2):
            async with pool.acquire() as conn:
                try:
                    async with conn.transaction():
                        return await work(conn)
                except Exception as exc:
                    if attempt == 2 or not (isinstance(exc, _RETRY_ONCE) or _lost(conn)):
                        raise
                    log.info(
                        "store transaction failed (%s: %s); retrying once",
                        type(exc).__name__,
                        exc,
                    )
        raise AssertionError("unreachable")

    def _settings(self) -> dict[str, str]:
        settings = {"application_name": "hashwatch"}
        if self.schema:
            settings["search_path"] = _quote_ident(self.schema)
        return settings

    def _require(self) -> asyncpg.Pool:
        if self._pool is None:
            raise StoreError("store is not open")
        return self._pool


def _lost(conn: asyncpg.Connection) -> bool:
    try:
        return conn.is_closed()
    except asyncpg.InterfaceError:  # the pool has already let go of the dead connection
        return True


def _split_url(url: str) -> tuple[str, str | None]:
    """The DSN for asyncpg and the ``schema`` query parameter, which asyncpg must not see."""
    parts = urlsplit(url)
    params = parse_qsl(parts.query, keep_blank_values=True)
    schema = next((v for k, v in params if k == "schema"), None) or None
    rest = urlencode([(k, v) for k, v in params if k != "schema"])
    return urlunsplit(parts._replace(query=rest)), schema


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def _migrate(conn: asyncpg.Connection, schema: str | None) -> None:
    """Bring the schema to the latest migration; one worker at a time, each migration once."""
    lock = "SELECT pg_advisory_lock(hashtextextended($1, 0))"
    key = f"hashwatch-migrations:{schema or ''}"
    await conn.execute(lock, key)
    try:
        if schema:
            await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {_quote_ident(schema)}")
        await conn.execute(_MIGRATIONS_TABLE)
        applied = {r[0] for r in await conn.fetch("SELECT version FROM schema_migrations")}
        for version, sql in migrations("postgresql"):
            if version in applied:
                continue
            async with conn.transaction():
                await conn.execute(sql)
                await conn.execute("INSERT INTO schema_migrations (version) VALUES ($1)", version)
            log.info("store schema migrated to version %d", version)
    finally:
        await conn.execute("SELECT pg_advisory_unlock(hashtextextended($1, 0))", key)


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.execute(_CREATE_STAGING)


def _writer(batch: Sequence[EnrichedPost], mode: _Mode, *, direct: bool) -> Transaction:
    return lambda conn: _write_batch(conn, batch, mode, direct)


_TABLES = (("posts", _POSTS), ("media", MEDIA_COLUMNS), ("hashtags", HASHTAG_COLUMNS))


async def _write_batch(
    conn: asyncpg.Connection, batch: Sequence[EnrichedPost], mode: _Mode, direct: bool
) -> None:
    posts = [e for e in batch if not e.edit]
    edits = [e for e in batch if e.edit]
    if posts:
        rows = _prepare(posts, mode)
        if direct:
            new, rows = await _split_new(conn, rows)
            await _copy(conn, new, _TABLES)  # straight in: nothing to merge with
        if rows.posts:
            await _copy(conn, rows, ((_STAGE[t], c) for t, c in _TABLES))
            await conn.execute(_MERGE, timeout=TIMEOUT)
    if edits:
        cleaned = _records(edits, mode)
        versions = [_with_times(version_row(e), _VERSION_TIMES) for e in cleaned]
        await conn.executemany(_VERSIONS, versions, timeout=TIMEOUT)
        edited = [(e.post.edited_at, e.post.uid) for e in edits if e.post.edited_at]
        await conn.executemany(_EDITED, edited, timeout=TIMEOUT)
    await conn.execute(_MARK_DELETED, timeout=TIMEOUT)


async def _copy(
    conn: asyncpg.Connection, rows: _Rows, tables: Iterable[tuple[str, Sequence[str]]]
) -> None:
    for records, (table, columns) in zip(rows, tables, strict=True):
        if records:
            await conn.copy_records_to_table(
                table, records=records, columns=columns, timeout=TIMEOUT
            )


async def _split_new(conn: asyncpg.Connection, rows: _Rows) -> tuple[_Rows, _Rows]:
    """``(new, rest)``: the rows of posts not stored yet and in the batch once, which a COPY
    can put straight into their tables (most of an archive or a live stream), and the rows
    that need the merge (redeliveries, a repost's higher amplification). Copying a post's
    wide row twice (into staging, then into posts) cost the store half its time against a
    bare COPY. If another writer stores one of the new posts meanwhile, the COPY fails on
    its key and the batch is written again through the merge alone."""
    counts = Counter(str(row[0]) for row in rows.posts)
    once = sorted(uid for uid, n in counts.items() if n == 1)  # key order, as the merge locks
    stored = {r[0] for r in await conn.fetch(_STORED, once, timeout=TIMEOUT)}
    new_uids = set(once) - stored
    new = _Rows(
        sorted((r for r in rows.posts if r[0] in new_uids), key=lambda r: str(r[0])),
        _first_by_key((r for r in rows.media if r[0] in new_uids), _MEDIA_KEY),
        _first_by_key((r for r in rows.hashtags if r[0] in new_uids), _HASHTAG_KEY),
    )
    rest = _Rows(*([r for r in table if r[0] not in new_uids] for table in rows))
    return new, rest


def _first_by_key(rows: Iterable[PostRow], key: int) -> list[PostRow]:
    """One row per (uid, ``rows[key]``), the first: what ``ON CONFLICT DO NOTHING`` keeps of
    a post's repeated media key or hashtag."""
    first: dict[tuple[object, object], PostRow] = {}
    for row in rows:
        first.setdefault((row[0], row[key]), row)
    return list(first.values())


def _prepare(batch: Sequence[EnrichedPost], mode: _Mode) -> _Rows:
    """Every row a batch makes, typed for PostgreSQL (the benchmark's bare COPY uses them too);
    ``mode`` says how much to clean."""
    records = _records(batch, mode)
    return _Rows(_post_rows(batch, records, mode), *_child_rows(records))


def _records(batch: Sequence[EnrichedPost], mode: _Mode) -> Sequence[EnrichedPost]:
    return batch if mode is _Mode.FAST else [_scrub(e) for e in batch]


def _post_rows(
    batch: Sequence[EnrichedPost], records: Sequence[EnrichedPost], mode: _Mode
) -> list[PostRow]:
    """Typed rows from the shared mapping in rows.py; ``records`` are ``batch`` as cleaned
    for ``mode``; ``raw_bytes`` is always the payload as received, ``raw`` its jsonb view."""
    if mode is _Mode.FAST:
        return [post_row(e, typed=True) for e in batch]
    out = []
    for e, record in zip(batch, records, strict=True):
        row: list[Any] = list(post_row(record, typed=True))
        raw = bytes(e.post.raw)  # as received, whatever the cleaning did to the record
        row[_RAW] = _clean_raw(raw, as_text=mode is _Mode.RAW_AS_TEXT)
        row[_RAW_BYTES] = raw
        out.append(tuple(row))
    return out


def _child_rows(records: Sequence[EnrichedPost]) -> tuple[list[PostRow], list[PostRow]]:
    media = [row for e in records for row in media_rows(e)]
    hashtags = [row for e in records for row in hashtag_rows(e)]
    return media, hashtags


def _with_times(row: PostRow, times: Sequence[int]) -> list[Any]:
    """A row built for both backends, its ISO text times as datetimes for timestamptz."""
    out = list(row)
    for i in times:
        if out[i] is not None:
            out[i] = datetime.fromisoformat(str(out[i]))
    return out


def _clean_text(s: str) -> str:
    """NUL removed, lone surrogates replaced by U+FFFD (pairs are joined)."""
    if "\x00" in s:
        s = s.replace("\x00", "")
    if s.isascii():
        return s
    return s.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def _scrub(value: Any) -> Any:
    """The record with every string cleaned; ``raw`` is left to ``_clean_raw``."""
    if isinstance(value, str):
        return _clean_text(value)
    if isinstance(value, msgspec.Struct):
        changes = {f: _scrub(getattr(value, f)) for f in value.__struct_fields__}
        return msgspec.structs.replace(value, **changes)
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    if isinstance(value, dict):
        return {_scrub(k): _scrub(v) for k, v in value.items()}
    return value


# JSON escapes jsonb refuses: \u0000 and unpaired surrogates. A pair is matched first and kept;
# any other escape (notably "\\") is matched so that what follows it is not misread.
_JSON_ESCAPE = re.compile(
    r"\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}"
    r"|\\u0000|\\u[dD][89a-fA-F][0-9a-fA-F]{2}|\\.|\x00",
    re.DOTALL,
)


def _fix_escape(m: re.Match[str]) -> str:
    s = m.group()
    if s == "\\u0000" or s == "\x00":
        return ""
    if len(s) == 6 and s[:3].lower() == "\\ud":
        return "\\ufffd"
    return s


def _clean_raw(raw: bytes, *, as_text: bool) -> str:
    """jsonb text for the payload: cleaned of what jsonb refuses, a JSON string if not JSON."""
    text = raw.decode("utf-8", "replace")
    if "\\" in text or "\x00" in text:
        text = _JSON_ESCAPE.sub(_fix_escape, text)
    if not as_text:
        try:
            orjson.loads(text)
        except orjson.JSONDecodeError:
            as_text = True
    if as_text:
        return orjson.dumps(_clean_text(text)).decode()
    return text
