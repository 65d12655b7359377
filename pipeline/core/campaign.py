"""The campaign config: one TOML file (``--config`` / HASHWATCH_CONFIG) says what to watch.

```toml
name = "detainees"                      # identifies the campaign (rule tags, checkpoints)
hashtags = ["أين_المعتقلين", "اين_المعتقلين"]   # every spelling the campaign uses, '#' optional
keywords = ["صيدنايا", "Sednaya prison"]  # phrases match as exact phrases
languages = ["ar", "en"]                # what the campaign is expected to be written in

[x]                                     # the X collector
tier = "pro"                            # basic | pro | enterprise: rule limits (agents/x_rules.py)
# max_rules = 1000                      # override the tier's limits if your contract differs
# max_rule_length = 1024

[mastodon]                              # the Mastodon collector
instances = ["https://mastodon.social"]  # followed on each; --instance adds more
# token_env = "MASTODON_TOKEN"          # the variable holding the token (the default)
# [mastodon.tokens]                     # a token per instance, by variable name
# "https://kolektiva.social" = "KOLEKTIVA_TOKEN"

[bluesky]                               # the Bluesky collector (Jetstream)
# jetstream = "wss://jetstream2.us-east.bsky.network/subscribe"  # BLUESKY_JETSTREAM_URL wins

[alerts]                                # sections this loader does not know are kept in .extra
```
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast
from urllib.parse import urlsplit

Tier = Literal["basic", "pro", "enterprise"]
TIERS: tuple[Tier, ...] = ("basic", "pro", "enterprise")
_KNOWN = ("name", "hashtags", "keywords", "languages", "x", "mastodon", "bluesky")
_X_KEYS = ("tier", "max_rules", "max_rule_length")
_MASTODON_KEYS = ("instances", "token_env", "tokens")
_BLUESKY_KEYS = ("jetstream",)
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")  # what the config may name to hold a token
MAX_CONFIG_BYTES = 1 << 20  # a campaign config is a few hundred bytes; a megabyte is not one


class CampaignError(ValueError):
    """A campaign config that cannot be used; the message names the file and the problem."""


@dataclass(frozen=True, slots=True)
class XSettings:
    tier: Tier = "pro"
    max_rules: int | None = None  # None: the tier's published limit
    max_rule_length: int | None = None


@dataclass(frozen=True, slots=True)
class MastodonSettings:
    instances: tuple[str, ...] = ()  # base URLs, e.g. https://mastodon.social
    token_env: str = "MASTODON_TOKEN"  # the environment variable holding the token
    tokens: dict[str, str] = field(default_factory=dict)  # instance -> its own variable


@dataclass(frozen=True, slots=True)
class BlueskySettings:
    jetstream: str | None = None  # a Jetstream /subscribe URL (BLUESKY_JETSTREAM_URL wins)


@dataclass(frozen=True, slots=True)
class Campaign:
    name: str
    hashtags: tuple[str, ...] = ()  # without '#', as written, exact duplicates removed
    keywords: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    x: XSettings = field(default_factory=XSettings)
    mastodon: MastodonSettings = field(default_factory=MastodonSettings)
    bluesky: BlueskySettings = field(default_factory=BlueskySettings)
    extra: dict[str, Any] = field(default_factory=dict)  # sections later features read
    path: Path | None = None
    source: bytes | None = None  # the file as read, recorded with every collection run


def load_campaign(path: str | Path) -> Campaign:
    path = Path(path)
    try:
        with path.open("rb") as fh:
            text = fh.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        raise CampaignError(f"campaign config {path} not found") from None
    except OSError as exc:
        raise CampaignError(f"campaign config {path} cannot be read: {exc.strerror}") from None
    if len(text) > MAX_CONFIG_BYTES:
        raise CampaignError(
            f"{path}: larger than {MAX_CONFIG_BYTES:,} bytes: not a campaign config"
        )
    try:
        data = tomllib.loads(text.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise CampaignError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        raise CampaignError(f"{path}: invalid TOML: {exc}") from None
    except RecursionError:  # tomllib reads nested arrays and inline tables recursively
        raise CampaignError(f"{path}: invalid TOML: nested too deeply") from None
    return parse_campaign(data, path, text)


def parse_campaign(
    data: Mapping[str, Any], path: Path | None = None, source: bytes | None = None
) -> Campaign:
    where = str(path) if path else "campaign config"

    def fail(message: str) -> CampaignError:
        return CampaignError(f"{where}: {message}")

    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise fail("`name` is required: a non-empty string naming the campaign")
    name = name.strip()
    if ":" in name or any(c.isspace() for c in name):
        raise fail(f"`name` {_show(name)} must not contain ':' or spaces (it is part of rule tags)")
    if _has_control(name):
        raise fail(f"`name` {_show(name)} must not contain control characters")

    hashtags = _dedupe(tag.strip().lstrip("#＃") for tag in _strings(data, "hashtags", fail))
    for tag in hashtags:
        if not tag or any(c.isspace() for c in tag) or _has_control(tag):
            raise fail(f"hashtag {_show(tag)} is empty or contains spaces or control characters")
    keywords = _dedupe(k.strip() for k in _strings(data, "keywords", fail))
    if any(not k for k in keywords):
        raise fail("`keywords` contains an empty string")
    if bad := [k for k in keywords if _has_control(k)]:
        raise fail(f"keyword {_show(bad[0])} contains a control character")
    if not hashtags and not keywords:
        raise fail("give at least one of `hashtags` or `keywords`: there is nothing to follow")
    languages = tuple(lang.strip() for lang in _strings(data, "languages", fail))

    return Campaign(
        name=name,
        hashtags=hashtags,
        keywords=keywords,
        languages=languages,
        x=_x_settings(data.get("x", {}), fail),
        mastodon=_mastodon_settings(data.get("mastodon", {}), fail),
        bluesky=_bluesky_settings(data.get("bluesky", {}), fail),
        extra={k: v for k, v in data.items() if k not in _KNOWN},
        path=path,
        source=source,
    )


def _has_control(text: str) -> bool:
    """NUL, escapes and other control characters: nothing a platform matches or a tag holds."""
    return any(unicodedata.category(c) == "Cc" for c in text)


def _strings(data: Mapping[str, Any], key: str, fail: Any) -> list[str]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise fail(f"`{key}` must be a list of strings, got {_describe(value)}")
    return cast(list[str], value)


def _dedupe(values: Any) -> tuple[str, ...]:
    """Drop repeats that X would treat as the same term (its matching ignores case)."""
    seen: dict[str, str] = {}
    for value in values:
        seen.setdefault(value.casefold(), value)
    return tuple(seen.values())


def _x_settings(value: Any, fail: Any) -> XSettings:
    if not isinstance(value, dict):
        raise fail(f"`x` must be a table ([x]), got {_describe(value)}")
    unknown = sorted(set(value) - set(_X_KEYS))
    if unknown:
        raise fail(f"unknown key(s) in [x]: {', '.join(unknown)} (known: {', '.join(_X_KEYS)})")
    tier = value.get("tier", "pro")
    if tier not in TIERS:
        raise fail(f"[x] tier must be one of {', '.join(TIERS)}, got {_show(tier)}")
    limits: dict[str, int | None] = {}
    for key in ("max_rules", "max_rule_length"):
        limit = value.get(key)
        if limit is not None and (
            not isinstance(limit, int) or isinstance(limit, bool) or limit < 1
        ):
            raise fail(f"[x] {key} must be a positive integer, got {_show(limit)}")
        limits[key] = limit
    return XSettings(
        tier=cast(Tier, tier),
        max_rules=limits["max_rules"],
        max_rule_length=limits["max_rule_length"],
    )


def _table(value: Any, name: str, known: tuple[str, ...], fail: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise fail(f"`{name}` must be a table ([{name}]), got {_describe(value)}")
    unknown = sorted(set(value) - set(known))
    if unknown:
        raise fail(f"unknown key(s) in [{name}]: {', '.join(unknown)} (known: {', '.join(known)})")
    return value


def instance_url(url: str) -> str:
    """A Mastodon instance as a base URL (``https://host[:port]``, no path, no trailing slash,
    no credentials: the token comes from the environment)."""
    url = url.strip().rstrip("/")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        parts = None
    if parts is not None and (parts.username is not None or parts.password is not None):
        host = parts.hostname or "host"
        raise CampaignError(
            f"instance {parts.scheme}://…@{host} must not carry credentials in its URL: "
            "the token comes from the environment (MASTODON_TOKEN)"
        )
    if (
        parts is None
        or parts.scheme not in ("https", "http")
        or not parts.hostname
        or parts.path
        or parts.query
        or parts.fragment
        or any(c.isspace() for c in url)
        or _has_control(url)
    ):
        raise CampaignError(
            f"instance {_show(url)} must be a base URL like https://mastodon.social"
        )
    return url


def _instance_url(url: str, fail: Any) -> str:
    try:
        return instance_url(url)
    except CampaignError as exc:
        raise fail(f"[mastodon] {exc}") from None


def _mastodon_settings(value: Any, fail: Any) -> MastodonSettings:
    table = _table(value, "mastodon", _MASTODON_KEYS, fail)
    instances = tuple(
        dict.fromkeys(_instance_url(u, fail) for u in _strings(table, "instances", fail))
    )
    token_env = table.get("token_env", "MASTODON_TOKEN")
    if not isinstance(token_env, str) or not _ENV_NAME.fullmatch(token_env):
        raise fail(
            f"[mastodon] token_env must name an environment variable, got {_show(token_env)}"
        )
    tokens = table.get("tokens", {})
    if not isinstance(tokens, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and _ENV_NAME.fullmatch(v)
        for k, v in tokens.items()
    ):
        raise fail("[mastodon.tokens] maps instance URLs to environment variable names")
    return MastodonSettings(
        instances=instances,
        token_env=token_env,
        tokens={_instance_url(k, fail): v for k, v in tokens.items()},
    )


def _bluesky_settings(value: Any, fail: Any) -> BlueskySettings:
    table = _table(value, "bluesky", _BLUESKY_KEYS, fail)
    jetstream = table.get("jetstream")
    if jetstream is not None and (
        not isinstance(jetstream, str)
        or not jetstream.startswith(("ws://", "wss://"))
        or not _host_of(jetstream)
    ):
        raise fail(f"[bluesky] jetstream must be a ws:// or wss:// URL, got {_show(jetstream)}")
    return BlueskySettings(jetstream=jetstream)


def _host_of(url: str) -> str | None:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        return None
    if any(c.isspace() for c in url) or _has_control(url):
        return None
    return parts.hostname


def _show(value: Any) -> str:
    """A value in an error message: its repr, cut short."""
    shown = repr(value)
    return shown if len(shown) <= 80 else shown[:79] + "…"


def _describe(value: Any) -> str:
    return f"{type(value).__name__} {value!r}"[:80]
