"""Store write throughput: PostgresStore.write against a bare asyncpg COPY of the same rows.

Run: .venv/bin/python bench/store_bench.py [--posts N] [--rounds N] [--url postgresql://...]

Posts come from the seeded synthetic campaign (``SynthConfig(seed=1)``: retweet storms,
copy-paste bursts, media, ~2 % redelivered duplicates), wrapped as the pipeline would wrap
them (reposts point at their original with a running amplification count). Each method
writes all of them in batches of 500 into a fresh schema of its own, created by the store's
migrations (same tables, keys and indexes), dropped afterwards:

- store:       ``PostgresStore.write(batch)``: row mapping, COPY into staging, merge of
               posts, media and hashtags, amplification, one transaction per batch.
- bare:        ``copy_records_to_table`` of the same rows (posts, media, hashtags) straight
               into their tables, one transaction per batch: the store's own typed rows,
               built before the clock starts, duplicates dropped (a bare COPY cannot take a
               key twice; that is what the store's staging and merge are for).
- bare-posts:  the same, posts rows only. Shown for reference: the store writes about 2.3
               media and hashtag rows per post on top, which this COPY leaves out.
- sqlite:      ``SqliteStore.write(batch)``, for comparison.

Rates are posts per second, the median over ``--rounds`` rounds (the order of the methods
rotates between rounds); a ratio is the median of the rounds' ratios, each taken under the
same load. Target: store >= 0.5 x bare (same rows). Exit status 1 on a miss.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import asyncpg

from agents.synth.collector import SynthConfig, SynthStream
from pipeline.enrich.media import summarize
from pipeline.sinks.postgres import _POSTS, PostgresStore, _Mode, _prepare
from pipeline.sinks.postgres import _Rows as Rows
from pipeline.sinks.rows import HASHTAG_COLUMNS, MEDIA_COLUMNS, hashtag_rows, media_rows
from pipeline.sinks.sqlite import SqliteStore
from schemas.enriched import EnrichedPost, Language

BATCH = 500
COLUMNS = {"posts": _POSTS, "media": MEDIA_COLUMNS, "hashtags": HASHTAG_COLUMNS}
METHODS = {"store": (), "bare": ("posts", "media", "hashtags"), "bare-posts": ("posts",)}
TARGET = 0.5
URLS = ["postgresql://postgres@127.0.0.1:5432/test", "postgresql://root@127.0.0.1:5432/test"]


def make_posts(n: int) -> list[EnrichedPost]:
    campaign = SynthStream(SynthConfig(seed=1))
    language = Language(code="ar", confidence=0.9, backend="bench")
    amplification: dict[str, int] = {}
    out = []
    for _ in range(n):
        post = campaign.next_post()
        original = post.reference("retweet")
        amp = 0
        if original:
            amp = amplification[original] = amplification.get(original, 0) + 1
        out.append(
            EnrichedPost(
                post=post,
                language=language,
                media=summarize(post.media),
                repost_of=original,
                amplification=amp,
                processed_at=datetime.now(UTC),
            )
        )
    return out


def batches(items: Sequence[EnrichedPost]) -> list[Sequence[EnrichedPost]]:
    return [items[i : i + BATCH] for i in range(0, len(items), BATCH)]


async def pick_url(given: str | None) -> str:
    errors = []
    for url in [given] if given else URLS:
        try:
            conn = await asyncpg.connect(url, timeout=3)
        except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
            errors.append(f"{url}: {exc}")
            continue
        await conn.close()
        return url
    raise SystemExit("PostgreSQL is not reachable: " + "; ".join(errors))


class Bare:
    """``copy_records_to_table`` of the store's own typed rows straight into ``tables``, one
    transaction per batch. The rows are built before the clock starts; a uid already copied is
    left out, since a bare COPY cannot take a key twice (that is what the store's staging and
    merge are for)."""

    def __init__(self, conn: asyncpg.Connection, tables: Sequence[str]) -> None:
        self.conn, self.tables, self.seen = conn, tables, set[str]()

    def rows(self, batch: Sequence[EnrichedPost]) -> tuple[int, Rows]:
        fresh = []
        for e in batch:
            if e.post.uid not in self.seen:
                self.seen.add(e.post.uid)
                fresh.append(e)
        return len(fresh), _prepare(fresh, _Mode.FAST)

    async def copy(self, rows: Rows) -> None:
        async with self.conn.transaction():
            for table in self.tables:
                records = getattr(rows, table)
                if records:
                    await self.conn.copy_records_to_table(
                        table, records=records, columns=COLUMNS[table]
                    )


async def new_schema(url: str) -> str:
    """A fresh schema migrated by the store (same tables, keys and indexes); its URL."""
    scoped = f"{url}?schema=hw_bench_{uuid.uuid4().hex[:10]}"
    setup = PostgresStore(scoped)
    await setup.open()
    await setup.close()
    return scoped


async def drop_schema(url: str, scoped: str) -> None:
    conn = await asyncpg.connect(url)
    await conn.execute(f'DROP SCHEMA "{scoped.split("?schema=")[1]}" CASCADE')
    await conn.close()


async def run_round(url: str, posts: Sequence[EnrichedPost], r: int) -> dict[str, float]:
    """Posts/s of each method, batch by batch in turn so all of them share the same load."""
    schemas = [await new_schema(url) for _ in METHODS]
    store = PostgresStore(schemas[0])
    await store.open()
    await store.write(posts[:1])  # connection and staging tables ready, as in a running worker
    bares = {}
    for name, scoped in zip(list(METHODS)[1:], schemas[1:], strict=True):
        dsn, schema = scoped.split("?schema=")
        conn = await asyncpg.connect(dsn, server_settings={"search_path": schema})
        for table in METHODS[name]:  # asyncpg's column introspection, cached from here on
            await conn.copy_records_to_table(table, records=[], columns=COLUMNS[table])
        bares[name] = Bare(conn, METHODS[name])
    elapsed = dict.fromkeys(METHODS, 0.0)
    counted = dict.fromkeys(METHODS, 0)
    try:
        for i, batch in enumerate(batches(posts)):
            prepared = {name: bare.rows(batch) for name, bare in bares.items()}
            order = list(METHODS)
            for name in order[(i + r) % 3 :] + order[: (i + r) % 3]:
                start = time.perf_counter()
                if name == "store":
                    await store.write(batch)
                    counted[name] += len(batch)
                else:
                    n, rows = prepared[name]
                    await bares[name].copy(rows)
                    counted[name] += n
                elapsed[name] += time.perf_counter() - start
        [(stored,)] = await store.query("SELECT count(*) FROM posts")
        assert stored == len({e.post.uid for e in posts}), stored
    finally:
        await store.close()
        for bare in bares.values():
            await bare.conn.close()
        for scoped in schemas:
            await drop_schema(url, scoped)
    return {name: counted[name] / elapsed[name] for name in METHODS}


async def run_sqlite(posts: Sequence[EnrichedPost]) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(f"sqlite:///{tmp}/bench.db")
        await store.open()
        start = time.perf_counter()
        for batch in batches(posts):
            await store.write(batch)
        elapsed = time.perf_counter() - start
        await store.close()
    return len(posts) / elapsed


async def main_async(args: argparse.Namespace) -> int:
    url = await pick_url(args.url or os.environ.get("HASHWATCH_BENCH_POSTGRES"))
    t0 = time.perf_counter()
    posts = make_posts(args.posts)
    unique = len({e.post.uid for e in posts})
    reposts = sum(1 for e in posts if e.repost_of)
    media = sum(len(media_rows(e)) for e in posts)
    tags = sum(len(hashtag_rows(e)) for e in posts)
    print(
        f"{len(posts):,} posts ({unique:,} unique, {reposts:,} reposts) with {media:,} media "
        f"and {tags:,} hashtag rows, built in {time.perf_counter() - t0:.1f}s; "
        f"batches of {BATCH}; {url}"
    )
    rates: dict[str, list[float]] = {name: [] for name in [*METHODS, "sqlite"]}
    for r in range(args.rounds):
        for name, rate in (await run_round(url, posts, r)).items():
            rates[name].append(rate)
        rates["sqlite"].append(await run_sqlite(posts))
        print(f"  round {r + 1}: " + ", ".join(f"{k} {v[-1]:,.0f}/s" for k, v in rates.items()))
    med = {k: statistics.median(v) for k, v in rates.items()}
    ratio = statistics.median(s / b for s, b in zip(rates["store"], rates["bare"], strict=True))
    posts_ratio = statistics.median(
        s / b for s, b in zip(rates["store"], rates["bare-posts"], strict=True)
    )
    verdict = "PASS" if ratio >= TARGET else "MISS"
    print(f"PostgresStore.write                       {med['store']:>9,.0f} posts/s")
    print(
        f"bare copy_records_to_table, same rows     {med['bare']:>9,.0f} posts/s"
        "  (posts + media + hashtags)"
    )
    print(f"bare copy_records_to_table, posts only    {med['bare-posts']:>9,.0f} posts/s")
    print(f"SqliteStore.write                         {med['sqlite']:>9,.0f} posts/s")
    print(f"store / bare (same rows) = {ratio:.2f} (target >= {TARGET:.2f}): {verdict}")
    print(
        f"store / bare (posts only) = {posts_ratio:.2f} (for reference: that COPY leaves out "
        f"the {media + tags:,} media and hashtag rows the store also writes)"
    )
    return 0 if verdict == "PASS" else 1


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--posts", type=int, default=30_000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument(
        "--url",
        help="PostgreSQL URL (default: $HASHWATCH_BENCH_POSTGRES, or "
        "postgres/root@127.0.0.1:5432/test)",
    )
    return asyncio.run(main_async(ap.parse_args()))


if __name__ == "__main__":
    raise SystemExit(main())
