"""hashwatch's work as a Quix Streams app, built from hashwatch's own steps: the yardstick of
``bench/throughput_bench.py``.

Same topology as a hashwatch worker, in Quix's per-record style: raw posts → enrich
(``Enricher``: Post v1 decode and validation, the same language detector, media, near-dup
signature) → the one-partition facts topic → ``Ledger`` (dedupe, clusters, media reuse,
reposts, windows, alerts, the full EnrichedPost) → enriched / metrics / alerts topics → a
batching sink writing hashwatch's store rows (``SqliteStore``). At-least-once, on the broker
it is given. It stops once every raw record it was told to expect went through and what the
ledger published is stored (``hashwatch run``'s end of input: the ledger releases all it holds),
and prints one JSON line: its start-up and run time.

    python bench/quix_app.py --bootstrap 127.0.0.1:9092 --prefix quix --expect 20000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from profiling import Profile
from quixstreams import Application, message_context
from quixstreams.models.serializers import SerializationContext, Serializer
from quixstreams.sinks import BatchingSink, SinkBatch

from pipeline.alerts.config import alert_config
from pipeline.core import kafka
from pipeline.core.counters import StageCounters
from pipeline.core.records import InRecord, OutRecord
from pipeline.core.settings import Settings
from pipeline.core.topics import Topics
from pipeline.enrich.enricher import Enricher
from pipeline.enrich.facts import FactBatch, decoder, encoder
from pipeline.enrich.langid import make_detector, warm_up
from pipeline.enrich.marks import PartitionMarks
from pipeline.ledger.ledger import Ledger, LedgerConfig
from pipeline.sinks.sqlite import SqliteStore
from pipeline.stages.worker import FACTS_KEY
from schemas.alert import Alert
from schemas.codec import EnrichedEvent, decode
from schemas.enriched import EnrichedPost
from schemas.post import PostDeletion


class _OutValue(Serializer):
    """An ``OutRecord``'s bytes as they are: hashwatch's steps encode their own records."""

    def __call__(self, value: OutRecord, ctx: SerializationContext) -> bytes:
        return value.value or b""


class _StoreSink(BatchingSink):
    """Enriched events and alerts into the store, a batch per checkpoint (as the store sink
    does per ``getmany``); says when everything the ledger published is stored."""

    def __init__(self, store: SqliteStore, topics: Topics, done: Any) -> None:
        super().__init__()
        self.store, self.topics, self.done = store, topics, done
        self.loop = asyncio.new_event_loop()  # one thread for every SQLite call of the store
        self.loop.set_default_executor(ThreadPoolExecutor(1, thread_name_prefix="store"))
        self.stored = self.alerts_stored = 0

    def write(self, batch: SinkBatch) -> None:
        if batch.topic == self.topics.alerts:
            alerts = [decode(item.value, Alert) for item in batch]
            self.loop.run_until_complete(self.store.write_alerts(alerts))
            self.alerts_stored += len(alerts)
        else:
            events = [decode(item.value, EnrichedEvent) for item in batch]
            posts = [e for e in events if isinstance(e, EnrichedPost)]
            gone = [e for e in events if isinstance(e, PostDeletion)]
            self.loop.run_until_complete(self.store.write(posts))
            self.loop.run_until_complete(self.store.write_deletions(gone))
            self.stored += len(events)
        self.done()


def build(
    bootstrap: str, prefix: str, expect: int, backend: str, store_url: str, spy: Profile
) -> tuple[Application, dict[str, float], StageCounters]:
    """The app, the clock readings it fills in (``first``, ``end``) and its counters."""
    settings = Settings()
    topics = Topics(prefix)
    clock: dict[str, float] = {}
    counters = StageCounters()
    config = alert_config(None)
    detector = make_detector(backend)
    warm_up(detector)  # model loading is start-up, not throughput
    enricher = Enricher(
        topics,
        detector,
        watch=config.watch_terms(),
        counters=counters,
        max_clock_skew_s=settings.max_clock_skew_s,
    )
    ledger = Ledger(topics, LedgerConfig.of(settings), config, counters)
    marks = PartitionMarks(idle_s=settings.idle_s, empty_s=max(30.0, settings.idle_s))
    marks.assigned(range(settings.partitions))
    store = SqliteStore(store_url)

    app = Application(
        broker_address=bootstrap,
        consumer_group=f"{prefix}-quix",
        auto_offset_reset="earliest",
        processing_guarantee="at-least-once",
        commit_interval=0.5,  # hashwatch commits every 0.5 s too
        auto_create_topics=False,  # created by hashwatch with their layout (see core/kafka)
        use_changelog_topics=False,  # hashwatch's state is the facts log, not Quix's stores
        loglevel="WARNING",
        consumer_extra_config={  # the same consumer settings as hashwatch's (pipeline/core/kafka)
            "session.timeout.ms": kafka.SESSION_TIMEOUT_MS,
            "heartbeat.interval.ms": kafka.HEARTBEAT_INTERVAL_MS,
            "fetch.wait.max.ms": kafka.FETCH_MAX_WAIT_MS,
        },
    )
    raw = app.topic(topics.raw, value_deserializer="bytes", key_deserializer="bytes")
    facts = app.topic(
        topics.facts,
        value_deserializer="bytes",
        key_deserializer="bytes",
        value_serializer="bytes",
        key_serializer="bytes",
    )
    outs = {
        name: app.topic(name, value_serializer=_OutValue(), key_serializer="bytes")
        for name in (topics.enriched, topics.metrics, topics.alerts, topics.deadletter)
    }
    stored = {
        name: app.topic(name, value_deserializer="bytes", key_deserializer="bytes")
        for name in (topics.enriched, topics.alerts)
    }

    def enrich(value: bytes, key: bytes | None, ts: int, headers: Any) -> list[bytes]:
        if not clock:
            spy.start()
            clock["first"], clock["cpu"] = time.perf_counter(), time.process_time()
        ctx = message_context()
        result = enricher.process([InRecord(ctx.topic, ctx.partition, ctx.offset, key, value)])
        for partition, event_ts in result.marks.items():
            marks.observe(partition, event_ts)
        now, quiet, empty = marks.marks()
        batch = FactBatch(
            worker="quix", sent_at=time.time(), marks=now, quiet=quiet, empty=empty,
            facts=result.facts,
        )  # fmt: skip
        out = [encoder.encode(batch)]
        if counters.raw_consumed == expect:  # end of input, as ``hashwatch run`` says it
            out.append(encoder.encode(FactBatch(worker="quix", end=True)))
        return out  # (dead letters of invalid posts are absent from the synthetic campaign)

    def count(value: bytes) -> list[OutRecord]:
        return ledger.add(decoder.decode(value))

    def done() -> None:
        if (
            counters.ends
            and sink.stored >= counters.enriched_sent
            and sink.alerts_stored >= counters.alerts_sent
        ):
            clock.setdefault("end", time.perf_counter())
            clock.setdefault("cpu_end", time.process_time())
            spy.stop()
            app.stop()

    sink = _StoreSink(store, topics, done)
    sink.loop.run_until_complete(store.open())
    app.dataframe(raw).apply(enrich, expand=True, metadata=True).to_topic(
        facts, key=lambda _: FACTS_KEY
    )
    app.dataframe(facts).apply(count, expand=True).to_topic(
        lambda value, key, ts, headers: outs[value.topic], key=lambda value: value.key
    )
    for topic in stored.values():
        app.dataframe(topic).sink(sink)
    return app, clock, counters


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--prefix", required=True, help="topics: <prefix>.posts.raw and so on")
    parser.add_argument("--expect", type=int, required=True, help="raw records to go through")
    parser.add_argument("--backend", default="fasttext")
    parser.add_argument("--store", help="sqlite:///... (default: a temporary file)")
    parser.add_argument("--profile", type=Path, help="py-spy the timed window into this file")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("pipeline.windows").setLevel(logging.ERROR)  # the campaign's alerts
    began = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.store or f"sqlite://{Path(tmp) / 'quix.sqlite'}"
        spy = Profile(args.profile)
        app, clock, c = build(args.bootstrap, args.prefix, args.expect, args.backend, url, spy)
        built = time.perf_counter()
        app.run()
    print(
        json.dumps(
            {
                "posts": args.expect,
                "startup_s": clock["first"] - began,
                "model_s": built - began,
                "run_s": clock["end"] - clock["first"],
                "cpu_s": clock["cpu_end"] - clock["cpu"],
                "unique": c.unique,
                "duplicates": c.duplicates,
                "enriched": c.enriched_sent,
            }
        )
    )


if __name__ == "__main__":
    main()
