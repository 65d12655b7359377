"""Alert webhooks: signed, retried, refused for private targets unless allowed; any target URL,
signature header or record on the alerts topic is handled, never raised."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import unicodedata
from datetime import UTC, datetime
from typing import Any
from unittest import mock
from urllib.parse import unquote, urlsplit

import aiohttp
import msgspec
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.structs import ConsumerRecord
from hypothesis import given
from hypothesis import strategies as st

from pipeline.alerts.webhooks import (
    SIGNATURE_HEADER,
    RetryPolicy,
    WebhookRefused,
    check_target,
    deliver,
    deliverable,
    header_value,
    post_with_retries,
    shown,
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


# --- property-based: any target, any header, anything on the alerts topic -----------------------

WORDS = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30)
HOSTS = st.sampled_from(
    ["127.0.0.1", "[::1]", "10.0.0.1", "8.8.8.8", "[2001:4860:4860::8888]", "[fe80::1]",
     "169.254.169.254", "a" * 70 + ".example", "...", "xn--", "-", "a\x00b", "[::1", "1.2.3",
     "ä" * 70, "\udcff", "", "[v1.x]"]
)  # fmt: skip
PORTS = st.none() | st.integers(-5, 70_000).map(str) | st.sampled_from(["x", "", "1e3", "٣"])
URLS = st.text(max_size=60) | st.builds(
    lambda scheme, creds, host, port, path: (
        f"{scheme}://{creds}{host}{'' if port is None else ':' + port}{path}"
    ),
    st.sampled_from(["http", "https", "ftp", "javascript", "HTTP", ""]),
    st.sampled_from(["", "user:s3cr3t@", "token@"]),
    HOSTS,
    PORTS,
    st.sampled_from(["", "/hook", "/services/T0/B0/s3cr3tpath", "/\r\nX-Injected: 1", "?a=b#c"]),
)


def offline_getaddrinfo(host: str, port: object, *args: object, **kwargs: object) -> list[Any]:
    """getaddrinfo without a network: IP literals resolve, names do not (after the IDNA
    encoding the real one does first), so generated host names never reach a DNS server."""
    host.encode("idna")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known") from None
    return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (str(address), port))]


@pytest.mark.fuzz
@given(URLS, st.booleans())
def test_any_target_is_allowed_or_refused_clearly(url: str, allow_private: bool) -> None:
    try:
        with mock.patch.object(socket, "getaddrinfo", offline_getaddrinfo):
            check_target(url, allow_private)
    except WebhookRefused as exc:
        message = str(exc)
        assert message and "s3cr3t" not in message and "\r" not in message
        return
    parts = urlsplit(url)  # what was allowed is an http(s) URL with a host and a valid port
    assert parts.scheme in ("http", "https") and parts.hostname
    assert parts.port is None or 0 <= parts.port < 65536
    assert not any(c in url for c in "\r\n\x00 ")
    assert "s3cr3t" not in shown(url)
    if not allow_private:
        assert ipaddress.ip_address(parts.hostname).is_global


@pytest.mark.fuzz
@given(st.binary(max_size=200), st.text(max_size=80) | st.just(sign(b"x", SECRET)))
def test_any_signature_header_verifies_or_not(body: bytes, header: str) -> None:
    assert verify(body, SECRET, header) == (header == sign(body, SECRET))
    assert verify(body, SECRET, sign(body, SECRET))


def record(value: bytes, key: bytes | None) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(
        topic="t.alerts", partition=0, offset=7, timestamp=0, timestamp_type=0, key=key,
        value=value, checksum=None, serialized_key_size=0, serialized_value_size=0, headers=(),
    )  # fmt: skip


ALERTS = st.builds(
    lambda rule, subject, summary: Alert(
        id=f"{rule}:{NOW.isoformat()}:{subject}", rule=rule, severity="warning", subject=subject,
        summary=summary, window_start=NOW, window_end=NOW, value=1, threshold=1, raised_at=NOW,
    ),
    st.sampled_from(["surge", "watchlist", "new-language"]),
    WORDS,
    WORDS,
)  # fmt: skip
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | WORDS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(WORDS, inner, max_size=3),
    max_leaves=10,
)


@pytest.mark.fuzz
@given(ALERTS)
def test_an_alert_under_its_id_is_delivered_with_a_header_that_carries_its_id(
    alert: Alert,
) -> None:
    assert deliverable(record(encode(alert), alert.id.encode())) == alert.id
    assert deliverable(record(encode(alert), None)) == alert.id
    header = header_value(alert.id)
    assert unquote(header) == alert.id
    assert not any(unicodedata.category(c) == "Cc" for c in header)
    assert deliverable(record(encode(alert), b"\xff" + alert.id.encode())) is None


@pytest.mark.fuzz
@given(
    st.binary(max_size=300)
    | JSON.map(msgspec.json.encode)
    | st.integers(1, 100_000).map(lambda n: b'{"schema":"alert/1","examples":' + b"[" * n)
    | st.integers(1, 2_000).map(
        lambda n: b'{"schema":"alert/1","id":' + b'{"a":' * n + b"1" + b"}" * n + b"}"
    ),
    st.none() | st.binary(max_size=20),
)
def test_anything_else_on_the_alerts_topic_is_skipped(value: bytes, key: bytes | None) -> None:
    assert deliverable(record(value, key)) is None


async def test_the_deliverer_signs_only_alerts_and_goes_on_past_anything_else(
    settings: Settings,
) -> None:
    topics = Topics(settings.topic_prefix)
    bootstrap = settings.bootstrap_servers()
    await create_topics(bootstrap, topics, 1)
    good = Alert(
        id="watchlist:1:a\r\nX-Injected: 1", rule="watchlist", severity="warning", subject="a",
        summary="s", window_start=NOW, window_end=NOW, value=1, threshold=1, raised_at=NOW,
    )  # fmt: skip
    other = msgspec.structs.replace(good, id="surge:2:all")
    records = [
        (b"\xff\xfe", b"not json"),
        (b"k", b"[" * 100_000),
        (b"k", encode(other)),  # a key that is not its id
        (good.id.encode(), encode(good)),
        (None, b'{"schema":"alert/1"}'),
        (other.id.encode(), encode(other)),
    ]
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    for key, value in records:
        await producer.send_and_wait(topics.alerts, value, key=key)
    await producer.stop()
    stop = asyncio.Event()
    async with webhook_receiver() as rx:
        task = asyncio.create_task(
            deliver(bootstrap, topics.alerts, rx.url, SECRET, allow_private=True, stop=stop)
        )
        for _ in range(200):
            if len(rx.received) >= 2 or task.done():
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)
        stop.set()
        await task
    assert [r.body for r in rx.received] == [encode(good), encode(other)]
    assert all(verify(r.body, SECRET, r.headers[SIGNATURE_HEADER]) for r in rx.received)
    ids = [unquote(r.headers["X-Hashwatch-Alert-Id"]) for r in rx.received]
    assert ids == [good.id, other.id] and "X-Injected" not in rx.received[0].headers
