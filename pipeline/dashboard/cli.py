"""``hashwatch dashboard``: the live web page for a running pipeline (HASHWATCH_BROKER)."""

from __future__ import annotations

import asyncio

import click

from pipeline.core.settings import load_settings
from pipeline.core.signals import run_until_signal


@click.command("dashboard")
@click.option(
    "--host",
    help="Address to bind [HASHWATCH_DASHBOARD_HOST, default 127.0.0.1]. Anything but "
    "loopback requires HASHWATCH_DASHBOARD_TOKEN.",
)
@click.option("--port", type=int, help="Port [HASHWATCH_DASHBOARD_PORT, default 8080].")
def dashboard_command(host: str | None, port: int | None) -> None:
    """Serve the live campaign dashboard: charts, alerts, gaps and a feed of posts.

    Reads the output topics of a running pipeline from the earliest offsets, so a page
    opened late still shows the whole campaign. Needs HASHWATCH_BROKER.
    """
    from pipeline.dashboard.access import DashboardConfigError, check_bind
    from pipeline.dashboard.server import serve_dashboard

    settings = load_settings(dashboard_host=host, dashboard_port=port)
    if not settings.broker:
        raise click.UsageError(
            "the dashboard reads a running pipeline: set HASHWATCH_BROKER=kafka://host:port "
            "(e.g. from `hashwatch broker`, with `hashwatch worker` running)."
        )
    token = settings.dashboard_token.get_secret_value() if settings.dashboard_token else None
    try:
        check_bind(settings.dashboard_host, token or None)
    except DashboardConfigError as exc:
        raise click.UsageError(str(exc)) from exc

    async def serve() -> None:
        handle = await serve_dashboard(settings, settings.bootstrap_servers())
        click.echo(f"dashboard: {handle.url}  (Ctrl-C stops it)", err=True)
        try:
            await asyncio.Event().wait()
        finally:
            await handle.close()

    try:
        run_until_signal(serve())
    except OSError as exc:  # e.g. the port is taken
        raise click.ClickException(f"cannot serve the dashboard: {exc}") from exc
