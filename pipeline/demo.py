"""The live demo: a synthetic campaign through the whole pipeline, with counts on screen."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
import webbrowser

from agents.publisher import KafkaPublisher
from agents.synth.collector import SynthCollector, SynthConfig, phase_at
from pipeline.core.counters import StageCounters
from pipeline.core.settings import Settings, redact_url
from pipeline.dashboard import serve_dashboard
from pipeline.runner import StalledError, wait_drained
from pipeline.session import session


def status_line(c: StageCounters, elapsed: float, phase: str) -> str:
    total = max(c.unique, 1)
    langs = " ".join(f"{k} {100 * v / total:.0f}%" for k, v in c.by_language.most_common(4))
    media = " ".join(f"{k} {v:,}" for k, v in c.by_media_type.most_common(3))
    dead = sum(c.dead_lettered.values())
    return (
        f"[{elapsed:5.0f}s {phase:6}] posts {c.unique:,} (orig {c.originals:,} / rt {c.reposts:,})"
        f" | dups {c.duplicates:,} | dead {dead:,} | stored {c.stored:,}"
        f" | {langs} | {media}"
    )


async def run_demo(settings: Settings, rate: float, duration: float | None, seed: int) -> None:
    async with session(settings) as s:
        print(f"hashwatch demo: broker {s.bootstrap}, store {redact_url(s.store.url)}", flush=True)
        print("synthetic campaign: Arabic, English, Turkish and more; Ctrl-C to stop", flush=True)
        try:
            dash = await serve_dashboard(settings, s.bootstrap)
        except OSError:  # the configured port is taken: any free one will do for a demo
            dash = await serve_dashboard(settings, s.bootstrap, port=0)
        print(f"dashboard: {dash.url}  (open it in a browser)", flush=True)
        if sys.stdout.isatty():
            webbrowser.open(dash.url)
        publisher = KafkaPublisher(
            s.bootstrap, s.topics, max_record_bytes=settings.max_record_bytes
        )
        await publisher.start()
        collector = SynthCollector(publisher, SynthConfig(seed=seed, rate=rate), duration=duration)
        task = asyncio.create_task(collector.run())
        began = time.monotonic()
        tty = sys.stdout.isatty()
        try:
            while not task.done():
                await asyncio.sleep(1.0)
                elapsed = time.monotonic() - began
                phase, _ = phase_at(elapsed)
                line = status_line(s.worker.counters, elapsed, phase)
                print(f"\r\x1b[2K{line}" if tty else line, end="" if tty else "\n", flush=True)
        finally:
            collector.stop()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            with contextlib.suppress(StalledError, TimeoutError, asyncio.CancelledError):
                # what was collected gets stored before the demo exits
                await asyncio.wait_for(
                    wait_drained(s.worker, collector.stats.posts, 5.0, final=False), 15
                )
            await publisher.stop()
            await dash.close()
            if tty:
                print()
        print(
            f"done: {s.worker.counters.unique:,} posts enriched, "
            f"{s.worker.counters.stored:,} stored in {redact_url(s.store.url)}"
        )
