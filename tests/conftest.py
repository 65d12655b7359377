"""Fixtures many tests share: the real embedded broker, the recorded X data, settings."""

from __future__ import annotations

import itertools
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from pipeline.broker import EmbeddedBroker
from pipeline.settings import Settings

REPO = Path(__file__).resolve().parent.parent
_prefixes = itertools.count()


def shared_data() -> Path:
    return Path(os.environ.get("HASHWATCH_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def x_data() -> Path:
    path = shared_data() / "x-v2"
    if not path.is_dir():
        pytest.fail(f"recorded X API v2 payloads not found at {path} (set HASHWATCH_SHARED_DATA)")
    return path


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    """One real Tansu broker for the session; tests isolate themselves by topic prefix."""
    b = EmbeddedBroker(log_path=tmp_path_factory.mktemp("broker") / "tansu.log")
    b.start()
    yield b
    b.stop()


@pytest.fixture
async def broker_url(broker: EmbeddedBroker) -> AsyncIterator[str]:
    await broker.wait_ready()
    yield broker.url


@pytest.fixture
def settings(broker_url: str, tmp_path: Path) -> Settings:
    """Fresh topics, consumer group, tables and store for each test."""
    return Settings(
        broker=broker_url,
        data_dir=tmp_path / "data",
        topic_prefix=f"t{next(_prefixes)}-{os.getpid()}",
        lang_backend="langdetect",
        batch_seconds=0.05,
    )
