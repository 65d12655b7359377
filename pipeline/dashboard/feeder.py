"""What feeds the dashboard's state: a consumer of the output topics.

The consumer has no group and reads ``posts.enriched``, ``metrics``, ``alerts`` and ``gaps``
from the earliest offsets, so a page opened late still shows the whole campaign.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from pipeline.core import kafka
from pipeline.core.topics import Topics
from pipeline.dashboard.hub import Hub
from pipeline.dashboard.state import DashboardState
from schemas.alert import Alert
from schemas.codec import DecodeError, EnrichedEvent, decode
from schemas.enriched import EnrichedPost
from schemas.gap import Gap
from schemas.metrics import MetricsWindow

log = logging.getLogger(__name__)


class Feeder:
    """The background work: topic consumer, gap poller, SSE pusher."""

    def __init__(
        self,
        state: DashboardState,
        hub: Hub,
        bootstrap: str,
        topics: Topics,
        push_interval: float,
    ) -> None:
        self.state = state
        self.hub = hub
        self.bootstrap = bootstrap
        self.topics = topics
        self.push_interval = push_interval
        self.positions: dict[TopicPartition, int] = {}
        self.tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self.tasks = [
            asyncio.create_task(self.consume(), name="dashboard-consumer"),
            asyncio.create_task(self.push(), name="dashboard-push"),
        ]

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def push(self) -> None:
        while True:
            await asyncio.sleep(self.push_interval)
            try:
                self.hub.push()
            except Exception:
                log.exception("dashboard: building an update failed")

    async def consume(self) -> None:
        backoff = 1.0
        while True:
            consumer = kafka.consumer(
                self.bootstrap,
                group_id=None,
                client_id="hashwatch-dashboard",
                enable_auto_commit=False,
                request_timeout_ms=10_000,
            )
            try:
                await consumer.start()
                await self._assign(consumer)
                self.state.set_consumer(connected=True, error=None)
                backoff = 1.0
                while True:
                    batches = await consumer.getmany(timeout_ms=500, max_records=5000)
                    for tp, records in batches.items():
                        self._apply(tp.topic, [r.value for r in records if r.value is not None])
                        if records:
                            self.positions[tp] = records[-1].offset + 1
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.state.set_consumer(connected=False, error=f"{type(exc).__name__}: {exc}")
                log.warning("dashboard consumer: %s; retrying in %.0fs", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 30.0)
            finally:
                with contextlib.suppress(Exception):
                    await consumer.stop()

    async def _assign(self, consumer: AIOKafkaConsumer) -> None:
        """Every partition of the three topics, resuming where a previous consumer stopped."""
        wanted = [self.topics.enriched, self.topics.metrics, self.topics.alerts, self.topics.gaps]
        deadline = time.monotonic() + 30
        partitions: list[TopicPartition] = []
        while True:
            await consumer.topics()  # refreshes metadata
            partitions = [
                TopicPartition(t, p)
                for t in wanted
                for p in sorted(consumer.partitions_for_topic(t) or ())
            ]
            if {tp.topic for tp in partitions} == set(wanted) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
        if not partitions:
            raise RuntimeError(f"none of the topics {', '.join(wanted)} exist")
        consumer.assign(partitions)
        fresh = [tp for tp in partitions if tp not in self.positions]
        if fresh:
            await consumer.seek_to_beginning(*fresh)
        for tp in partitions:
            if tp in self.positions:
                consumer.seek(tp, self.positions[tp])

    def _apply(self, topic: str, values: list[bytes]) -> None:
        """Each record shown, or counted as invalid: a record that does not decode (however
        deeply nested) never stops the consumer, which would read it again and again."""
        self.state.consumer["records"] = self.state.consumer.get("records", 0) + len(values)
        if topic == self.topics.enriched:
            events = self._decoded(topic, values, EnrichedEvent)
            # a post counts once: a later version is not a new post
            self.state.add_posts(e for e in events if isinstance(e, EnrichedPost) and not e.edit)
        elif topic == self.topics.alerts:
            for alert in self._decoded(topic, values, Alert):
                self.state.add_alert(alert)
        elif topic == self.topics.gaps:
            self.state.add_gaps(self._decoded(topic, values, Gap))
        elif topic == self.topics.metrics:
            for window in self._decoded(topic, values, MetricsWindow):
                self.state.add_metrics(window)

    def _decoded(self, topic: str, values: list[bytes], record_type: Any) -> list[Any]:
        out = []
        for value in values:
            try:
                out.append(decode(value, record_type))
            except DecodeError:  # TooDeep included
                self.state.invalid[topic] += 1
        return out
