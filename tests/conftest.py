"""Fixtures many tests share: the real embedded broker, the recorded X data, settings."""

from __future__ import annotations

import functools
import itertools
import os
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from hypothesis import HealthCheck, settings

from pipeline.core.broker import EmbeddedBroker
from pipeline.core.settings import Settings

# Property-based tests of every parser: a sample in `make test`, 10,000 inputs each in
# `make fuzz` (HYPOTHESIS_PROFILE=fuzz). Deadlines are off: a slow machine is not a failure.
settings.register_profile("default", max_examples=200, deadline=None)
settings.register_profile(
    "fuzz", max_examples=10_000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

REPO = Path(__file__).resolve().parent.parent
_prefixes = itertools.count()


@functools.cache
def shared_data() -> Path:
    """The recorded payloads: ``$HASHWATCH_SHARED_DATA``, else ``shared/data`` beside this
    checkout, else beside the checkout it was cloned from (a fresh clone in a temporary
    folder still finds them)."""
    if configured := os.environ.get("HASHWATCH_SHARED_DATA"):
        return Path(configured)
    beside = REPO.parent / "shared" / "data"
    if beside.is_dir():
        return beside
    origin = subprocess.run(
        ["git", "-C", str(REPO), "config", "--get", "remote.origin.url"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    if origin and Path(origin).is_dir():
        cloned = Path(origin).resolve().parent / "shared" / "data"
        if cloned.is_dir():
            return cloned
    return beside


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


CANDIDATES = (
    [os.environ["HASHWATCH_TEST_POSTGRES"]]
    if os.environ.get("HASHWATCH_TEST_POSTGRES")
    else ["postgresql://postgres@127.0.0.1:5432/test", "postgresql://root@127.0.0.1:5432/test"]
)


@pytest.fixture(scope="session")
async def pg_base() -> str:
    """The real PostgreSQL these machines run (CI starts it); failing, not skipping, if absent."""
    errors = []
    for url in CANDIDATES:
        try:
            conn = await asyncpg.connect(url, timeout=3)
        except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
            errors.append(f"{url}: {type(exc).__name__}: {exc}")
            continue
        await conn.close()
        return url
    pytest.fail("PostgreSQL is not reachable (set HASHWATCH_TEST_POSTGRES): " + "; ".join(errors))


@pytest.fixture
async def schema(pg_base: str) -> AsyncIterator[str]:
    """A schema of its own for each test, dropped afterwards."""
    name = f"hw_test_{uuid.uuid4().hex[:12]}"
    yield name
    conn = await asyncpg.connect(pg_base)
    await conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
    await conn.close()
