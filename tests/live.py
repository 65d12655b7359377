"""Running a live collector in a test: in-process until a condition holds, or as the command
people run (``hashwatch collect …``) in a process of its own, joined to the test's pipeline."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from agents.base import Collector, CollectorStats
from pipeline.core.settings import Settings


async def run_until(
    collector: Collector, done: Callable[[], bool], timeout: float = 30
) -> CollectorStats:
    """Run ``collector`` until ``done()``; fail if it returns first or never gets there."""
    task = asyncio.create_task(collector.run())
    deadline = time.monotonic() + timeout
    while not done():
        if task.done():
            await task
            pytest.fail("collector returned before the test's condition held")
        if time.monotonic() > deadline:
            collector.stop()
            await asyncio.wait_for(task, 10)
            pytest.fail("condition not reached in time")
        await asyncio.sleep(0.02)
    collector.stop()
    return await asyncio.wait_for(task, 10)


# Settings a developer's shell may hold that would point a command elsewhere than the test says
_OWN_SETTINGS = ("HASHWATCH_", "X_BEARER_TOKEN", "X_API_BASE_URL", "MASTODON_", "BLUESKY_")


def cli_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment of a ``hashwatch`` command that joins the test's broker, topics and data
    directory, plus ``extra`` (tokens, URLs of fake servers, the campaign); hashwatch's own
    settings from the environment the tests run in are left out."""
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(_OWN_SETTINGS)},
        "HASHWATCH_BROKER": str(settings.broker),
        "HASHWATCH_TOPIC_PREFIX": settings.topic_prefix,
        "HASHWATCH_DATA_DIR": str(settings.data_dir),
        **extra,
    }


class Command:
    """``hashwatch ARGS`` in a process of its own, its output (stdout and stderr) in a file, so
    a chatty command never blocks on a full pipe."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.args = args
        self.log = log
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "pipeline.cli", *args],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def check_running(self) -> None:
        if self.proc.poll() is not None:
            pytest.fail(
                f"hashwatch {' '.join(self.args)} exited ({self.proc.returncode}):\n"
                + self.output()[-4000:]
            )

    async def stop(self, timeout: float = 30) -> int:
        """SIGTERM, as a service manager stops it; its exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None:
            if time.monotonic() > deadline:
                self.proc.kill()
                self.proc.wait()
                pytest.fail(f"hashwatch {' '.join(self.args)} did not stop within {timeout} s")
            await asyncio.sleep(0.05)
        return self.proc.returncode

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
