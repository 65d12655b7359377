"""``hashwatch collect …``: each collector as a command, publishing to a running broker."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click

from agents.base import Collector
from agents.checkpoint import CheckpointError, CheckpointFile, checkpoint_path
from agents.live import StreamError
from agents.publisher import KafkaPublisher, Publisher
from agents.spool import Spool
from agents.x.rules import RuleError
from agents.x.search import SearchError, XSearchCollector
from agents.x.stream import XStreamCollector, XStreamConfig
from pipeline.core.campaign import Campaign, CampaignError, instance_url, load_campaign
from pipeline.core.durations import parse_duration, parse_when
from pipeline.core.progress import Progress
from pipeline.core.settings import Settings, load_settings, token_from_environment
from pipeline.core.signals import run_until_signal
from pipeline.core.topics import Topics, create_topics

log = logging.getLogger(__name__)


def _settings(ctx: click.Context, **overrides: object) -> Settings:
    settings = load_settings(**overrides)
    ctx.obj = settings
    return settings


def campaign_of(settings: Settings) -> Campaign:
    """The campaign a live collector follows (``--config`` / HASHWATCH_CONFIG), or exit."""
    if settings.config is None:
        raise click.UsageError("no campaign config: pass --config or set HASHWATCH_CONFIG")
    try:
        return load_campaign(settings.config)
    except CampaignError as exc:
        raise click.ClickException(str(exc)) from None


def history(backfill: str | None) -> timedelta | None:
    """``--backfill DURATION`` as a duration, or exit saying what is wrong with it."""
    try:
        return parse_duration(backfill) if backfill else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--backfill") from None


def run_collector(
    settings: Settings, make: Callable[[Publisher], Collector], spool: str | None = None
) -> None:
    """Publish what a collector collects (posts, dead letters, gaps, the run's record) to
    HASHWATCH_BROKER, until it is done or Ctrl-C. ``spool`` names the on-disk journal (under
    the data directory) of what the broker has not acknowledged yet, sent again on restart and
    after a broker that lost its memory (the embedded one) comes back."""

    if not settings.broker:
        raise click.UsageError(
            "collect needs a running broker: set HASHWATCH_BROKER=kafka://host:port "
            "(e.g. from `hashwatch broker`), or use `hashwatch run` / `hashwatch demo`."
        )

    async def go() -> None:
        bootstrap = settings.bootstrap_servers()
        topics = Topics(settings.topic_prefix)
        await create_topics(bootstrap, topics, settings.partitions)
        journal = Spool(settings.data_dir / "spool" / f"{spool}.journal") if spool else None
        publisher = KafkaPublisher(
            bootstrap,
            topics,
            max_record_bytes=settings.max_record_bytes,
            spool=journal,
            partitions=settings.partitions,
        )
        await publisher.start()
        try:
            collector = make(publisher)
            collector.progress = Progress(None, collector.name, unit="posts", log=log)
            try:
                stats = await collector.run()
            except asyncio.CancelledError:
                collector.stop()
                raise
            click.echo(stats.line(collector.name))
        finally:
            await publisher.stop()

    run_until_signal(go())


@click.group()
def collect() -> None:
    """Collectors: publish posts to the raw topic of a running broker (HASHWATCH_BROKER)."""


@collect.command("replay")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--speed",
    type=float,
    help="Replay at N times the original pace (default: as fast as possible).",
)
@click.pass_context
def collect_replay(ctx: click.Context, files: tuple[Path, ...], speed: float | None) -> None:
    """Replay archives, plain or gzip: twarc2 JSONL (stream lines, search pages, flattened),
    Mastodon statuses and API pages, Bluesky Jetstream captures and API responses; the format is
    detected per line."""
    from agents.replay import ReplayCollector

    run_collector(_settings(ctx), lambda p: ReplayCollector(p, files, speed=speed))


@collect.command("synth")
@click.option("--rate", default=200.0, show_default=True, help="Mean posts per second.")
@click.option("--seed", default=7, show_default=True)
@click.option("--count", type=int, help="Stop after this many posts.")
@click.option("--duration", type=float, help="Stop after this many seconds.")
@click.option("--fast", is_flag=True, help="As fast as possible, in campaign time (benchmarks).")
@click.pass_context
def collect_synth(
    ctx: click.Context,
    rate: float,
    seed: int,
    count: int | None,
    duration: float | None,
    fast: bool,
) -> None:
    """Publish a seeded synthetic campaign (quiet and surge periods, storms, copies, media)."""
    from agents.synth.collector import SynthCollector, SynthConfig

    run_collector(
        _settings(ctx),
        lambda p: SynthCollector(
            p, SynthConfig(seed=seed, rate=rate), count=count, duration=duration, live=not fast
        ),
        spool=f"synth-seed{seed}",
    )


def run_x_collector(
    settings: Settings, make: Callable[[Publisher], Collector], spool: str | None = None
) -> None:
    """The shared collector runner, with X's errors turned into clear CLI messages."""
    try:
        run_collector(settings, make, spool)
    except (StreamError, RuleError, SearchError, CheckpointError) as exc:
        raise click.ClickException(str(exc)) from None


@collect.command("x")
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
@click.pass_context
def x_command(
    ctx: click.Context,
    config: Path | None,
    backfill: str | None,
    query: str | None,
    since: str | None,
    until: str | None,
) -> None:
    """Follow the campaign on X's filtered stream; fill outages through recent search.

    Rules are made from the campaign's hashtags and keywords and synced at start (only rules
    tagged for this campaign are ever deleted). Outages are published as gaps (the worker
    stores them) and backfilled; a restart catches up from its checkpoint under the data
    directory.

    The bearer token is read from the X_BEARER_TOKEN environment variable only;
    X_API_BASE_URL (default https://api.twitter.com) points at a proxy or a test server.
    """
    settings = load_settings(config=config)
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
            lambda p: XSearchCollector(p, secret, query, since=start, until=end, base_url=base_url),
        )
        return

    if since or until:
        raise click.UsageError("--since and --until go with --search")
    campaign = campaign_of(settings)
    stream_config = XStreamConfig(base_url=base_url, backfill=history(backfill))
    checkpoint = CheckpointFile(checkpoint_path(settings.data_dir, campaign.name))
    run_x_collector(
        settings,
        lambda p: XStreamCollector(
            p, campaign, secret, config=stream_config, checkpoint=checkpoint
        ),
        spool=f"x-{checkpoint.path.stem.removeprefix('x-')}",
    )


@collect.command("bluesky")
@click.option(
    "--config",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Campaign config (TOML) whose hashtags are followed [HASHWATCH_CONFIG].",
)
@click.option(
    "--backfill",
    metavar="DURATION",
    help="Also fill this much history at start: 30m, 12h, 2d. Jetstream replays about 36 h; "
    "older posts come from searchPosts (needs the BLUESKY_API_URL account).",
)
@click.pass_context
def bluesky_command(ctx: click.Context, config: Path | None, backfill: str | None) -> None:
    """Follow the campaign's hashtags on Bluesky through Jetstream.

    Jetstream is BLUESKY_JETSTREAM_URL, else the campaign's [bluesky] jetstream, else a public
    host. Posts carrying a campaign hashtag (in the text or in the tags array) are published,
    and their reposts, edits and deletions. Outages are gaps (the worker stores them), filled
    by Jetstream's replay from the checkpointed cursor under the data directory; what is older
    than its replay window (about 36 h) is searched through app.bsky.feed.searchPosts when
    BLUESKY_API_URL, BLUESKY_HANDLE and BLUESKY_APP_PASSWORD (an app password, read from the
    environment only) are set.
    """
    from agents.bluesky.collector import BlueskyCollector
    from agents.bluesky.jetstream import DEFAULT_JETSTREAM, BlueskyConfig
    from agents.bluesky.search import Credentials

    settings = load_settings(config=config)
    ctx.obj = settings
    campaign = campaign_of(settings)
    if not campaign.hashtags:
        raise click.UsageError(f"{settings.config}: the Bluesky collector follows `hashtags`; none")
    since = history(backfill)
    password = settings.bluesky_app_password
    given = {
        "BLUESKY_API_URL": settings.bluesky_api_url,
        "BLUESKY_HANDLE": settings.bluesky_handle,
        "BLUESKY_APP_PASSWORD": password.get_secret_value() if password else None,
    }
    credentials = None
    if all(given.values()):
        credentials = Credentials(
            api_url=str(given["BLUESKY_API_URL"]),
            handle=str(given["BLUESKY_HANDLE"]),
            password=str(given["BLUESKY_APP_PASSWORD"]),
        )
    elif any(given.values()):
        missing = ", ".join(name for name, value in given.items() if not value)
        raise click.UsageError(f"searchPosts backfill needs all three settings; {missing} unset")
    else:
        log.warning(
            "bluesky: no BLUESKY_API_URL account: outages longer than Jetstream's replay window "
            "(about 36 h) will be recorded as gaps, not backfilled"
        )
    jetstream = settings.bluesky_jetstream_url or campaign.bluesky.jetstream or DEFAULT_JETSTREAM
    stream_config = BlueskyConfig(jetstream_url=jetstream, backfill=since)
    checkpoint = CheckpointFile(checkpoint_path(settings.data_dir, campaign.name, "bluesky"))
    try:
        run_collector(
            settings,
            lambda p: BlueskyCollector(
                p, campaign, config=stream_config, credentials=credentials, checkpoint=checkpoint
            ),
            spool=checkpoint.path.stem,
        )
    except (StreamError, CheckpointError) as exc:
        raise click.ClickException(str(exc)) from None


@collect.command("mastodon")
@click.option(
    "--config",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Campaign config (TOML) whose hashtags are followed [HASHWATCH_CONFIG].",
)
@click.option(
    "--instance",
    "instances",
    multiple=True,
    metavar="URL",
    help="Also follow this instance (besides [mastodon] instances in the config); repeatable.",
)
@click.option(
    "--backfill",
    metavar="DURATION",
    help="Also fill this much history at start through the tag timeline: 30m, 12h, 2d.",
)
@click.pass_context
def mastodon_command(
    ctx: click.Context, config: Path | None, instances: tuple[str, ...], backfill: str | None
) -> None:
    """Follow the campaign's hashtags on Mastodon instances; fill outages through the timeline.

    One hashtag stream per instance and tag (spellings Mastodon treats as one tag share a
    stream); the streaming host is read from the instance. Outages are published as gaps (the
    worker stores them) and backfilled through the tag timeline; a restart catches up from its
    checkpoint under the data directory.

    The access token is read from the environment only: MASTODON_TOKEN (or the variable
    [mastodon] token_env names), or for an instance the variable [mastodon.tokens] names. It
    needs the read:statuses scope. The stream leaves out posts in languages outside the
    account's chosen languages and from accounts it blocks or mutes: use an account without
    them.
    """
    from agents.mastodon.api import ApiError, Token
    from agents.mastodon.stream import MastodonCollector, MastodonConfig

    settings = load_settings(config=config)
    ctx.obj = settings
    if settings.config is None:
        raise click.UsageError("no campaign config: pass --config or set HASHWATCH_CONFIG")
    try:
        campaign = load_campaign(settings.config)
        extra = [instance_url(u) for u in instances]
    except CampaignError as exc:
        if instances and "instance" in str(exc) and settings.config.is_file():
            raise click.BadParameter(str(exc), param_hint="--instance") from None
        raise click.ClickException(str(exc)) from None
    urls = list(dict.fromkeys([*campaign.mastodon.instances, *extra]))
    if not urls:
        raise click.UsageError(
            "no Mastodon instance to follow: list them in [mastodon] instances or pass --instance"
        )
    tokens: dict[str, Token] = {}
    for url in urls:
        variable = campaign.mastodon.tokens.get(url, campaign.mastodon.token_env)
        secret = (
            settings.mastodon_token
            if variable == "MASTODON_TOKEN"
            else token_from_environment(variable)
        )
        value = secret.get_secret_value().strip() if secret is not None else ""
        if not value:
            raise click.UsageError(
                f"{variable} is not set: export an access token for {url} (a user token with "
                "the read:statuses scope) in the environment"
            )
        tokens[url] = Token(value, variable)
    since = history(backfill)
    checkpoint = CheckpointFile(checkpoint_path(settings.data_dir, campaign.name, "mastodon"))
    known = checkpoint.path.with_suffix(".statuses.sqlite")
    try:
        run_collector(
            settings,
            lambda p: MastodonCollector(
                p,
                campaign,
                tokens,
                instances=extra,
                config=MastodonConfig(backfill=since),
                checkpoint=checkpoint,
                known=known,
            ),
            spool=checkpoint.path.stem,
        )
    except (StreamError, ApiError, CheckpointError) as exc:
        raise click.ClickException(str(exc)) from None
