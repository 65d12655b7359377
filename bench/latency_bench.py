"""Latency raw → enriched at a steady rate, and a worker's start-up, on the embedded broker.

1. Start-up: one post is waiting on the raw topic, then a worker session starts: the time
   until that post is stored is the start-up cost (the enrich process loads the language
   models while the worker joins its group and fetches).
2. Steady state: a synthetic collector in a child process publishes live posts at a steady
   ``--rate`` for ``--duration`` seconds (no surges), the worker running.
3. Afterwards both topics are read back and joined by key: latency is the enriched record's
   Kafka timestamp minus the raw record's (first of each key). Posts of the last
   ``TAIL_S`` seconds are left out: when the stream stops, the ledger holds its last posts
   until the quiet partitions' marks move on (``idle_s``), which a steady stream never sees.

    .venv/bin/python bench/latency_bench.py [--rate 1000] [--duration 60] [--backend cascade]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import msgspec

from agents.publisher import KafkaPublisher
from agents.synth.collector import SynthCollector, SynthConfig, SynthStream
from pipeline.core import kafka
from pipeline.core.broker import EmbeddedBroker
from pipeline.core.settings import Settings
from pipeline.core.signals import run_until_signal
from pipeline.core.topics import Topics, create_topics
from pipeline.runner import wait_drained, wait_until
from pipeline.session import session
from schemas.post import Post

PREFIX = "latency"
TAIL_S = 3.0
P99_GOAL_MS = 250.0
STARTUP_GOAL_S = 5.0


async def collect(bootstrap: str, rate: float, duration: float) -> None:
    """The child process: a live synthetic campaign at a steady rate."""
    publisher = KafkaPublisher(bootstrap, Topics(PREFIX))
    await publisher.start()
    config = SynthConfig(seed=11, rate=rate, phases=(("steady", 1e9, 1.0),))
    stats = await SynthCollector(publisher, config, duration=duration, live=True).run()
    await publisher.stop()
    print(json.dumps({"posts": stats.posts}))


async def first_times(bootstrap: str, topic: str, expect: int) -> dict[bytes, int]:
    """Key → Kafka timestamp (ms) of its first record, reading until ``expect`` records
    (end offsets lag on Tansu: count, README)."""
    reader = kafka.consumer(bootstrap, topic, group_id=None, enable_auto_commit=False)
    await reader.start()
    times: dict[bytes, int] = {}
    got = 0
    try:
        while got < expect:
            batch = await reader.getmany(timeout_ms=1000, max_records=10_000)
            if not batch:
                break
            for recs in batch.values():
                got += len(recs)
                for r in recs:
                    times.setdefault(r.key or b"", r.timestamp)
    finally:
        await reader.stop()
    return times


def probe_posts(n: int = 40) -> list[Post]:
    """Live posts on every partition (so the ledger's watermark can pass them at once) that no
    steady-state post shares a uid with."""
    stream = SynthStream(SynthConfig(seed=99), start=datetime.now(UTC))
    posts = [stream.next_post() for _ in range(n)]
    return [
        msgspec.structs.replace(p, uid=f"{p.platform}:9{i}{p.id}", id=f"9{i}{p.id}")
        for i, p in enumerate(posts)
    ]


async def measure(rate: float, duration: float, backend: str) -> None:
    broker = EmbeddedBroker()
    broker.start()
    try:
        await broker.wait_ready()
        with tempfile.TemporaryDirectory() as tmp:
            # The campaign names its main languages (as the synthetic one is mostly written in
            # them): the worker loads their models while it joins its group.
            campaign = Path(tmp) / "campaign.toml"
            campaign.write_text(
                'name = "bench"\nhashtags = ["WhereAreTheDetainees"]\n'
                'languages = ["ar", "en", "tr"]\n'
            )
            settings = Settings(
                broker=broker.url,
                data_dir=Path(tmp),
                lang_backend=backend,
                topic_prefix=PREFIX,
                config=campaign,
            )
            topics = Topics(PREFIX)
            await create_topics(broker.bootstrap, topics, settings.partitions)
            probes = KafkaPublisher(broker.bootstrap, topics)
            await probes.start()
            probe = probe_posts()
            for post in probe:
                await probes.post(post)
            await probes.stop()

            began, session_from = time.perf_counter(), time.time() * 1000
            async with session(settings) as s:
                c = s.worker.counters
                await wait_until(lambda: c.stored >= 1, c, 60.0)
                startup_s = time.perf_counter() - began
                print(
                    f"backend {backend}: start-up {startup_s:.2f}s, session start to first post "
                    f"stored (the enrich process loads its models while the worker joins its "
                    f"group)  goal < {STARTUP_GOAL_S:.0f}s: "
                    f"{'met' if startup_s < STARTUP_GOAL_S else 'MISSED'}",
                    flush=True,
                )
                steady_from = time.time() * 1000
                child = await asyncio.create_subprocess_exec(
                    sys.executable, __file__, "--collect", broker.bootstrap,
                    "--rate", str(rate), "--duration", str(duration),
                    stdout=asyncio.subprocess.PIPE,
                )  # fmt: skip
                out, _ = await child.communicate()
                published = json.loads(out.decode().strip().splitlines()[-1])["posts"]
                await wait_drained(s.worker, published + len(probe), final=False)
                enriched = c.enriched_sent
            raw = await first_times(broker.bootstrap, topics.raw, published + len(probe))
            done = await first_times(broker.bootstrap, topics.enriched, enriched)
    finally:
        broker.stop()
    raw = {k: t for k, t in raw.items() if t >= steady_from}  # the probes were before
    steady_end = max(raw.values()) - TAIL_S * 1000
    lat = sorted(done[k] - t for k, t in raw.items() if k in done and t <= steady_end)
    tail = [done[k] - t for k, t in raw.items() if k in done and t > steady_end]
    q = statistics.quantiles(lat, n=100, method="inclusive")
    by_second: dict[int, list[int]] = {}
    for k, t in raw.items():
        if k in done:
            by_second.setdefault(int((t - steady_from) // 1000), []).append(done[k] - t)
    trend = " ".join(f"{statistics.median(v):.0f}" for _, v in sorted(by_second.items()))
    print(f"  median latency (ms) by second of the run (a backlog shows as a rise): {trend}")
    p99 = q[98]
    print(
        f"steady {rate:,.0f} posts/s for {duration:.0f}s (fetch wait {kafka.FETCH_MAX_WAIT_MS} ms, "
        f"batch_seconds {settings.batch_seconds}, load average {os.getloadavg()[0]:.1f} on "
        f"{os.cpu_count()} cores): {published:,} published, "
        f"{len(lat):,} joined (last {TAIL_S:.0f}s left out: {len(tail):,}, max "
        f"{max(tail, default=0):,} ms)"
    )
    print(
        f"  latency raw -> enriched: p50 {q[49]:.0f} ms, p95 {q[94]:.0f} ms, p99 {p99:.0f} ms, "
        f"max {lat[-1]:.0f} ms  goal p99 <= {P99_GOAL_MS:.0f} ms: "
        f"{'met' if p99 <= P99_GOAL_MS else 'MISSED'}"
    )
    # Start-up does not end at the first post stored: with the cascade, models the first posts
    # need that were not loaded during the group join load then, and the first second can
    # carry that backlog. Caught up: from the first second after which every second's p99 is
    # within the goal (seconds of the steady run, counted from its start).
    p99s = {
        sec: statistics.quantiles(v, n=100, method="inclusive")[98] if len(v) > 1 else v[0]
        for sec, v in by_second.items()
        if steady_from + (sec + 1) * 1000 <= steady_end
    }
    print(f"  p99 latency (ms) by second: {' '.join(f'{p:.0f}' for _, p in sorted(p99s.items()))}")
    late = [sec for sec, p in p99s.items() if p > P99_GOAL_MS]
    caught = max(late) + 1 if late else 0
    caught_s = (steady_from + caught * 1000 - session_from) / 1000
    settled = sorted(
        done[k] - t
        for k, t in raw.items()
        if k in done and steady_from + caught * 1000 <= t <= steady_end
    )
    print(
        f"  caught up {caught_s:.1f}s after session start (every later second's p99 within "
        f"{P99_GOAL_MS:.0f} ms; second {caught} of the run)  goal < {STARTUP_GOAL_S:.0f}s: "
        f"{'met' if caught_s < STARTUP_GOAL_S else 'MISSED'}"
    )
    if len(settled) > 100:
        s = statistics.quantiles(settled, n=100, method="inclusive")
        print(
            f"  after catching up: p50 {s[49]:.0f} ms, p95 {s[94]:.0f} ms, "
            f"p99 {s[98]:.0f} ms, max {settled[-1]:.0f} ms"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=1000.0, help="posts per second")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds")
    parser.add_argument("--backend", default="cascade")
    parser.add_argument("--collect", metavar="BOOTSTRAP", help=argparse.SUPPRESS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("pipeline.windows").setLevel(logging.ERROR)  # the campaign's alerts
    if args.collect:
        run_until_signal(collect(args.collect, args.rate, args.duration))
    else:
        run_until_signal(measure(args.rate, args.duration, args.backend))  # as the CLI runs


if __name__ == "__main__":
    main()
