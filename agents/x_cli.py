"""``hashwatch collect x``: the live X collector, or ``--search`` for recent search only."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click

from agents.base import Collector
from agents.checkpoint import CheckpointError, CheckpointFile, checkpoint_path
from agents.publisher import Publisher
from agents.x_rules import RuleError
from agents.x_search import SearchError
from agents.x_stream import XSearchCollector, XStreamCollector, XStreamConfig, XStreamError
from pipeline.campaign import CampaignError, load_campaign
from pipeline.runtime import run_collector
from pipeline.settings import Settings, load_settings
from pipeline.sinks.base import Store

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*(?:ago)?\s*$")


def parse_duration(text: str) -> timedelta:
    """``90s``, ``30m``, ``12h``, ``2d``, ``1w``."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a duration like 30m, 12h or 2d")
    return timedelta(seconds=float(match[1]) * _UNITS[match[2]])


def parse_when(text: str, now: datetime) -> datetime:
    """An ISO 8601 time (UTC unless it says otherwise), or a duration meaning that long ago."""
    try:
        return now - parse_duration(text)
    except ValueError:
        pass
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{text!r} is neither an ISO 8601 time nor a duration like 2d") from None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def run_x_collector(
    settings: Settings,
    make: Callable[[Publisher, Store | None], Collector],
    *,
    with_store: bool,
) -> None:
    """The shared collector runner, with X's errors turned into clear CLI messages."""
    try:
        run_collector(settings, make, with_store=with_store)
    except (XStreamError, RuleError, SearchError, CheckpointError) as exc:
        raise click.ClickException(str(exc)) from None


@click.command("x")
@click.option(
    "--config",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Campaign config (TOML) whose hashtags and keywords become stream rules "
    "[HASHWATCH_CONFIG].",
)
@click.option(
    "--backfill",
    metavar="DURATION",
    help="Also fill this much history at start through recent search: 30m, 12h, 2d "
    "(recent search reaches 7 days back).",
)
@click.option(
    "--search",
    "query",
    metavar="QUERY",
    help="Search only: publish what recent search finds for QUERY, then exit.",
)
@click.option(
    "--since", metavar="WHEN", help="With --search: oldest post time, ISO 8601 or e.g. 2d."
)
@click.option(
    "--until",
    metavar="WHEN",
    help="With --search: newest post time, ISO 8601 or e.g. 1h (default: now).",
)
@click.option(
    "--store",
    help="Store for the gaps table: sqlite:///path.db or postgresql://user@host:port/db "
    "[HASHWATCH_STORE].",
)
@click.pass_context
def x_command(
    ctx: click.Context,
    config: Path | None,
    backfill: str | None,
    query: str | None,
    since: str | None,
    until: str | None,
    store: str | None,
) -> None:
    """Follow the campaign on X's filtered stream; fill outages through recent search.

    Rules are made from the campaign's hashtags and keywords and synced at start (only rules
    tagged for this campaign are ever deleted). Outages are recorded in the store's gaps
    table and backfilled; a restart catches up from its checkpoint under the data directory.

    The bearer token is read from the X_BEARER_TOKEN environment variable only;
    X_API_BASE_URL (default https://api.twitter.com) points at a proxy or a test server.
    """
    settings = load_settings(store=store, config=config)
    ctx.obj = settings
    secret = settings.x_bearer_token.get_secret_value() if settings.x_bearer_token else ""
    if not secret.strip():
        raise click.UsageError(
            "X_BEARER_TOKEN is not set: export the bearer token of your X app in the environment"
        )
    now = datetime.now(UTC)
    base_url = settings.x_api_base_url

    if query is not None:
        if backfill:
            raise click.UsageError("--backfill goes with the stream; with --search use --since")
        try:
            start = parse_when(since, now) if since else None
            end = parse_when(until, now) if until else None
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from None
        run_x_collector(
            settings,
            lambda p, _store: XSearchCollector(
                p, secret, query, since=start, until=end, base_url=base_url
            ),
            with_store=False,
        )
        return

    if since or until:
        raise click.UsageError("--since and --until go with --search")
    if settings.config is None:
        raise click.UsageError("no campaign config: pass --config or set HASHWATCH_CONFIG")
    try:
        campaign = load_campaign(settings.config)
    except CampaignError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        history = parse_duration(backfill) if backfill else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--backfill") from None
    stream_config = XStreamConfig(base_url=base_url, backfill=history)
    checkpoint = CheckpointFile(checkpoint_path(settings.data_dir, campaign.name))
    run_x_collector(
        settings,
        lambda p, gaps: XStreamCollector(
            p, campaign, secret, config=stream_config, store=gaps, checkpoint=checkpoint
        ),
        with_store=True,
    )
