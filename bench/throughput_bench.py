"""Throughput, hashwatch against a Quix Streams app doing the same work (``bench/quix_app.py``),
in one run, on the same posts and the same embedded broker.

A synthetic campaign is published once; every run then gets its own byte-for-byte copy of that
raw topic (same keys, partitions and order; copying is not timed) under its own topic prefix,
so each starts from offset 0 with nothing of the others downstream. Runs are interleaved
(hashwatch, Quix, per backend, per round) so a busy machine slows both alike: compare the
ratio, not the absolute figures. Each is timed from its first raw record consumed until every
post is enriched, through the ledger and stored, with the ledger told "end of input" once
every raw record was read (``hashwatch run``'s archive mode); start-up (model loading, group
join) is printed apart. Each run is a fresh child process (no model loaded yet): hashwatch as a
worker, its enrich process and its store sink (what ``hashwatch worker`` runs), the Quix app
as ``quix_app.py``. CPU is per second of the run, both processes of hashwatch counted.

    .venv/bin/python bench/throughput_bench.py [--posts 20000] [--rounds 1]
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
from collections import defaultdict
from pathlib import Path

from profiling import Profile

from agents.publisher import KafkaPublisher
from agents.synth.collector import SynthCollector, SynthConfig
from pipeline.core import kafka
from pipeline.core.broker import EmbeddedBroker
from pipeline.core.settings import Settings
from pipeline.core.signals import run_until_signal
from pipeline.core.topics import Topics, create_topics
from pipeline.runner import wait_drained
from pipeline.session import session

PARTITIONS = 4
Records = dict[int, list[tuple[bytes | None, bytes]]]  # partition -> [(key, value)]


async def publish_once(bootstrap: str, posts: int) -> Records:
    """The synthetic campaign on a source raw topic, read back by partition."""
    topics = Topics("source")
    await create_topics(bootstrap, topics, PARTITIONS)
    publisher = KafkaPublisher(bootstrap, topics)
    await publisher.start()
    stats = await SynthCollector(publisher, SynthConfig(seed=11), count=posts, live=False).run()
    await publisher.stop()
    reader = kafka.consumer(bootstrap, topics.raw, group_id=None, enable_auto_commit=False)
    await reader.start()
    records: Records = defaultdict(list)
    try:
        got = 0
        while got < stats.posts:  # count records: Tansu's end offsets lag (README)
            batch = await reader.getmany(timeout_ms=1000)
            for tp, recs in batch.items():
                records[tp.partition].extend((r.key, r.value or b"") for r in recs)
                got += len(recs)
    finally:
        await reader.stop()
    return records


async def copy_raw(bootstrap: str, prefix: str, records: Records) -> int:
    """Topics for ``prefix``, its raw topic holding exactly ``records``; how many."""
    topics = Topics(prefix)
    await create_topics(bootstrap, topics, PARTITIONS)
    producer = kafka.producer(bootstrap, max_batch_size=1024 * 1024, max_request_size=4 << 20)
    await producer.start()
    try:
        futures = []
        for partition, recs in records.items():
            batch = producer.create_batch()
            for key, value in recs:
                if batch.append(key=key, value=value, timestamp=None) is None:
                    sent = await producer.send_batch(batch, topics.raw, partition=partition)
                    futures.append(sent)
                    batch = producer.create_batch()
                    batch.append(key=key, value=value, timestamp=None)
            futures.append(await producer.send_batch(batch, topics.raw, partition=partition))
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return sum(len(r) for r in records.values())


def tree_cpu_s(pid: int) -> float:
    """CPU seconds so far of a process and its live children (a worker's enrich process)."""

    def stat(path: Path) -> list[str]:
        return path.read_text().rpartition(")")[2].split()

    fields = stat(Path(f"/proc/{pid}/stat"))
    total = int(fields[11]) + int(fields[12])  # utime + stime
    for path in Path("/proc").glob("[0-9]*/stat"):
        try:
            child = stat(path)
        except OSError:
            continue  # gone meanwhile
        if int(child[1]) == pid:  # its parent
            total += int(child[11]) + int(child[12])
    return total / os.sysconf("SC_CLK_TCK")


async def run_hashwatch(
    broker: str, prefix: str, backend: str, expect: int, profile: Path | None
) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            broker=broker, data_dir=Path(tmp), lang_backend=backend, topic_prefix=prefix
        )
        began = time.perf_counter()
        async with session(settings) as s:
            c = s.worker.counters
            while c.raw_consumed == 0:
                await asyncio.sleep(0.002)
            spy = Profile(profile)
            spy.start()  # (blocks 0.3 s when profiling: figures then are not the ones to quote)
            first, cpu = time.perf_counter(), tree_cpu_s(os.getpid())
            await wait_drained(s.worker, expect, final=True)
            end = time.perf_counter()
            spy.stop()
            return {
                "startup_s": first - began,
                "run_s": end - first,
                "cpu_s": tree_cpu_s(os.getpid()) - cpu,
                "unique": c.unique,
                "duplicates": c.duplicates,
                "enriched": c.enriched_sent,
            }


async def run_child(script: Path, args: list[str]) -> dict[str, float]:
    """Run a system in its own process (a fresh interpreter, no model loaded yet); its result
    is the JSON of its last line."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(script), *args, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"{script.name} {' '.join(args)} failed ({proc.returncode})")
    result: dict[str, float] = json.loads(out.decode().strip().splitlines()[-1])
    return result


async def run_quix(
    bootstrap: str, prefix: str, backend: str, expect: int, profile: Path | None
) -> dict[str, float]:
    app = Path(__file__).with_name("quix_app.py")
    args = ["--bootstrap", bootstrap, "--prefix", prefix, "--expect", str(expect)]
    if profile is not None:
        args += ["--profile", str(profile)]
    return await run_child(app, [*args, "--backend", backend])


async def measure(
    posts: int, backends: list[str], rounds: int, systems: list[str], profiles: Path | None
) -> None:
    broker = EmbeddedBroker()
    broker.start()
    try:
        await broker.wait_ready()
        records = await publish_once(broker.bootstrap, posts)
        n = sum(len(r) for r in records.values())
        print(f"{n:,} raw records ({posts:,} synthetic posts asked), {PARTITIONS} partitions")
        results: dict[tuple[str, str], list[dict[str, float]]] = defaultdict(list)
        for round_ in range(rounds):
            for backend in backends:
                for system in systems:
                    prefix = f"{system}-{backend}-{round_}"
                    await copy_raw(broker.bootstrap, prefix, records)
                    profile = profiles / f"{prefix}.txt" if profiles else None
                    if system == "hashwatch":
                        args = ["--child", broker.url, prefix, backend, str(n)]
                        if profile is not None:
                            args += ["--profile", str(profile)]
                        r = await run_child(Path(__file__), args)
                    else:
                        r = await run_quix(broker.bootstrap, prefix, backend, n, profile)
                    results[(system, backend)].append(r)
                    print(
                        f"  round {round_ + 1} {backend:9} {system:9} "
                        f"{n / r['run_s']:7,.0f} posts/s  ({r['run_s']:.2f}s; start-up "
                        f"{r['startup_s']:.2f}s; CPU {r['cpu_s'] / r['run_s']:.0%}; "
                        f"unique {r['unique']:,}, duplicates {r['duplicates']:,}, "
                        f"enriched {r['enriched']:,})",
                        flush=True,
                    )
        print(
            "posts/s (median of rounds), raw topic -> enriched -> store; hashwatch as "
            "`hashwatch worker` runs it (worker and enrich process), Quix in one process:"
        )
        if len(systems) < 2:
            return
        for backend in backends:
            rate = {
                system: n / statistics.median(r["run_s"] for r in results[(system, backend)])
                for system in ("hashwatch", "quix")
            }
            ratio = rate["hashwatch"] / rate["quix"]
            verdict = "met" if ratio >= 1.0 else "MISSED"
            print(
                f"  {backend:9} hashwatch {rate['hashwatch']:7,.0f}  quix {rate['quix']:7,.0f}  "
                f"ratio {ratio:.2f}x  (goal >= 1.0x: {verdict})"
            )
    finally:
        broker.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--posts", type=int, default=20_000)
    parser.add_argument("--backend", action="append", help="fasttext, cascade (default: both)")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument(
        "--only", choices=["hashwatch", "quix"], help="run one system (to profile it)"
    )
    parser.add_argument("--profile", type=Path, help="py-spy each timed window into this folder")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)  # broker prefix backend n
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("pipeline.windows").setLevel(logging.ERROR)  # the campaign's alerts
    if args.child:
        url, prefix, backend, n = args.child
        run = run_hashwatch(url, prefix, backend, int(n), args.profile)
        print(json.dumps(run_until_signal(run)))  # as `hashwatch worker` runs
        return
    systems = [args.only] if args.only else ["hashwatch", "quix"]
    backends = args.backend or ["fasttext", "cascade"]
    asyncio.run(measure(args.posts, backends, args.rounds, systems, args.profile))


if __name__ == "__main__":
    main()
