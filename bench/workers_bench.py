"""One worker against two on a 4-partition raw topic: posts/s and the ratio.

The synthetic campaign is published once; each run gets its own copy of the raw topic (as in
``throughput_bench.py``) and N ``hashwatch worker`` processes (fastText, each with its own
SQLite store) started together. Throughput is read from outside, off Kafka timestamps: from the
first fact batch the enrich stage published (so the group join does not count) to the last
enriched record, the ledger being told "end of input" once every raw record has its fact (so
its wait for quiet partitions does not count either); store writes go on beside. The enrich
stage runs on every raw partition, split between the workers; the ledger (one partition)
runs in one of them, whichever the group gives it.

    .venv/bin/python bench/workers_bench.py [--posts 20000] [--rounds 1]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

from throughput_bench import copy_raw, publish_once, tree_cpu_s

from pipeline.core import kafka
from pipeline.core.broker import EmbeddedBroker
from pipeline.core.records import OutRecord
from pipeline.core.topics import Topics
from pipeline.enrich.facts import FactBatch, decoder, encoder
from pipeline.stages.worker import FACTS_KEY

GOAL = 1.8
QUIET_S = 5.0  # the enriched topic is complete once nothing new came for this long
STALL_S = 60.0  # no new fact for this long: the run is reported stalled, not waited on forever


class Stalled(Exception):
    pass


class MachineCpu:
    """Busy cores of the whole machine (every process: broker, workers, this bench) sampled
    every 0.1 s, to say what share of the machine a timed window used: on 2 cores the
    ceiling of a second worker is how much of the machine the first left idle."""

    def __init__(self) -> None:
        self.samples: list[tuple[float, int, int]] = []  # (wall ms, busy jiffies, all)
        self._task: asyncio.Task[None] | None = None

    @staticmethod
    def _read() -> tuple[int, int]:
        fields = [int(f) for f in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
        idle = fields[3] + fields[4]  # idle + iowait
        return sum(fields) - idle, sum(fields)

    async def _sample(self) -> None:
        while True:
            self.samples.append((time.time() * 1000, *self._read()))
            await asyncio.sleep(0.1)

    def __enter__(self) -> MachineCpu:
        self._task = asyncio.get_running_loop().create_task(self._sample())
        return self

    def __exit__(self, *_: object) -> None:
        if self._task is not None:
            self._task.cancel()

    def busy_cores(self, start_ms: float, end_ms: float) -> float:
        """Mean busy cores between the samples nearest inside [start_ms, end_ms]."""
        inside = [s for s in self.samples if start_ms <= s[0] <= end_ms] or self.samples
        (_, busy0, all0), (_, busy1, all1) = inside[0], inside[-1]
        return (os.cpu_count() or 1) * (busy1 - busy0) / max(all1 - all0, 1)


async def timed(bootstrap: str, topics: Topics, expect: int) -> tuple[float, int, float]:
    """(seconds from the first fact batch to the last enriched record, enriched records, the
    machine's busy cores meanwhile):
    once the facts log holds a fact for every raw record, the end of input is sent to the
    ledger (as ``hashwatch run`` does), which then releases everything it holds."""
    with MachineCpu() as cpu:
        seconds, got, first, last = await _timed(bootstrap, topics, expect)
    return seconds, got, cpu.busy_cores(first, last)


async def _timed(bootstrap: str, topics: Topics, expect: int) -> tuple[float, int, int, int]:
    reader = kafka.consumer(bootstrap, topics.facts, group_id=None, enable_auto_commit=False)
    await reader.start()
    first, facts, moved = 0, 0, time.monotonic()
    try:
        while facts < expect:
            if time.monotonic() - moved > STALL_S:
                raise Stalled(f"STALLED: {facts:,} facts of {expect:,}, none for {STALL_S:.0f}s")
            batch = await reader.getmany(timeout_ms=500, max_records=10_000)
            for recs in batch.values():
                first = first or recs[0].timestamp
                facts += sum(len(decoder.decode(r.value or b"").facts) for r in recs)
                moved = time.monotonic()
    finally:
        await reader.stop()
    sender = kafka.BatchSender(bootstrap)
    await sender.start()
    end = encoder.encode(FactBatch(worker="bench", end=True))
    await sender.send([OutRecord(topics.facts, FACTS_KEY, end)])
    await sender.stop()
    reader = kafka.consumer(bootstrap, topics.enriched, group_id=None, enable_auto_commit=False)
    await reader.start()
    last, got, quiet_since = 0, 0, time.monotonic()
    try:
        while time.monotonic() - quiet_since < QUIET_S:
            batch = await reader.getmany(timeout_ms=500, max_records=10_000)
            for recs in batch.values():
                got += len(recs)
                last = max(last, *(r.timestamp for r in recs))
                quiet_since = time.monotonic()
    finally:
        await reader.stop()
    return (last - first) / 1000, got, first, last


async def run(
    bootstrap: str, url: str, prefix: str, workers: int, expect: int
) -> tuple[float, int, float, float]:
    """(raw records/s, enriched records, CPU seconds of the workers and their enrich processes,
    the machine's busy cores in the timed window)."""
    with tempfile.TemporaryDirectory() as tmp:
        procs = []
        for i in range(workers):
            env = {
                **os.environ,
                "HASHWATCH_BROKER": url,
                "HASHWATCH_TOPIC_PREFIX": prefix,
                "HASHWATCH_DATA_DIR": str(Path(tmp) / f"w{i}"),
                "HASHWATCH_LANG_BACKEND": "fasttext",
            }
            procs.append(
                await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-c",
                    "from pipeline.cli import main; main()",
                    "worker",
                    env=env,
                    stderr=asyncio.subprocess.DEVNULL,
                )
            )
        try:
            seconds, got, busy = await timed(bootstrap, Topics(prefix), expect)
            cpu = sum(tree_cpu_s(p.pid) for p in procs)
        finally:
            for p in procs:
                p.send_signal(signal.SIGTERM)
            for p in procs:
                await p.wait()
    return expect / seconds, got, cpu, busy


async def measure(posts: int, rounds: int) -> None:
    broker = EmbeddedBroker()
    broker.start()
    try:
        await broker.wait_ready()
        records = await publish_once(broker.bootstrap, posts)
        n = sum(len(r) for r in records.values())
        print(f"{n:,} raw records on 4 partitions, fastText, 1 vs 2 worker processes")
        rates: dict[int, list[float]] = {1: [], 2: []}
        busy_at: dict[float, float] = {}  # rate -> busy cores in its window
        for round_ in range(rounds):
            for workers in (1, 2):
                prefix = f"workers{workers}-{round_}"
                await copy_raw(broker.bootstrap, prefix, records)
                assert broker.pid is not None
                began = tree_cpu_s(broker.pid)
                try:
                    rate, got, cpu, busy = await run(
                        broker.bootstrap, broker.url, prefix, workers, n
                    )
                except Stalled as e:
                    print(f"  round {round_ + 1}: {workers} worker(s) {e}", flush=True)
                    continue
                broker_cpu = tree_cpu_s(broker.pid) - began
                rates[workers].append(rate)
                busy_at[rate] = busy
                print(
                    f"  round {round_ + 1}: {workers} worker(s) {rate:7,.0f} posts/s "
                    f"({got:,} enriched; machine busy {busy:.2f} of {os.cpu_count()} cores "
                    f"while timed; CPU over the run: workers {cpu:.1f}s, broker "
                    f"{broker_cpu:.1f}s)",
                    flush=True,
                )
        one, two = max(rates[1]), max(rates[2])
        verdict = "met" if two / one >= GOAL else "MISSED"
        print(
            f"best of rounds: 1 worker {one:,.0f}, 2 workers {two:,.0f} posts/s: "
            f"{two / one:.2f}x (goal >= {GOAL}x: {verdict})"
        )
        # Whatever a second worker adds needs cores the first left idle: with work per post
        # unchanged, it can reach at most cores / busy cores of the one-worker window.
        cores = os.cpu_count() or 1
        print(
            f"  one worker kept {busy_at[one]:.2f} of {cores} cores busy (broker, worker, its "
            f"enrich process, this reader): this machine's ceiling for more workers is "
            f"{cores / busy_at[one]:.2f}x; two kept {busy_at[two]:.2f} busy"
        )
    finally:
        broker.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--posts", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(measure(args.posts, args.rounds))


if __name__ == "__main__":
    main()
