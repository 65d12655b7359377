"""The campaign config's ``[alerts]`` section, read strictly: every setting has its type and its
range, so a config the rules could not run on is refused when it is loaded, naming the file
and the setting, instead of failing in the ledger on the first closed window."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from pipeline.core.campaign import CampaignError, load_campaign


@dataclass(frozen=True)
class AlertConfig:
    """The campaign config's ``[alerts]`` section; a surge rule is on with no configuration."""

    surge: bool = True
    surge_k: float = 3.0  # threshold = mean + k·sd of the last `surge_history` windows
    surge_history: int = 10
    surge_min_history: int = 3  # no surge verdict before this many windows of baseline
    surge_min_posts: int = 20
    video_surge_min: int = 10  # videos in a window, and above the same kind of baseline
    cluster_size: int = 10  # a copy-paste cluster reaching this many posts
    new_language_min: int = 3  # posts in a language not seen before in the campaign
    languages: tuple[str, ...] = ()  # the campaign's expected languages
    keywords: tuple[str, ...] = ()  # watchlist: words or phrases
    accounts: tuple[str, ...] = ()  # watchlist: handles, without @
    watch_min: int = 1
    webhooks: tuple[str, ...] = ()  # URLs `hashwatch alerts webhook` delivers to

    @classmethod
    def from_mapping(cls, alerts: Any, languages: Any = ()) -> AlertConfig:
        """Raises ``ValueError`` naming the setting that is unknown or of the wrong type."""
        if alerts is None:
            alerts = {}
        if not isinstance(alerts, Mapping):
            raise ValueError(f"[alerts] must be a table, got {type(alerts).__name__}")
        unknown = set(alerts) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown [alerts] settings: {', '.join(sorted(map(str, unknown)))}")
        values = {name: _checked(name, value) for name, value in alerts.items()}
        values.setdefault("languages", _checked("languages", list(languages or ())))
        return cls(**values)

    def watch_terms(self) -> tuple[str, ...]:
        return self.keywords + tuple(f"@{a.lstrip('@')}" for a in self.accounts)


# The least each count may be: a baseline needs a window, a slice of 0 windows is all of them.
_AT_LEAST = {
    "surge_history": 1,
    "surge_min_history": 1,
    "surge_min_posts": 0,
    "video_surge_min": 0,
    "cluster_size": 1,
    "new_language_min": 1,
    "watch_min": 1,
}
_LISTS = ("languages", "keywords", "accounts", "webhooks")


def _checked(name: str, value: Any) -> Any:
    if name == "surge":
        if not isinstance(value, bool):
            raise ValueError(f"[alerts] surge must be true or false, got {_show(value)}")
        return value
    if name == "surge_k":
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if not ok or not math.isfinite(value) or value < 0:
            raise ValueError(f"[alerts] surge_k must be a number ≥ 0, got {_show(value)}")
        return float(value)
    if name in _AT_LEAST:
        least = _AT_LEAST[name]
        if not isinstance(value, int) or isinstance(value, bool) or value < least:
            got = _show(value)
            raise ValueError(f"[alerts] {name} must be a whole number ≥ {least}, got {got}")
        return value
    assert name in _LISTS
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"[alerts] {name} must be a list of strings, got {_show(value)}")
    return tuple(value)


def _show(value: Any) -> str:
    shown = f"{type(value).__name__} {value!r}"
    return shown if len(shown) <= 80 else shown[:79] + "…"


def alert_config(path: Path | None) -> AlertConfig:
    """The campaign config's ``[alerts]`` (and ``languages``); defaults without a config.
    Raises ``CampaignError`` naming the file for anything it cannot use."""
    if path is None:
        return AlertConfig()
    campaign = load_campaign(path)
    try:
        return AlertConfig.from_mapping(campaign.extra.get("alerts"), campaign.languages)
    except ValueError as exc:
        raise CampaignError(f"{path}: {exc}") from None
