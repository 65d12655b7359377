"""One connection to X's filtered stream: tweepy's sync client on its thread, and how it ended.

Why tweepy's *sync* ``StreamingClient`` in a thread, not ``AsyncStreamingClient``: the async
client would suit an asyncio collector best, but in tweepy 4.17 it hard-codes
``https://api.twitter.com`` inside methods that also create their own aiohttp session, so
pointing it at ``X_API_BASE_URL`` would mean overriding its private ``_connect`` (and copying
``AsyncBaseClient.request``) or rewriting aiohttp request objects in flight. The sync client
exposes a documented ``requests.Session``, where a transport adapter can send requests to the
base URL and set the read timeout that detects stalls (agents/x/http.py). Its retry loop is
switched off through documented hooks: every error hook records what happened and calls
``disconnect()``, which tweepy checks before it would sleep, so reconnect policy stays with
the collector (agents/live.py). Each line is handed to the event loop
(``run_coroutine_threadsafe``) and the thread waits for it to be published, so a slow
publisher slows the reader instead of piling lines up in memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import requests
import tweepy
import urllib3

from agents.live import Ended, Link, http_schedule
from agents.payloads import json_objects
from pipeline.core.backoff import Schedule

_FATAL_HTTP = {
    400: "X rejected the stream request (HTTP 400 Bad Request)",
    401: "X rejected the bearer token (HTTP 401 Unauthorized): check X_BEARER_TOKEN",
    403: "X refused the filtered stream (HTTP 403 Forbidden): does the account's access "
    "level include it?",
    404: "X has no filtered stream at this URL (HTTP 404): check X_API_BASE_URL",
    409: "X refused the stream (HTTP 409 Conflict)",
}


# Kinds of disconnect X names in its operational-disconnect problem objects. TooManyConnections
# means this app's connection slots are taken: treated like a 429. Every other kind, known or
# not, reconnects on the network schedule (X: "reconnect" for operational disconnects).
_DISCONNECT_429 = frozenset({"TooManyConnections"})


_REASON = 500


@dataclass(frozen=True, slots=True)
class StreamProblem:
    """An ``errors``-only object in the stream: reconnect on ``schedule``, or read on."""

    schedule: Schedule | None  # None: not a disconnect; log it and keep reading
    kind: str
    reason: str


def classify_stream_error(obj: dict[str, Any]) -> StreamProblem:
    """What an ``errors`` object in the stream means; its kind and reason are cut short, as
    they are the server's words in logs and counters."""
    errors = json_objects(obj.get("errors"))
    for error in errors:
        title = str(error.get("title") or "")
        kind = error.get("disconnect_type") or error.get("connection_issue")
        if (
            title == "operational-disconnect"
            or str(error.get("type", "")).endswith("/operational-disconnect")
            or kind
        ):
            kind = str(kind or title)[:100]
            detail = str(error.get("detail") or "").strip()
            schedule: Schedule = "http-429" if kind in _DISCONNECT_429 else "network"
            reason = f"stream error {title or kind} ({kind}) {detail}"
            return StreamProblem(schedule, kind, reason[:_REASON])
    first = errors[0] if errors else {}
    title = str(first.get("title") or "error")[:100]
    reason = f"stream error object: {title}: {first.get('detail', '')}"
    return StreamProblem(None, title, reason[:_REASON])


def _is_read_timeout(exc: BaseException | None) -> bool:
    if isinstance(exc, requests.ReadTimeout | urllib3.exceptions.ReadTimeoutError):
        return True
    return bool(
        isinstance(exc, requests.ConnectionError)
        and exc.args
        and isinstance(exc.args[0], urllib3.exceptions.ReadTimeoutError)
    )


LineHandler = Callable[[bytes], Awaitable[StreamProblem | None]]


class StreamThread(tweepy.StreamingClient):
    """One connection. tweepy's hooks report to the link and never let tweepy retry."""

    def __init__(
        self,
        token: str,
        link: Link,
        ended: Ended,
        on_line: LineHandler,
        stall_timeout: float,
    ) -> None:
        super().__init__(token, daemon=True)
        self.link = link
        self.ended = ended
        self.on_line = on_line
        self.stall_timeout = stall_timeout
        self.loop = asyncio.get_running_loop()
        self.done = asyncio.Event()

    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def on_connect(self) -> None:
        if self.running:
            self._call(self.link.connected())

    def on_data(self, raw_data: bytes) -> None:
        if not self.running:
            return  # stopping: whatever comes now is caught up after the restart
        self.ended.last_activity = self.link.clock.time()
        problem = self._call(self.on_line(raw_data))
        if problem is not None:
            self.ended.schedule = problem.schedule
            self.ended.reason = problem.reason
            self.ended.cause = f"stream error {problem.kind}"
            self.disconnect()

    def on_keep_alive(self) -> None:
        if not self.running:
            return  # stopping: coverage ends with the last line handled
        self.loop.call_soon_threadsafe(self.link.alive)

    def on_request_error(self, status_code: int) -> None:
        self.ended.schedule = http_schedule(status_code)
        self.ended.reason = f"stream answered HTTP {status_code}"
        self.ended.cause = f"HTTP {status_code}"
        if self.ended.schedule is None:
            self.ended.fatal = _FATAL_HTTP.get(
                status_code, f"X refused the stream (HTTP {status_code}); retrying will not help"
            )
        self.disconnect()

    def on_connection_error(self) -> None:
        exc = sys.exc_info()[1]  # tweepy calls this hook from inside its except block
        if _is_read_timeout(exc):
            self.ended.reason = (
                f"stream stalled: no data or keep-alive for {self.stall_timeout:g} s"
            )
            self.ended.cause = "stalled"
        else:
            name = type(exc).__name__ if exc else "error"
            self.ended.reason = f"stream network error: {name}: {str(exc)[:200]}"
            self.ended.cause = f"network error ({name})"
        self.ended.schedule = "network"
        self.disconnect()

    def on_closed(self, response: requests.Response) -> None:
        self.disconnect()  # ended says why, if a line said; else "closed by the server"

    def on_exception(self, exception: Exception) -> None:
        self.ended.exception = exception
        self.ended.schedule = None

    def on_disconnect(self) -> None:
        with contextlib.suppress(RuntimeError):  # the loop may be gone after a stop
            self.loop.call_soon_threadsafe(self.done.set)
