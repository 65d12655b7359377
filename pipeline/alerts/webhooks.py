"""Alert delivery by signed HTTP POST, in its own consumer so it never blocks the stream.

Each target has its own consumer group, commits an alert's offset only after the target
accepted it (at-least-once; receivers dedupe by the alert id, also sent as a header), and
signs the exact body: ``X-Hashwatch-Signature: sha256=<hex HMAC-SHA256(secret, body)>``.

Only what decodes as an Alert v1 under its own id is signed and sent (a signature vouches for
the body): any other record on the alerts topic is logged, skipped and committed past, so the
deliverer goes on. The alert id header has control characters percent-encoded. Targets are
logged by scheme and host only: a webhook URL's path is often its secret.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import logging
import socket
import unicodedata
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

import aiohttp
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import ConsumerRecord

from pipeline.core import kafka
from pipeline.core.backoff import ExponentialBackoff
from schemas.alert import Alert
from schemas.codec import DecodeError, decode

log = logging.getLogger(__name__)
SIGNATURE_HEADER = "X-Hashwatch-Signature"


class WebhookRefused(ValueError):
    """A target the configuration does not allow (scheme, private or loopback address)."""


def sign(body: bytes, secret: bytes) -> str:
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def verify(body: bytes, secret: bytes, header: str) -> bool:
    """Whether ``header`` is the signature of ``body`` (any header, however malformed)."""
    given = header.encode("utf-8", "surrogatepass")
    return hmac.compare_digest(sign(body, secret).encode(), given)


def shown(url: str) -> str:
    """A target as logs and errors name it: scheme and host, never the path or credentials."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "?"
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "(an unparsable URL)"
    return f"{parts.scheme}://{host}{port}/…"


def check_target(url: str, allow_private: bool) -> None:
    """Refuse targets in private, loopback, link-local or reserved ranges unless allowed, so
    a campaign config cannot be used to reach internal services; and any URL that is not an
    ``http(s)://host[:port]/...`` an HTTP client can send to."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:  # an unclosed [IPv6 literal, a port out of range
        raise WebhookRefused(f"webhook URL is not a URL ({exc}): {shown(url)}") from None
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or any(c.isspace() or unicodedata.category(c) == "Cc" for c in url)
    ):
        raise WebhookRefused(f"webhook URL must be http(s)://host/...: {shown(url)}")
    if allow_private:
        return
    try:
        infos = socket.getaddrinfo(parts.hostname, port or 443, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:  # UnicodeError: not a valid IDNA name
        raise WebhookRefused(f"cannot resolve webhook host {parts.hostname!r}: {exc}") from None
    for info in infos:
        addr = ipaddress.ip_address(info[4][0])
        if not addr.is_global:
            raise WebhookRefused(
                f"webhook host {parts.hostname!r} resolves to {addr}, a private or loopback "
                "address; allow it explicitly (--allow-private / HASHWATCH_WEBHOOK_ALLOW_PRIVATE)"
            )


@dataclass(frozen=True)
class RetryPolicy:
    first_s: float = 0.5
    max_s: float = 60.0
    attempts: int = 8


async def post_with_retries(
    session: aiohttp.ClientSession,
    url: str,
    body: bytes,
    headers: dict[str, str],
    policy: RetryPolicy,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> bool:
    """True once the target answers 2xx; retries network errors, 429 and 5xx with backoff."""
    backoff = ExponentialBackoff(policy.first_s, policy.max_s)
    for attempt in range(1, policy.attempts + 1):
        try:
            async with session.post(url, data=body, headers=headers) as resp:
                if 200 <= resp.status < 300:
                    return True
                if resp.status != 429 and resp.status < 500:
                    log.error(
                        "webhook %s refused alert (HTTP %d); not retrying", shown(url), resp.status
                    )
                    return False
                reason = f"HTTP {resp.status}"
        except (aiohttp.ClientError, TimeoutError) as exc:
            reason = type(exc).__name__
        if attempt == policy.attempts:
            break
        delay = backoff.next()
        log.warning(
            "webhook %s failed (%s), attempt %d; retrying in %.1fs",
            shown(url),
            reason,
            attempt,
            delay,
        )
        await sleep(delay)
    log.error("webhook %s: giving up after %d attempts", shown(url), policy.attempts)
    return False


async def deliver(
    bootstrap: str,
    alerts_topic: str,
    url: str,
    secret: bytes,
    *,
    allow_private: bool = False,
    policy: RetryPolicy | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Deliver every alert on the topic to ``url`` until ``stop`` is set, each id once.

    The topic may hold an alert twice (a worker that crashed after publishing it and before
    committing its input publishes it again, with the same id): ids already delivered —
    those before this target's committed offsets, and those delivered since — are skipped.
    """
    check_target(url, allow_private)
    policy = policy or RetryPolicy()
    group = "hashwatch-webhook-" + hashlib.sha256(url.encode()).hexdigest()[:12]
    consumer = kafka.consumer(bootstrap, alerts_topic, group_id=group)
    stop = stop or asyncio.Event()
    await consumer.start()
    try:
        delivered = await _delivered_before(bootstrap, alerts_topic, consumer)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
            while not stop.is_set():
                batch = await consumer.getmany(timeout_ms=500)
                for tp, records in batch.items():
                    for rec in records:
                        alert_id = deliverable(rec)
                        if alert_id is not None and alert_id not in delivered:
                            body = rec.value or b""
                            headers = {
                                "Content-Type": "application/json",
                                SIGNATURE_HEADER: sign(body, secret),
                                "X-Hashwatch-Alert-Id": header_value(alert_id),
                            }
                            await post_with_retries(session, url, body, headers, policy)
                            delivered.add(alert_id)
                        await consumer.commit(
                            {TopicPartition(tp.topic, tp.partition): rec.offset + 1}
                        )
    finally:
        await consumer.stop()


def deliverable(rec: ConsumerRecord[bytes, bytes]) -> str | None:
    """The id of the alert the record holds, or None (logged) if it is not one to sign."""
    where = f"{rec.topic}/{rec.partition}@{rec.offset}"
    try:
        alert = decode(rec.value or b"", Alert)
    except DecodeError as exc:  # TooDeep included
        log.warning("webhook: skipping %s, not an Alert v1: %s", where, str(exc)[:300])
        return None
    if rec.key is not None and rec.key != alert.id.encode("utf-8", "surrogatepass"):
        log.warning("webhook: skipping %s, its key is not the alert id %r", where, alert.id[:200])
        return None
    return alert.id


def header_value(alert_id: str) -> str:
    """The id as an HTTP header can carry it: control characters (and ``%``) percent-encoded
    as UTF-8, so ``urllib.parse.unquote`` gives the id back."""
    return "".join(
        quote(c, safe="") if unicodedata.category(c) == "Cc" or c == "%" else c for c in alert_id
    )


async def _delivered_before(bootstrap: str, topic: str, group: AIOKafkaConsumer) -> set[str]:
    """Ids of the alerts before the group's committed offsets: delivered by an earlier run."""
    reader = kafka.consumer(bootstrap, group_id=None, enable_auto_commit=False)
    await reader.start()
    ids: set[str] = set()
    try:
        await reader.topics()  # metadata first
        partitions = reader.partitions_for_topic(topic) or set()
        for partition in partitions:
            tp = TopicPartition(topic, partition)
            upto = await group.committed(tp) or 0
            if upto <= 0:
                continue
            reader.assign([tp])
            await reader.seek_to_beginning(tp)
            position = 0
            while position < upto:
                for rec in (await reader.getmany(tp, timeout_ms=1000)).get(tp, []):
                    if rec.offset < upto:
                        ids.add((rec.key or b"").decode("utf-8", "replace"))
                    position = rec.offset + 1
    finally:
        await reader.stop()
    return ids
