"""How hashwatch talks to X's API v2 through tweepy: base URL, timeouts, the token kept secret.

Pointing tweepy at ``X_API_BASE_URL``: tweepy 4.17 writes ``https://api.twitter.com`` into
every URL it builds (``BaseClient.request`` and ``StreamingClient._connect`` hold it in a
local variable; there is no host attribute or parameter). Instead of patching tweepy, we use
requests' documented extension point: a transport adapter, mounted for that prefix on the
``session`` attribute tweepy documents for ``Client`` and ``StreamingClient``. The adapter
rewrites the prefix to the configured base URL (a proxy, or the test server) and applies our
timeouts — tweepy's filter() has no timeout parameter, and the stream's read timeout is how a
stalled stream is noticed.

The bearer token: tweepy logs request headers, Authorization included, at DEBUG. ``protect``
installs a filter on tweepy's loggers that masks the token in every record before any handler
sees it; nothing in hashwatch itself ever formats the token.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from requests.utils import should_bypass_proxies

TWEEPY_HOST = "https://api.twitter.com"  # what tweepy 4.17 hard-codes in every URL

# Everything Post v1 (agents/x_payload.py) reads, for the stream and for search alike.
EXPANSIONS = [
    "author_id",
    "referenced_tweets.id",
    "referenced_tweets.id.author_id",
    "attachments.media_keys",
    "entities.mentions.username",
    "in_reply_to_user_id",
]
TWEET_FIELDS = [
    "attachments",
    "author_id",
    "conversation_id",
    "created_at",
    "edit_history_tweet_ids",
    "entities",
    "in_reply_to_user_id",
    "lang",
    "note_tweet",
    "possibly_sensitive",
    "referenced_tweets",
]
MEDIA_FIELDS = [
    "alt_text",
    "duration_ms",
    "height",
    "media_key",
    "preview_image_url",
    "type",
    "url",
    "variants",
    "width",
]
USER_FIELDS = ["name", "username"]


def request_fields() -> dict[str, list[str]]:
    """tweepy keyword arguments asking for every field and expansion Post v1 needs."""
    return {
        "expansions": list(EXPANSIONS),
        "tweet_fields": list(TWEET_FIELDS),
        "media_fields": list(MEDIA_FIELDS),
        "user_fields": list(USER_FIELDS),
    }


class BaseUrlAdapter(HTTPAdapter):
    """Sends tweepy's ``https://api.twitter.com/...`` requests to ``base_url`` instead."""

    def __init__(self, base_url: str, timeout: tuple[float, float | None]) -> None:
        super().__init__()
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: bool | str = True,
        cert: Any = None,
        proxies: Any = None,
    ) -> requests.Response:
        url = request.url or ""
        if self.base_url != TWEEPY_HOST and url.startswith(TWEEPY_HOST + "/"):
            request.url = self.base_url + url[len(TWEEPY_HOST) :]
            if should_bypass_proxies(request.url, no_proxy=None):
                proxies = {}  # chosen for api.twitter.com; NO_PROXY may exempt the new host
        return super().send(
            request, stream=stream, timeout=self.timeout, verify=verify, cert=cert, proxies=proxies
        )


def point_session(
    session: requests.Session, base_url: str, *, connect_timeout: float, read_timeout: float | None
) -> None:
    session.mount(TWEEPY_HOST + "/", BaseUrlAdapter(base_url, (connect_timeout, read_timeout)))


class _MaskSecret(logging.Filter):
    def __init__(self, secret: str) -> None:
        super().__init__()
        self.secret = secret

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self.secret in message:
            record.msg = message.replace(self.secret, "***")
            record.args = None
        return True


_PROTECTED: set[str] = set()
_PROTECT_LOCK = threading.Lock()
# Loggers of the libraries that see the request: tweepy logs headers at DEBUG.
_LIBRARY_LOGGERS = ("tweepy.client", "tweepy.streaming", "urllib3.connectionpool")


def protect(secret: str) -> None:
    """Mask ``secret`` in every record the HTTP libraries log (idempotent)."""
    if len(secret) < 8:
        return  # nothing that short is a real token; masking it would garble logs
    with _PROTECT_LOCK:
        if secret in _PROTECTED:
            return
        _PROTECTED.add(secret)
        for name in _LIBRARY_LOGGERS:
            logging.getLogger(name).addFilter(_MaskSecret(secret))
