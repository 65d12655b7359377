"""Who may read the dashboard: loopback by default, a token anywhere else, strict headers.

Anywhere but loopback needs ``HASHWATCH_DASHBOARD_TOKEN``; when a token is set it is required
on ``/api/*`` and ``/events`` (header ``X-Hashwatch-Token``, ``Authorization: Bearer``, or
``?token=`` since EventSource cannot send headers), compared in constant time and never logged
(the access log drops query strings). Without a token, only loopback Host headers are
answered, so a web page elsewhere cannot read the dashboard through DNS rebinding.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

TOKEN_HEADER = "X-Hashwatch-Token"
MIN_TOKEN_LENGTH = 16
_LOOPBACK_NAMES = {"localhost", "localhost.", "ip6-localhost"}
TOKEN: web.AppKey[str | None] = web.AppKey("token")
ALLOWED_HOSTS: web.AppKey[frozenset[str] | None] = web.AppKey("allowed_hosts")

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)


class DashboardConfigError(ValueError):
    """The dashboard was asked to start in a way that would expose it."""


def is_loopback(host: str) -> bool:
    host = host.strip().strip("[]").lower()
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: it may resolve anywhere


def check_bind(host: str, token: str | None) -> None:
    """Refuse a non-loopback bind without a token, and any token too short to be one."""
    if token is not None and len(token) < MIN_TOKEN_LENGTH:
        raise DashboardConfigError(
            f"HASHWATCH_DASHBOARD_TOKEN must be at least {MIN_TOKEN_LENGTH} characters; "
            'make one with: python3 -c "import secrets; print(secrets.token_urlsafe(24))"'
        )
    if not token and not is_loopback(host):
        raise DashboardConfigError(
            f"refusing to serve the dashboard on {host}: anything but loopback (127.0.0.1) "
            "needs an access token. Set HASHWATCH_DASHBOARD_TOKEN (the page asks for it), "
            "or bind to 127.0.0.1 and use an SSH tunnel."
        )


class AccessLogger(AbstractAccessLogger):
    """Method, path and status only: a query string may carry the token."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.debug(
            "%s %s %s %.0fms", request.method, request.path, response.status, time * 1000
        )


def _supplied_token(request: web.Request) -> str | None:
    value = request.headers.get(TOKEN_HEADER)
    if value is None:
        scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and credentials.strip():  # a blank bearer offers nothing
            value = credentials.strip()
    if value is None:
        value = request.query.get("token")
    return value


def token_matches(supplied: str | None, token: str) -> bool:
    """Constant-time; any supplied value, however malformed (aiohttp hands header bytes that
    are not UTF-8 over as surrogates), is compared, never raised on."""
    if supplied is None:
        return False
    return hmac.compare_digest(
        supplied.encode("utf-8", "surrogatepass"), token.encode("utf-8", "surrogatepass")
    )


def _hostname(host_header: str) -> str:
    """The host of a Host header: ``127.0.0.1:8080`` -> ``127.0.0.1``, ``[::1]:80`` -> ``[::1]``."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host.split("]", 1)[0] + "]"
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _protected(path: str) -> bool:
    return path.startswith("/api/") or path == "/events"


@web.middleware
async def guard(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    allowed = request.app[ALLOWED_HOSTS]
    if allowed is not None and _hostname(request.host or "") not in allowed:
        return web.Response(status=421, text="misdirected request: unexpected Host header")
    token = request.app[TOKEN]
    if token and _protected(request.path) and not token_matches(_supplied_token(request), token):
        return web.json_response(
            {"error": "access token required"},
            status=401,
            headers={"WWW-Authenticate": 'Bearer realm="hashwatch"'},
        )
    return await handler(request)


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Cache-Control", "no-cache")
