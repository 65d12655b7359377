"""One-shot archive mode: replay files through the whole pipeline, wait until drained."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

import msgspec

from agents.publisher import KafkaPublisher
from agents.replay import ReplayCollector
from pipeline.core.counters import StageCounters
from pipeline.core.progress import Progress
from pipeline.core.settings import Settings, redact_url
from pipeline.session import session
from pipeline.stages.worker import Worker

log = logging.getLogger(__name__)


class Summary(msgspec.Struct, kw_only=True):
    files: int
    read: int  # lines read
    posts: int  # posts published by the collector (duplicates included)
    unique: int
    originals: int
    reposts: int
    duplicates_dropped: int
    dead_lettered: int
    dead_letter_reasons: dict[str, int]
    skipped: dict[str, int]  # valid lines that hold no post (users, lists, counts, errors)
    by_language: dict[str, int]
    by_platform: dict[str, int]  # unique posts per platform
    by_media_type: dict[str, int]
    stored: int
    metrics_windows: int
    alerts: int
    store: str
    seconds: float
    posts_per_second: float


class StalledError(RuntimeError):
    pass


def drained(c: StageCounters, published: int) -> bool:
    """Every published post read by the enrich stage, and every fact it sent read by the
    ledger."""
    return c.raw_consumed >= published and c.facts_consumed >= c.facts_sent


def progress_of(c: StageCounters) -> tuple[int, ...]:
    return (c.raw_consumed, c.facts_consumed, c.stored, c.alerts_stored, c.ends)


async def wait_until(done: Callable[[], bool], c: StageCounters, stall_timeout: float) -> None:
    last, last_change = None, time.monotonic()
    while not done():
        now = progress_of(c)
        if now != last:
            last, last_change = now, time.monotonic()
        elif time.monotonic() - last_change > stall_timeout:
            raise StalledError(f"pipeline made no progress for {stall_timeout:.0f}s: {c}")
        await asyncio.sleep(0.02)


async def wait_drained(
    worker: Worker,
    published: int,
    stall_timeout: float = 60.0,
    *,
    final: bool = True,
    records: Counter[str] | None = None,
) -> None:
    """Wait until everything published went all the way through to the store. ``final``: the
    end of an archive — the ledger releases what it holds and closes every window, and their
    alerts are stored too. Otherwise quiet partitions let the ledger release what it holds.
    ``records`` (what a ``KafkaPublisher`` sent, by kind) adds its gaps and collection runs."""
    c = worker.counters
    gaps = records["gap"] if records else 0
    runs = records["collection"] if records else 0
    await wait_until(lambda: drained(c, published), c, stall_timeout)
    ends = c.ends
    if final:
        await worker.flush()
    await wait_until(
        lambda: (
            (c.ends > ends if final else c.ledger_pending == 0)
            and c.stored >= c.enriched_sent
            and c.alerts_stored >= c.alerts_sent
            and c.gaps_stored >= gaps
            and c.collections_stored >= runs
        ),
        c,
        stall_timeout,
    )


async def run_archive(
    settings: Settings,
    paths: Sequence[Path],
    speed: float | None = None,
    *,
    progress: Progress | None = None,
) -> Summary:
    started = time.monotonic()
    async with session(settings) as s:
        c = s.worker.counters

        async def follow() -> None:  # posts through the enrich stage, bar or periodic lines
            while progress is not None:
                progress.update(c.raw_consumed)
                await asyncio.sleep(0.2)

        ticker = asyncio.create_task(follow())
        publisher = KafkaPublisher(
            s.bootstrap, s.topics, max_record_bytes=settings.max_record_bytes
        )
        await publisher.start()
        try:
            try:
                stats = await ReplayCollector(publisher, paths, speed=speed).run()
            finally:
                await publisher.stop()
            published = publisher.sent["post"] + publisher.sent["deletion"]
            if progress is not None:
                progress.set_total(published)  # an ETA for the drain from here on
            await wait_drained(s.worker, published, records=publisher.sent)
        finally:
            ticker.cancel()
            if progress is not None:
                progress.update(c.raw_consumed)
                progress.close()
        store_url = redact_url(s.store.url)
    seconds = time.monotonic() - started
    return Summary(
        files=len(paths),
        read=stats.read,
        posts=stats.posts,
        unique=c.unique,
        originals=c.originals,
        reposts=c.reposts,
        duplicates_dropped=c.duplicates,
        dead_lettered=stats.dead_lettered
        + publisher.refused.total()
        + sum(c.dead_lettered.values()),
        dead_letter_reasons=dict(stats.dead_letters + publisher.refused + c.dead_lettered),
        skipped=dict(stats.skipped),
        by_language=dict(c.by_language.most_common()),
        by_platform=dict(c.by_platform.most_common()),
        by_media_type=dict(c.by_media_type.most_common()),
        stored=c.stored,
        metrics_windows=c.metrics_sent,
        alerts=c.alerts_sent,
        store=store_url,
        seconds=round(seconds, 2),
        posts_per_second=round(stats.posts / seconds, 1) if seconds else 0.0,
    )


def render(summary: Summary) -> str:
    def top(d: dict[str, int]) -> str:
        return ", ".join(f"{k} {v:,}" for k, v in d.items()) or "-"

    return "\n".join(
        [
            f"read        {summary.read:,} lines from {summary.files} file(s)",
            f"unique      {summary.unique:,} posts ({summary.originals:,} originals, "
            f"{summary.reposts:,} reposts)",
            f"duplicates  {summary.duplicates_dropped:,} dropped",
            f"dead-letter {summary.dead_lettered:,} ({top(summary.dead_letter_reasons)})",
            f"skipped     {sum(summary.skipped.values()):,} lines with no post "
            f"({top(summary.skipped)})",
            f"platforms   {top(summary.by_platform)}",
            f"languages   {top(summary.by_language)}",
            f"media       {top(summary.by_media_type)}",
            f"windows     {summary.metrics_windows:,} metrics windows, {summary.alerts:,} alerts",
            f"stored      {summary.stored:,} records -> {summary.store}",
            f"took        {summary.seconds:.1f}s ({summary.posts_per_second:,.0f} posts/s)",
        ]
    )
