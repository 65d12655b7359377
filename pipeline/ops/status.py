"""``hashwatch status``: is the pipeline up, is it keeping up, and is anything missing?

Reads only: broker metadata and offsets (never joins a consumer group, so it cannot trigger a
rebalance of a running worker), the last record of the alerts topic, and row counts of the
store. On Tansu the end offsets lag what is readable by about one batch per partition, so lag
is labelled approximate there and never shown below zero.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import click
import msgspec
from aiokafka import AIOKafkaConsumer, TopicPartition

from pipeline.core import kafka
from pipeline.core.settings import Settings, load_settings, redact_url
from pipeline.core.topics import Topics
from pipeline.sinks import Store
from pipeline.sinks.querying import as_time, is_postgres, open_existing
from schemas.alert import Alert
from schemas.codec import decode

log = logging.getLogger(__name__)

TIMEOUT_S = 10.0  # for the broker as a whole: a status command must answer, not hang
TANSU_CLUSTER_ID = "tansu_cluster"  # what the embedded broker reports in its metadata
STORE_TABLES = ("posts", "media", "hashtags", "gaps", "alerts")
_NO_BROKER = (
    "no broker configured (HASHWATCH_BROKER is unset); an embedded broker lives only inside "
    "the process that started it (hashwatch run / demo / worker), so there is none to inspect"
)


class TopicLag(msgspec.Struct, kw_only=True):
    group: str
    lag: int  # sum over partitions, each max(0, end - committed)
    partitions_committed: int


class TopicStatus(msgspec.Struct, kw_only=True):
    name: str
    partitions: int
    end_offset: int  # sum over partitions, as the broker reports it
    lag: list[TopicLag] = []


class Rates(msgspec.Struct, kw_only=True):
    posts_in_per_s: float  # records appended to <prefix>.posts.raw
    posts_out_per_s: float  # records appended to <prefix>.posts.enriched
    sample_s: float


class LastAlert(msgspec.Struct, kw_only=True):
    source: str  # "topic" or "store"
    raised_at: datetime | None = None
    rule: str | None = None
    severity: str | None = None
    subject: str | None = None
    summary: str | None = None
    undecodable: str | None = None  # a record on the topic that is not Alert v1


class BrokerStatus(msgspec.Struct, kw_only=True):
    configured: bool
    url: str | None = None
    reachable: bool = False
    kind: str | None = None  # "tansu" or "kafka"
    cluster_id: str | None = None
    error: str | None = None
    lag_approximate: bool = False
    groups: list[str] = []
    topics: list[TopicStatus] = []
    rates: Rates | None = None


class OpenGap(msgspec.Struct, kw_only=True):
    id: str
    collector: str
    start: datetime
    reason: str


class StoreStatus(msgspec.Struct, kw_only=True):
    url: str
    reachable: bool = False
    error: str | None = None
    rows: dict[str, int] = {}
    by_platform: dict[str, int] = {}  # stored posts per platform
    size_bytes: int | None = None
    open_gaps: list[OpenGap] = []


class Status(msgspec.Struct, kw_only=True):
    checked_at: datetime
    healthy: bool  # everything configured answers (no broker configured is not a failure)
    broker: BrokerStatus
    store: StoreStatus
    last_alert: LastAlert | None = None


# -- broker -----------------------------------------------------------------------------------


def consumer_groups(prefix: str) -> list[str]:
    """The groups hashwatch's own processes consume in: the Faust worker and the store sink."""
    return [f"{prefix}-worker", f"{prefix}-store"]


def _describe(exc: BaseException) -> str:
    name, text = type(exc).__name__, str(exc)
    return text if text.startswith(name) else f"{name}: {text}" if text else name


def is_ours(topic: str, prefix: str) -> bool:
    return topic.startswith((f"{prefix}.", f"{prefix}-worker-"))


def lag(end: int, committed: int | None) -> int:
    """Never negative: on Tansu a committed offset is often past the reported end."""
    return 0 if committed is None else max(end - committed, 0)


async def broker_status(
    settings: Settings, sample_s: float = 1.0
) -> tuple[BrokerStatus, LastAlert | None]:
    if not settings.broker:
        return BrokerStatus(configured=False, error=_NO_BROKER), None
    status = BrokerStatus(configured=True, url=redact_url(settings.broker))
    try:
        return await asyncio.wait_for(_inspect(settings, status, sample_s), TIMEOUT_S + sample_s)
    except Exception as exc:  # unreachable, refused, timed out: all answers of a status command
        status.reachable = False
        status.error = _describe(exc)
        return status, None


async def _inspect(
    settings: Settings, status: BrokerStatus, sample_s: float
) -> tuple[BrokerStatus, LastAlert | None]:
    bootstrap = settings.bootstrap_servers()
    prefix = settings.topic_prefix
    topics = Topics(prefix)
    timeout_ms = int(TIMEOUT_S * 1000)
    admin = kafka.admin(bootstrap, client_id="hashwatch-status", request_timeout_ms=timeout_ms)
    async with contextlib.AsyncExitStack() as stack:
        await admin.start()
        stack.push_async_callback(admin.close)
        reader = kafka.consumer(
            bootstrap,
            group_id=None,
            client_id="hashwatch-status",
            enable_auto_commit=False,
            request_timeout_ms=timeout_ms,
        )
        await reader.start()
        stack.push_async_callback(reader.stop)
        status.reachable = True
        cluster = await admin.describe_cluster()
        status.cluster_id = str(cluster.get("cluster_id") or "") or None
        status.kind = "tansu" if status.cluster_id == TANSU_CLUSTER_ID else "kafka"
        status.lag_approximate = status.kind == "tansu"

        names = sorted(t for t in await admin.list_topics() if is_ours(t, prefix))
        described = await admin.describe_topics(names) if names else []
        tps = {
            d["topic"]: [TopicPartition(d["topic"], p["partition"]) for p in d["partitions"]]
            for d in described
        }
        every = [tp for parts in tps.values() for tp in parts]
        first = await reader.end_offsets(every) if every else {}
        sample_start = time.monotonic()

        status.groups = consumer_groups(prefix)
        committed = {g: await _committed(bootstrap, g, every) for g in status.groups}
        for name in names:
            parts = tps.get(name, [])
            entry = TopicStatus(
                name=name, partitions=len(parts), end_offset=sum(first[tp] for tp in parts)
            )
            for group in status.groups:
                done = [tp for tp in parts if committed[group].get(tp) is not None]
                if done:
                    entry.lag.append(
                        TopicLag(
                            group=group,
                            lag=sum(lag(first[tp], committed[group][tp]) for tp in done),
                            partitions_committed=len(done),
                        )
                    )
            status.topics.append(entry)

        last_alert = await _last_alert(reader, tps.get(topics.alerts, []))
        if sample_s > 0:
            await asyncio.sleep(max(sample_s - (time.monotonic() - sample_start), 0))
            watched = tps.get(topics.raw, []) + tps.get(topics.enriched, [])
            second = await reader.end_offsets(watched) if watched else {}
            elapsed = time.monotonic() - sample_start

            def rate(topic: str) -> float:
                moved = sum(second[tp] - first[tp] for tp in tps.get(topic, []))
                return round(max(moved, 0) / elapsed, 1)

            status.rates = Rates(
                posts_in_per_s=rate(topics.raw),
                posts_out_per_s=rate(topics.enriched),
                sample_s=round(elapsed, 2),
            )
    return status, last_alert


async def _committed(
    bootstrap: str, group: str, tps: Sequence[TopicPartition]
) -> dict[TopicPartition, int | None]:
    """Committed offsets of ``group``, read without joining it (no rebalance of the worker)."""
    if not tps:
        return {}
    consumer = kafka.consumer(bootstrap, group_id=group, client_id="hashwatch-status")
    await consumer.start()
    try:
        offsets = await asyncio.gather(*(consumer.committed(tp) for tp in tps))
    finally:
        await consumer.stop()
    return dict(zip(tps, offsets, strict=True))


async def _last_alert(
    reader: AIOKafkaConsumer, partitions: Sequence[TopicPartition]
) -> LastAlert | None:
    """The newest record on the alerts topic.

    Each partition is read from its reported end - 1 until nothing more comes: on Kafka
    that is the last record; on Tansu the reported end is short of the last batch, and the
    records past it are still readable this way.
    """
    if not partitions:
        return None
    ends = await reader.end_offsets(list(partitions))
    starts = await reader.beginning_offsets(list(partitions))
    wanted = [tp for tp in partitions if ends[tp] > starts[tp]]
    if not wanted:
        return None
    reader.assign(wanted)
    for tp in wanted:
        reader.seek(tp, max(ends[tp] - 1, starts[tp]))
    newest = None
    while True:
        batch = await reader.getmany(timeout_ms=300)
        if not batch:
            break
        for records in batch.values():
            for record in records:
                if newest is None or record.timestamp >= newest.timestamp:
                    newest = record
    # No unsubscribe() here: with a fetch in flight it makes the consumer's stop() wait for
    # the whole request timeout (measured on Tansu: ~10 s); stop() alone returns at once.
    if newest is None:
        return None
    value = newest.value or b""
    try:
        alert = decode(value, Alert)
    except msgspec.DecodeError:
        return LastAlert(
            source="topic",
            raised_at=datetime.fromtimestamp(newest.timestamp / 1000, UTC),
            undecodable=value[:200].decode("utf-8", "replace"),
        )
    return LastAlert(
        source="topic",
        raised_at=alert.raised_at,
        rule=alert.rule,
        severity=alert.severity,
        subject=alert.subject,
        summary=alert.summary,
    )


# -- store ------------------------------------------------------------------------------------


async def store_status(settings: Settings) -> tuple[StoreStatus, LastAlert | None]:
    url = settings.store_url()
    status = StoreStatus(url=redact_url(url))
    try:
        store = await open_existing(url)
    except Exception as exc:
        status.error = _describe(exc)
        return status, None
    try:
        status.reachable = True
        for table in STORE_TABLES:
            with contextlib.suppress(Exception):  # a table a newer version adds may be missing
                rows = await store.query(f"SELECT count(*) FROM {table}")
                status.rows[table] = int(rows[0][0])  # type: ignore[call-overload]
        if "posts" in status.rows:
            platforms = await store.query(
                "SELECT platform, count(*) FROM posts GROUP BY platform ORDER BY platform"
            )
            status.by_platform = {str(p): int(n) for p, n in platforms}  # type: ignore[call-overload]
        status.size_bytes = await _store_size(store)
        gaps = await store.query(
            'SELECT id, collector, start, reason FROM gaps WHERE "end" IS NULL ORDER BY start'
        )
        status.open_gaps = [
            OpenGap(id=str(g[0]), collector=str(g[1]), start=as_time(g[2]), reason=str(g[3]))  # type: ignore[arg-type]
            for g in gaps
        ]
        alert = await _stored_alert(store) if "alerts" in status.rows else None
    except Exception as exc:
        status.error = _describe(exc)
        alert = None
    finally:
        await store.close()
    return status, alert


async def _store_size(store: Store) -> int | None:
    if is_postgres(store):
        names = ", ".join(f"'{t}'" for t in STORE_TABLES)
        rows = await store.query(
            "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            f"WHERE c.relname IN ({names}) AND n.nspname = current_schema()"
        )
        return int(rows[0][0])  # type: ignore[call-overload]
    path = Path(store.url.removeprefix("sqlite://"))
    files = [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]
    return sum(f.stat().st_size for f in files if f.exists())


async def _stored_alert(store: Store) -> LastAlert | None:
    rows = await store.query(
        "SELECT raised_at, rule, severity, subject, summary FROM alerts "
        "ORDER BY raised_at DESC LIMIT 1"
    )
    if not rows:
        return None
    r = rows[0]
    return LastAlert(
        source="store",
        raised_at=as_time(r[0]),
        rule=str(r[1]),
        severity=str(r[2]),
        subject=str(r[3]),
        summary=str(r[4]),
    )


async def collect_status(settings: Settings, sample_s: float = 1.0) -> Status:
    (broker, topic_alert), (store, stored_alert) = await asyncio.gather(
        broker_status(settings, sample_s), store_status(settings)
    )
    return Status(
        checked_at=datetime.now(UTC),
        healthy=(broker.reachable or not broker.configured) and store.reachable,
        broker=broker,
        store=store,
        last_alert=topic_alert or stored_alert,
    )


# -- rendering --------------------------------------------------------------------------------


def _size(n: int | None) -> str:
    if n is None:
        return "size unknown"
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:,.0f} {unit}" if unit == "B" else f"{value:,.1f} {unit}"
        value /= 1024
    return f"{n} B"


def _when(t: datetime | None) -> str:
    return f"{t.astimezone(UTC):%Y-%m-%d %H:%M:%S}Z" if t else "?"


def render(status: Status) -> str:
    b, s = status.broker, status.store
    lines: list[str] = []
    if not b.configured:
        lines.append(f"broker   {b.error}")
    elif not b.reachable:
        lines.append(f"broker   {b.url} UNREACHABLE: {b.error}")
    else:
        kind = "Tansu (embedded)" if b.kind == "tansu" else "Kafka"
        lines.append(f"broker   {b.url}: {kind}, reachable")
        approx = "~" if b.lag_approximate else ""
        note = (
            " (~ approximate: Tansu reports end offsets about one batch short per partition)"
            if b.lag_approximate
            else ""
        )
        lines.append(f"topics   {len(b.topics)}, consumer lag per group{note}")
        width = max((len(t.name) for t in b.topics), default=0)
        for t in b.topics:
            lags = ", ".join(f"{x.group} {approx}{x.lag:,}" for x in t.lag)
            lines.append(
                f"  {t.name:<{width}}  {t.partitions:>3} partition(s)  end {t.end_offset:>9,}"
                + (f"  lag: {lags}" if lags else "")
            )
        if b.rates is not None:
            lines.append(
                f"rate     in {b.rates.posts_in_per_s:,.1f} posts/s, out "
                f"{b.rates.posts_out_per_s:,.1f} posts/s (end offsets {b.rates.sample_s:.1f}s "
                "apart" + (", approximate" if b.lag_approximate else "") + ")"
            )
    a = status.last_alert
    if a is None:
        lines.append("alert    none")
    elif a.undecodable is not None:
        lines.append(f"alert    {_when(a.raised_at)} (not Alert v1: {a.undecodable[:80]})")
    else:
        lines.append(
            f"alert    {_when(a.raised_at)} [{a.severity}] {a.rule} {a.subject}: {a.summary}"
            + (" (from the store)" if a.source == "store" else "")
        )
    if not s.reachable:
        lines.append(f"store    {s.url} UNREACHABLE: {s.error}")
    else:
        counts = ", ".join(f"{n:,} {t}" for t, n in s.rows.items())
        lines.append(f"store    {s.url}: {counts}; {_size(s.size_bytes)}")
        if s.by_platform:
            per = ", ".join(f"{p} {n:,}" for p, n in s.by_platform.items())
            lines.append(f"         posts by platform: {per}")
        if s.error:
            lines.append(f"         error: {s.error}")
        if not s.open_gaps:
            lines.append("gaps     none open")
        for g in s.open_gaps:
            lines.append(f"gaps     OPEN since {_when(g.start)}: {g.collector} ({g.reason})")
    return "\n".join(lines)


@click.command("status")
@click.option("--json", "as_json", is_flag=True, help="One JSON object, for scripts.")
@click.option(
    "--sample",
    default=1.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Seconds between the two offset samples behind posts/s (0: no rates).",
)
@click.option("--store", help="Store URL: sqlite:///path.db or postgresql://... [HASHWATCH_STORE].")
def status_command(as_json: bool, sample: float, store: str | None) -> None:
    """Broker, topics, consumer lag, posts/s, last alert, open gaps and store size.

    Exits 1 when something configured does not answer (the broker, if HASHWATCH_BROKER is
    set, or the store), so it can serve as a health check.
    """
    settings = load_settings(store=store)
    result: Status = asyncio.run(collect_status(settings, sample))
    if as_json:
        click.echo(msgspec.json.encode(result).decode())
    else:
        click.echo(render(result))
    if not result.healthy:
        raise SystemExit(1)
