"""Faust's aiokafka transport, with the fetch wait every hashwatch consumer uses.

faust-streaming builds its consumer with ``fetch_max_wait_ms=1500`` and no setting to change
it; on Tansu that wait is paid in full whenever a fetch finds nothing (see
``pipeline.core.kafka``), so the enrich and ledger agents would each sit out up to 1.5 s
per hop. The transport below is Faust's own, with the consumer's wait set before it starts.
"""

from __future__ import annotations

from typing import Any

import aiokafka
import faust
from faust.transport.drivers import aiokafka as driver
from faust.types import TransportT

from pipeline.core import kafka


class _ConsumerThread(driver.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> aiokafka.AIOKafkaConsumer:
        consumer = super()._create_worker_consumer(transport)
        consumer._fetch_max_wait_ms = kafka.FETCH_MAX_WAIT_MS  # read by start()
        return consumer


class _Consumer(driver.Consumer):
    def _new_consumer_thread(self) -> driver.AIOKafkaConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)


class _Transport(driver.Transport):
    Consumer = _Consumer


class App(faust.App):
    """``faust.App`` on the transport above (for ``kafka://`` brokers, the only kind used)."""

    def _new_transport(self) -> TransportT:
        return _Transport(self.conf.broker_consumer, self)
