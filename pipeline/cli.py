"""The ``hashwatch`` command line."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import click

from pipeline import __version__
from pipeline.core import logs
from pipeline.core.campaign import CampaignError
from pipeline.core.settings import Settings, load_settings
from pipeline.core.signals import run_until_signal

_STORE_HELP = "Store URL: sqlite:///path.db or postgresql://user@host:port/db [HASHWATCH_STORE]."


def _settings(ctx: click.Context, **overrides: object) -> Settings:
    settings = load_settings(**overrides)
    ctx.obj = settings
    return settings


class _Commands(click.Group):
    """A campaign config that cannot be used ends any command with its message, not a trace."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except CampaignError as exc:
            raise click.ClickException(str(exc)) from None


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="hashwatch")
@click.option(
    "--log-level",
    default="info",
    show_default=True,
    type=click.Choice(["debug", "info", "warning", "error"]),
)
@click.option(
    "--log-format", default="text", show_default=True, type=click.Choice(["text", "json"])
)
@click.option(
    "--verbose-libraries", is_flag=True, help="Let Faust and aiokafka log at --log-level."
)
def main(log_level: str, log_format: str, verbose_libraries: bool) -> None:
    """Watch a hashtag campaign live: collect, deduplicate, detect language, tag media, store.

    Without HASHWATCH_BROKER, commands that need a broker start the embedded one (Tansu).
    """
    logs.configure(log_level, log_format, verbose_libraries)


@main.command()
@click.option("--port", type=int, help="Port on 127.0.0.1 (default: a free one).")
def broker(port: int | None) -> None:
    """Run the embedded Kafka-compatible broker (Tansu) until Ctrl-C."""
    from pipeline.core.broker import EmbeddedBroker
    from pipeline.core.settings import load_settings
    from pipeline.core.topics import Topics

    settings = load_settings()

    async def serve() -> None:
        b = EmbeddedBroker(port=port)
        b.start()
        try:  # restarted on the same port, the topics must exist before clients come back
            await b.create_topics_first(Topics(settings.topic_prefix), settings.partitions)
            click.echo(f"HASHWATCH_BROKER={b.url}", err=False)
            click.echo(
                "broker ready (memory storage: nothing survives a restart); Ctrl-C stops it",
                err=True,
            )
            sys.stdout.flush()
            while b.alive():
                await asyncio.sleep(0.5)
        finally:
            b.stop()

    run_until_signal(serve())


@main.command()
@click.option("--store", help=_STORE_HELP)
@click.option(
    "--metrics-port",
    type=int,
    help="Serve Prometheus /metrics on this port [HASHWATCH_METRICS_PORT].",
)
@click.pass_context
def worker(ctx: click.Context, store: str | None, metrics_port: int | None) -> None:
    """Run the stream processors and the storage sink until Ctrl-C."""
    from prometheus_client import CollectorRegistry

    from pipeline.ops.prometheus import serve_metrics
    from pipeline.session import session

    settings = _settings(ctx, store=store, metrics_port=metrics_port)

    async def serve() -> None:
        registry = CollectorRegistry() if settings.metrics_port is not None else None
        async with session(settings, metrics=registry) as s:
            server = None
            if registry is not None and settings.metrics_port is not None:
                server = await serve_metrics(registry, settings.metrics_host, settings.metrics_port)
                click.echo(
                    f"metrics on http://{settings.metrics_host}:{server.port}/metrics", err=True
                )
            click.echo(f"worker running on {s.bootstrap}; Ctrl-C stops it", err=True)
            try:
                await asyncio.Event().wait()
            finally:
                if server is not None:
                    await server.close()

    run_until_signal(serve())


@main.command()
@click.option("--rate", default=100.0, show_default=True, help="Mean synthetic posts per second.")
@click.option("--duration", type=float, help="Stop after this many seconds (default: Ctrl-C).")
@click.option("--seed", default=7, show_default=True)
@click.option("--store", help=_STORE_HELP)
@click.pass_context
def demo(
    ctx: click.Context, rate: float, duration: float | None, seed: int, store: str | None
) -> None:
    """Run a synthetic campaign through broker, worker and store, with live counts."""
    from pipeline.demo import run_demo

    run_until_signal(run_demo(_settings(ctx, store=store), rate, duration, seed))


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--store", help=_STORE_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object.")
@click.option("--speed", type=float, help="Replay at N times the original pace.")
@click.option("--no-progress", is_flag=True, help="No progress bar or periodic progress lines.")
@click.pass_context
def run(
    ctx: click.Context,
    files: tuple[Path, ...],
    store: str | None,
    as_json: bool,
    speed: float | None,
    no_progress: bool,
) -> None:
    """One-shot archive mode: replay FILES through the pipeline, wait until drained, summarize."""
    from pipeline.core.progress import Progress
    from pipeline.runner import StalledError, render, run_archive
    from schemas.codec import encode

    settings = _settings(ctx, store=store)
    progress = None if no_progress else Progress(None, "run", unit="posts")
    try:
        summary = run_until_signal(run_archive(settings, files, speed, progress=progress))
    except StalledError as exc:
        raise click.ClickException(str(exc)) from exc
    if summary is None:
        sys.exit(130)  # interrupted
    click.echo(encode(summary).decode() if as_json else render(summary))


@main.group()
def alerts() -> None:
    """Alert subscribers: webhooks and a live tail of hashwatch.alerts (needs HASHWATCH_BROKER)."""


def _require_broker(settings: Settings) -> str:
    if not settings.broker:
        raise click.UsageError(
            "this command needs a running broker: set HASHWATCH_BROKER=kafka://host:port"
        )
    return settings.bootstrap_servers()


@alerts.command("webhook")
@click.argument("urls", nargs=-1)
@click.option(
    "--allow-private",
    is_flag=True,
    help="Allow targets in private or loopback ranges [HASHWATCH_WEBHOOK_ALLOW_PRIVATE].",
)
@click.pass_context
def alerts_webhook(ctx: click.Context, urls: tuple[str, ...], allow_private: bool) -> None:
    """POST each alert as JSON to URLS (default: the config's [alerts] webhooks), signed with
    HMAC-SHA256 over the body (header X-Hashwatch-Signature) using HASHWATCH_WEBHOOK_SECRET."""
    from pipeline.alerts.config import alert_config
    from pipeline.alerts.webhooks import WebhookRefused, check_target, deliver
    from pipeline.core.topics import Topics

    settings = _settings(ctx)
    bootstrap = _require_broker(settings)
    targets = list(urls) or list(alert_config(settings.config).webhooks)
    if not targets:
        raise click.UsageError("give a URL, or list webhooks under [alerts] in the campaign config")
    if settings.webhook_secret is None:
        raise click.UsageError("set HASHWATCH_WEBHOOK_SECRET: alerts are always signed")
    secret = settings.webhook_secret.get_secret_value().encode()
    allow = allow_private or settings.webhook_allow_private
    try:
        for url in targets:
            check_target(url, allow)
    except WebhookRefused as exc:
        raise click.UsageError(str(exc)) from exc
    topic = Topics(settings.topic_prefix).alerts

    async def go() -> None:
        await asyncio.gather(
            *(deliver(bootstrap, topic, u, secret, allow_private=allow) for u in targets)
        )

    run_until_signal(go())


@alerts.command("tail")
@click.option("--from-beginning", is_flag=True, help="Print every alert so far, then follow.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.pass_context
def alerts_tail(ctx: click.Context, from_beginning: bool, as_json: bool) -> None:
    """Print alerts as they are raised."""
    from pipeline.core import kafka
    from pipeline.core.topics import Topics
    from schemas.alert import Alert
    from schemas.codec import DecodeError, decode

    settings = _settings(ctx)
    bootstrap = _require_broker(settings)

    async def go() -> None:
        consumer = kafka.consumer(
            bootstrap,
            Topics(settings.topic_prefix).alerts,
            group_id=None,
            auto_offset_reset="earliest" if from_beginning else "latest",
        )
        await consumer.start()
        try:
            async for rec in consumer:
                try:
                    a = decode(rec.value or b"", Alert)
                except DecodeError as exc:  # anything else on the topic: said, and skipped
                    where = f"{rec.topic}/{rec.partition}@{rec.offset}"
                    click.echo(f"skipped {where}, not an Alert v1: {exc}", err=True)
                    continue
                if as_json:
                    click.echo((rec.value or b"").decode())
                    continue
                click.echo(
                    f"{a.window_start:%Y-%m-%d %H:%M} [{a.severity}] {a.rule}: {a.summary}"
                    + (f"  {a.links[0]}" if a.links else "")
                )
        finally:
            await consumer.stop()

    run_until_signal(go())


def _register() -> None:
    """Commands that live with their packages."""
    from pipeline.collect import collect
    from pipeline.dashboard.cli import dashboard_command
    from pipeline.enrich.langid.cli import lang_command
    from pipeline.exports import export_command
    from pipeline.exports.verify import verify_command
    from pipeline.ops.status import status_command

    main.add_command(lang_command, "lang")
    main.add_command(collect, "collect")
    main.add_command(dashboard_command, "dashboard")
    main.add_command(export_command, "export")
    main.add_command(status_command, "status")
    main.add_command(verify_command, "verify")


_register()
if __name__ == "__main__":
    main()
