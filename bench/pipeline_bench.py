"""End-to-end pipeline throughput on the embedded broker: posts/s from raw topic to store.

A synthetic campaign is published first (so the collector is not what is measured), then a
worker starts and the clock runs from its first consumed record until every post is
enriched, stored and summed into its metrics window.

    .venv/bin/python bench/pipeline_bench.py [--posts 30000] [--backend fasttext]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import tempfile
import time
from pathlib import Path

from agents.publisher import KafkaPublisher
from agents.synth.collector import SynthCollector, SynthConfig
from pipeline.core.broker import EmbeddedBroker
from pipeline.core.settings import Settings
from pipeline.core.topics import Topics, create_topics
from pipeline.runner import wait_drained
from pipeline.session import session


async def measure(posts: int, backend: str, batch: int) -> None:
    broker = EmbeddedBroker()
    broker.start()
    try:
        await broker.wait_ready()
        with tempfile.TemporaryDirectory() as tmp:
            settings = Settings(
                broker=broker.url, data_dir=Path(tmp), lang_backend=backend, batch_size=batch
            )
            topics = Topics(settings.topic_prefix)
            await create_topics(broker.bootstrap, topics, settings.partitions)
            publisher = KafkaPublisher(broker.bootstrap, topics)
            await publisher.start()
            t0 = time.perf_counter()
            stats = await SynthCollector(
                publisher, SynthConfig(seed=11), count=posts, live=False
            ).run()
            await publisher.stop()
            produce_s = time.perf_counter() - t0
            async with session(settings) as s:
                c = s.worker.counters
                while c.raw_consumed == 0:
                    await asyncio.sleep(0.005)
                t1 = time.perf_counter()
                await wait_drained(s.worker, stats.posts, final=False)
                run_s = time.perf_counter() - t1
                print(f"backend {backend}, batch {batch}, partitions {settings.partitions}")
                print(f"  collector (synth -> raw topic): {stats.posts / produce_s:10,.0f} posts/s")
                print(
                    f"  pipeline (raw -> enriched -> store + metrics): "
                    f"{stats.posts / run_s:10,.0f} posts/s  ({1e6 * run_s / stats.posts:,.0f} "
                    f"µs/post; {stats.posts:,} posts in {run_s:.1f}s)"
                )
                print(
                    f"  unique {c.unique:,}, duplicates {c.duplicates:,}, stored {c.stored:,}, "
                    f"windows {c.facts_consumed:,} facts"
                )
    finally:
        broker.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--posts", type=int, default=30_000)
    parser.add_argument("--backend", default="fasttext")
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(measure(args.posts, args.backend, args.batch))


if __name__ == "__main__":
    main()
