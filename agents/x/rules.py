"""Filtered-stream rules from the campaign config: build, check against the tier, sync.

Rule limits per access tier. These are the figures we used; they are X's to change, so the
campaign config can override both (``[x] max_rules`` / ``[x] max_rule_length``):

- ``basic``: 25 rules of up to 512 characters — the figures X published for its older
  Standard/Elevated access (also in tweepy's StreamRule docs). X's current pages say Basic
  has no filtered stream at all; the tier is kept for accounts that still have one.
- ``pro``: 1,000 rules of up to 1,024 characters.
- ``enterprise``: 25,000 rules of up to 2,048 characters (X says "25,000+": contracts vary).

Lengths are counted in characters (code points), which is how X documents them.

Every rule hashwatch adds is tagged ``hashwatch:<campaign>:<8 hex of the rule's hash>``. The
prefix marks ownership: a sync deletes only stale rules carrying its own campaign's prefix and
never touches other rules on the same stream (other campaigns, other tools, hand-made ones).
The hash suffix makes a rule's tag a function of its value, so an unchanged rule is kept as is.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import tweepy

from agents.x.http import point_session, protect
from pipeline.core.campaign import Campaign, XSettings

log = logging.getLogger(__name__)

TIER_LIMITS: dict[str, tuple[int, int]] = {  # tier: (rules per stream, characters per rule)
    "basic": (25, 512),
    "pro": (1000, 1024),
    "enterprise": (25000, 2048),
}


class RuleError(RuntimeError):
    """The rules cannot be put in place; the message says why and what to change."""


class RuleLimitError(RuleError):
    pass


@dataclass(frozen=True, slots=True)
class RuleLimits:
    tier: str
    max_rules: int
    max_rule_length: int


def limits_for(x: XSettings) -> RuleLimits:
    rules, length = TIER_LIMITS[x.tier]
    return RuleLimits(x.tier, x.max_rules or rules, x.max_rule_length or length)


@dataclass(frozen=True, slots=True)
class Rule:
    value: str
    tag: str | None = None
    id: str | None = None


def owner_prefix(campaign_name: str) -> str:
    return f"hashwatch:{campaign_name}:"


def rule_tag(campaign_name: str, value: str) -> str:
    return owner_prefix(campaign_name) + hashlib.sha256(value.encode()).hexdigest()[:8]


def campaign_terms(campaign: Campaign) -> list[str]:
    """Each hashtag spelling as ``#tag``; keywords bare, or quoted when they are phrases."""
    terms = [f"#{tag}" for tag in campaign.hashtags]
    for keyword in campaign.keywords:
        if all(c.isalnum() or c == "_" for c in keyword):
            terms.append(keyword)
        else:
            escaped = keyword.replace("\\", "\\\\").replace('"', '\\"')
            terms.append(f'"{escaped}"')
    return terms


def _value(terms: Sequence[str]) -> str:
    return terms[0] if len(terms) == 1 else "(" + " OR ".join(terms) + ")"


def pack_terms(terms: Sequence[str], max_length: int) -> list[str]:
    """As few rules as fit: terms joined by OR, each rule at most ``max_length`` characters."""
    rules: list[list[str]] = []
    for term in terms:
        if len(term) > max_length:
            raise RuleLimitError(
                f"the term {term!r} alone is {len(term)} characters, over the "
                f"{max_length}-character rule limit"
            )
        if rules and len(_value([*rules[-1], term])) <= max_length:
            rules[-1].append(term)
        else:
            rules.append([term])
    return [_value(group) for group in rules]


def build_rules(campaign: Campaign, limits: RuleLimits) -> list[Rule]:
    values = pack_terms(campaign_terms(campaign), limits.max_rule_length)
    if len(values) > limits.max_rules:
        raise RuleLimitError(
            f"campaign {campaign.name!r} needs {len(values)} rules but the {limits.tier} tier "
            f"allows {limits.max_rules} (set [x] tier or [x] max_rules if your access differs)"
        )
    return [Rule(value=v, tag=rule_tag(campaign.name, v)) for v in values]


class RulesApi(Protocol):
    async def current(self) -> list[Rule]: ...
    async def add(self, rules: Sequence[Rule], *, dry_run: bool = False) -> list[Rule]: ...
    async def delete(self, ids: Sequence[str]) -> None: ...


@dataclass(slots=True)
class RuleSync:
    rules: list[Rule]  # the campaign's rules now on the stream, with ids
    added: list[Rule] = field(default_factory=list)
    deleted: list[Rule] = field(default_factory=list)
    kept: list[Rule] = field(default_factory=list)
    others: int = 0  # rules on the stream that are not this campaign's


async def sync_rules(
    api: RulesApi, desired: Sequence[Rule], prefix: str, limits: RuleLimits
) -> RuleSync:
    """Add missing rules, delete this campaign's stale ones, leave every other rule alone.

    New rules are validated (``dry_run``) before anything is deleted, so a rule X rejects
    never leaves the stream without the campaign's old rules.
    """
    for rule in desired:
        if len(rule.value) > limits.max_rule_length:
            raise RuleLimitError(
                f"rule of {len(rule.value)} characters is over the {limits.tier} tier's "
                f"{limits.max_rule_length}: {rule.value[:60]}…"
            )
    current = await api.current()
    owned = [r for r in current if r.tag and r.tag.startswith(prefix)]
    others = len(current) - len(owned)
    if others + len(desired) > limits.max_rules:
        raise RuleLimitError(
            f"{len(desired)} campaign rules plus the {others} other rules already on the stream "
            f"exceed the {limits.tier} tier's {limits.max_rules} rules per stream"
        )
    wanted = {(r.value, r.tag) for r in desired}
    kept: list[Rule] = []
    stale: list[Rule] = []
    for rule in owned:
        key = (rule.value, rule.tag)
        if key in wanted and key not in {(k.value, k.tag) for k in kept}:
            kept.append(rule)
        else:
            stale.append(rule)
    have = {(r.value, r.tag) for r in kept}
    missing = [r for r in desired if (r.value, r.tag) not in have]
    if missing:
        await api.add(missing, dry_run=True)
    if stale:
        await api.delete([r.id for r in stale if r.id is not None])
    added = await api.add(missing) if missing else []
    log.info(
        "x rules: %d kept, %d added, %d stale deleted, %d others left alone",
        len(kept),
        len(added),
        len(stale),
        others,
    )
    return RuleSync(rules=kept + added, added=added, deleted=stale, kept=kept, others=others)


class TweepyRulesApi:
    """The rules endpoints through tweepy's StreamingClient (sync, run in a thread)."""

    def __init__(self, bearer_token: str, base_url: str, *, timeout: float = 30.0) -> None:
        protect(bearer_token)
        self._client = tweepy.StreamingClient(bearer_token, return_type=dict)
        point_session(self._client.session, base_url, connect_timeout=10.0, read_timeout=timeout)

    async def current(self) -> list[Rule]:
        body = await self._call(self._client.get_rules)
        return [_rule(d) for d in body.get("data") or ()]

    async def add(self, rules: Sequence[Rule], *, dry_run: bool = False) -> list[Rule]:
        stream_rules = [tweepy.StreamRule(value=r.value, tag=r.tag) for r in rules]
        extra = {"dry_run": "true"} if dry_run else {}
        body = await self._call(self._client.add_rules, stream_rules, **extra)
        _raise_errors(body, "validate" if dry_run else "add")
        return [_rule(d) for d in body.get("data") or ()]

    async def delete(self, ids: Sequence[str]) -> None:
        body = await self._call(self._client.delete_rules, list(ids))
        _raise_errors(body, "delete")

    async def _call(self, method: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        try:
            body = await asyncio.to_thread(method, *args, **kwargs)
        except tweepy.HTTPException as exc:
            raise RuleError(f"X rules endpoint refused the request: {exc}") from None
        except tweepy.TweepyException as exc:
            raise RuleError(f"X rules endpoint failed: {exc}") from None
        return body if isinstance(body, dict) else {}


def _rule(d: dict[str, Any]) -> Rule:
    return Rule(value=str(d["value"]), tag=d.get("tag"), id=str(d["id"]))


def _raise_errors(body: dict[str, Any], action: str) -> None:
    errors = body.get("errors") or []
    if errors:
        details = "; ".join(
            f"{e.get('title', 'error')}: {e.get('value') or e.get('detail') or ''}".strip()
            for e in errors
            if isinstance(e, dict)
        )
        raise RuleError(f"X would not {action} the campaign's rules: {details}")
