"""Alert webhooks: signed, retried, refused for private targets unless allowed."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import aiohttp
import pytest
from aiokafka import AIOKafkaProducer

from pipeline.alerts.webhooks import (
    SIGNATURE_HEADER,
    RetryPolicy,
    WebhookRefused,
    check_target,
    deliver,
    post_with_retries,
    sign,
    verify,
)
from pipeline.core.settings import Settings
from pipeline.core.topics import Topics, create_topics
from schemas.alert import Alert
from schemas.codec import encode
from tests.fakes.webhook_receiver import webhook_receiver

SECRET = b"s3cret"
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def test_signature_is_hmac_sha256_of_the_body() -> None:
    body = b'{"id":"surge:1:all"}'
    header = sign(body, SECRET)
    assert header.startswith("sha256=") and verify(body, SECRET, header)
    assert not verify(body + b" ", SECRET, header)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/x",
        "http://10.1.2.3/x",
        "http://[::1]/x",
        "http://169.254.169.254/latest",
        "ftp://example.org/x",
    ],
)
def test_private_and_loopback_targets_are_refused(url: str) -> None:
    with pytest.raises(WebhookRefused):
        check_target(url, allow_private=False)


def test_loopback_is_allowed_when_explicitly_allowed() -> None:
    check_target("http://127.0.0.1:9/hook", allow_private=True)


async def test_failures_are_retried_with_backoff() -> None:
    slept: list[float] = []

    async def sleep(s: float) -> None:
        slept.append(s)

    async with webhook_receiver(fail_first=3) as rx, aiohttp.ClientSession() as session:
        ok = await post_with_retries(session, rx.url, b"{}", {}, RetryPolicy(0.5, 60, 8), sleep)
    assert ok and slept == [0.5, 1.0, 2.0] and len(rx.received) == 1


async def test_alerts_on_the_topic_reach_the_receiver_once_and_signed(settings: Settings) -> None:
    topics = Topics(settings.topic_prefix)
    bootstrap = settings.bootstrap_servers()
    await create_topics(bootstrap, topics, settings.partitions)
    alerts = [
        Alert(
            id=f"surge:{i}:all",
            rule="surge",
            severity="warning",
            subject="all",
            summary="a surge",
            window_start=NOW,
            window_end=NOW,
            value=9,
            threshold=3,
            raised_at=NOW,
        )
        for i in range(3)
    ]
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    # the second copy of the first alert: a worker that crashed after publishing it
    for a in [*alerts, alerts[0]]:
        await producer.send_and_wait(topics.alerts, encode(a), key=a.id.encode())

    async def run_deliverer(rx_url: str, until: int) -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(
            deliver(
                bootstrap,
                topics.alerts,
                rx_url,
                SECRET,
                allow_private=True,
                policy=RetryPolicy(0.05, 0.1, 5),
                stop=stop,
            )
        )
        for _ in range(200):
            if len(rx.received) >= until:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)  # nothing more may arrive
        stop.set()
        await task

    async with webhook_receiver(fail_first=1) as rx:
        await run_deliverer(rx.url, 3)
        # a restarted deliverer, and the first alert published a third time meanwhile
        await producer.send_and_wait(topics.alerts, encode(alerts[0]), key=alerts[0].id.encode())
        await run_deliverer(rx.url, 4)
    await producer.stop()
    # once each (order across partitions is not defined), each with a valid signature
    assert sorted(r.headers["X-Hashwatch-Alert-Id"] for r in rx.received) == sorted(
        a.id for a in alerts
    )
    assert all(verify(r.body, SECRET, r.headers[SIGNATURE_HEADER]) for r in rx.received)
