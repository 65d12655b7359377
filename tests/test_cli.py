"""The CLI as people run it: separate broker, worker and collector processes."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline.core.settings import Settings
from tests.live import cli_env

COMMANDS = [
    [],
    ["broker"],
    ["worker"],
    ["collect"],
    ["collect", "replay"],
    ["collect", "synth"],
    ["demo"],
    ["run"],
    ["lang"],
    ["alerts"],
    ["alerts", "webhook"],
    ["alerts", "tail"],
    ["dashboard"],
    ["export"],
    ["status"],
    ["verify"],
    ["collect", "x"],
    ["collect", "mastodon"],
    ["collect", "bluesky"],
]


def hashwatch(*args: str) -> list[str]:
    return [sys.executable, "-m", "pipeline.cli", *args]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "hashwatch")
def test_every_command_has_help(command: list[str]) -> None:
    proc = subprocess.run(hashwatch(*command, "--help"), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "Usage:" in proc.stdout


def test_collect_without_a_broker_says_how_to_get_one() -> None:
    env = {k: v for k, v in os.environ.items() if k != "HASHWATCH_BROKER"}
    proc = subprocess.run(
        hashwatch("collect", "synth", "--count", "1"),
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 2 and "HASHWATCH_BROKER" in proc.stderr


@pytest.mark.slow
def test_worker_and_collector_as_separate_processes(settings: Settings, x_data: Path) -> None:
    store = settings.data_dir / "separate.db"
    env = cli_env(settings, HASHWATCH_LANG_BACKEND="fasttext", HASHWATCH_STORE=f"sqlite:///{store}")
    worker = subprocess.Popen(hashwatch("worker"), env=env, stderr=subprocess.PIPE, text=True)
    try:
        collect = subprocess.run(
            hashwatch("collect", "replay", str(x_data / "kpop.jsonl")),
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert collect.returncode == 0, collect.stderr
        assert "100 posts" in collect.stdout
        deadline = time.monotonic() + 60
        count = 0
        while time.monotonic() < deadline:
            if store.exists():
                with sqlite3.connect(store) as db:
                    count = db.execute("SELECT count(*) FROM posts").fetchone()[0]
                if count == 100:
                    break
            time.sleep(0.5)
        assert count == 100
    finally:
        worker.send_signal(signal.SIGTERM)
        _, err = worker.communicate(timeout=30)
    assert worker.returncode == 0, err
