"""Secrets never show: the platform tokens and the store's database password appear in no log
line, exception message, help text, ``hashwatch status`` output, Prometheus text, dashboard
page or JSON — with all of them set in the environment while the pipeline runs."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import click
import msgspec
import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from agents.publisher import KafkaPublisher
from agents.replay import ReplayCollector
from pipeline.cli import main
from pipeline.core.broker import free_port
from pipeline.core.settings import load_settings, redact_url
from pipeline.dashboard import serve_dashboard
from pipeline.ops.prometheus import serve_metrics, worker_registry
from pipeline.ops.status import collect_status, render, status_command
from pipeline.runner import wait_drained
from pipeline.session import session
from pipeline.sinks.querying import open_existing

X_TOKEN = "AAAAAAAAAAAAAAAAAAAAAx-s3cr3t-bearer-0f9e8d7c"
MASTODON_TOKEN = "mastodon-s3cr3t-token-5a6b7c8d9e"
BLUESKY_PASSWORD = "kq3v-s3cr-p2xw-9hdr"
DB_PASSWORD = "db-s3cr3t-pa55word"
TOKENS = {
    "X_BEARER_TOKEN": X_TOKEN,
    "MASTODON_TOKEN": MASTODON_TOKEN,
    "BLUESKY_APP_PASSWORD": BLUESKY_PASSWORD,
    "BLUESKY_HANDLE": "someone.bsky.social",
}


def leaked(text: str | bytes, secrets: Iterator[str] | list[str]) -> list[str]:
    data = text.encode() if isinstance(text, str) else text
    return [s for s in secrets if s.encode() in data]


SECRETS = [X_TOKEN, MASTODON_TOKEN, BLUESKY_PASSWORD, DB_PASSWORD]


# --- URLs in logs and summaries ----------------------------------------------------------------

USERS = st.from_regex(r"[a-z]{1,8}", fullmatch=True)
HOSTS = st.sampled_from(["127.0.0.1", "db.example", "[::1]", "db.example:5432", ""])
QUERIES = st.sampled_from(["", "?schema=hw", "?sslmode=require&schema=hw", "?options=-c%20x"])
PASSWORDS = st.text(min_size=1, max_size=20).map(lambda p: "Zq9" + p)  # no user, host or
# query here holds "Zq9", so finding it means the password itself was shown


@pytest.mark.fuzz
@given(USERS, PASSWORDS, HOSTS, QUERIES, st.sampled_from(["postgresql", "postgres", "kafka"]))
def test_a_password_in_a_store_url_is_never_shown(
    user: str, password: str, host: str, query: str, scheme: str
) -> None:
    in_userinfo = f"{scheme}://{user}:{password}@{host}/db{query}"
    shown = redact_url(in_userinfo)
    assert "Zq9" not in shown and shown.startswith(f"{scheme}://{user}:***@")
    as_parameter = f"{scheme}://{user}@{host}/db{query or '?'}&password={password}&x=1"
    if "&" not in password and ";" not in password and "#" not in password:
        assert "Zq9" not in redact_url(as_parameter)


# --- help, settings, status and its errors -----------------------------------------------------


def commands(group: click.Group, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield path
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            yield from commands(command, (*path, name))
        else:
            yield (*path, name)


def secret_env(store: str) -> dict[str, str | None]:
    return {
        **TOKENS,
        "HASHWATCH_STORE": store,
        "HASHWATCH_BROKER": None,
        "HASHWATCH_DASHBOARD_TOKEN": None,
    }


def test_no_help_text_shows_a_secret() -> None:
    env = secret_env(f"postgresql://hw:{DB_PASSWORD}@127.0.0.1:1/hw")
    runner = CliRunner()
    seen = 0
    for path in commands(main):
        result = runner.invoke(main, [*path, "--help"], env=env)
        assert result.exit_code == 0, (path, result.output)
        assert not leaked(result.output, SECRETS), path
        seen += 1
    assert seen > 15  # every command and group, collect's and export's too
    version = runner.invoke(main, ["--version"], env=env)
    assert not leaked(version.output, SECRETS)


def test_settings_never_show_a_secret_in_their_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in TOKENS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("HASHWATCH_STORE", f"postgresql://hw:{DB_PASSWORD}@127.0.0.1/hw")
    settings = load_settings()
    assert settings.x_bearer_token is not None  # read, and held
    assert settings.store_url().endswith("@127.0.0.1/hw")
    assert not leaked(repr(settings) + str(settings), SECRETS)


@pytest.mark.parametrize(
    "store",
    [
        f"postgresql://hw:{DB_PASSWORD}@127.0.0.1:{{port}}/hw",  # nothing listens
        f"postgresql://hw@127.0.0.1:{{port}}/hw?password={DB_PASSWORD}",
        f"postgresql://hw:{DB_PASSWORD}@127.0.0.1:notaport/hw",  # not a URL asyncpg reads
        f"postgresql://hw:{DB_PASSWORD}@127.0.0.1:{{port}}/hw?sslmode=bogus",
    ],
)
def test_status_and_its_errors_never_show_the_database_password(
    store: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    url = store.format(port=free_port())
    runner = CliRunner()
    for args in (["--sample", "0"], ["--json", "--sample", "0"], ["--store", url, "--json"]):
        result = runner.invoke(status_command, args, env=secret_env(url))
        assert result.exit_code == 1  # the store does not answer: said, without its password
        assert "UNREACHABLE" in result.output or '"reachable":false' in result.output
        assert not leaked(result.output, SECRETS), result.output
    assert not leaked(caplog.text, SECRETS)


# --- a running pipeline, with every secret in its environment ------------------------------------


def with_password(pg_base: str, schema: str) -> tuple[str, str]:
    """The test server's URL with a password in it (trust authentication ignores it), and the
    password to look for."""
    scheme, _, rest = pg_base.partition("://")
    creds, _, host = rest.rpartition("@")
    user, colon, password = creds.partition(":")
    if not colon:
        password = DB_PASSWORD
    return f"{scheme}://{user}:{password}@{host}?schema={schema}", password


@pytest.mark.slow
async def test_a_running_pipeline_shows_no_secret_anywhere(
    broker_url: str,
    pg_base: str,
    schema: str,
    tmp_path: Path,
    x_data: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    store, password = with_password(pg_base, schema)
    secrets = [X_TOKEN, MASTODON_TOKEN, BLUESKY_PASSWORD, password]
    env = {
        **TOKENS,
        "HASHWATCH_STORE": store,
        "HASHWATCH_BROKER": broker_url,
        "HASHWATCH_TOPIC_PREFIX": f"secrets-{tmp_path.name}",
        "HASHWATCH_DATA_DIR": str(tmp_path / "data"),
        "HASHWATCH_LANG_BACKEND": "langdetect",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    shown: dict[str, bytes] = {}
    async with session(settings) as s:
        server = await serve_metrics(worker_registry(s.worker.counters, s.sink), port=0)
        dashboard = await serve_dashboard(settings, s.bootstrap, "127.0.0.1", 0)
        try:
            publisher = KafkaPublisher(s.bootstrap, s.topics)
            await publisher.start()
            stats = await ReplayCollector(publisher, [x_data / "two_tweets.jsonl"]).run()
            await publisher.stop()
            await wait_drained(s.worker, stats.posts, records=publisher.sent)
            assert s.worker.counters.stored >= stats.posts > 0
            async with aiohttp.ClientSession() as http:
                shown["metrics"] = await fetch(http, f"http://127.0.0.1:{server.port}/metrics")
                for path in ("", "api/snapshot", "static/app.js", "static/style.css"):
                    shown[f"dashboard /{path}"] = await fetch(http, dashboard.url + path)
                async with http.get(dashboard.url + "events") as events:
                    first = await events.content.readuntil(b"\n\n")  # retry: ...
                    shown["dashboard /events"] = first + await events.content.readuntil(b"\n\n")
            status = await collect_status(settings, sample_s=0)
            shown["status"] = render(status).encode()
            shown["status --json"] = msgspec.json.encode(status)
        finally:
            await dashboard.close()
            await server.close()
    cli = await asyncio.to_thread(CliRunner().invoke, status_command, ["--sample", "0"])
    assert cli.exit_code == 0, cli.output
    shown["hashwatch status"] = cli.output.encode()
    db = await open_existing(store)
    try:
        shown["store: collections"] = repr(await db.query("SELECT * FROM collections")).encode()
    finally:
        await db.close()
    out, err = capfd.readouterr()
    shown["stdout and stderr"] = (out + err).encode()
    shown["log records"] = caplog.text.encode()
    assert b"posts" in shown["metrics"] and b'"snapshot"' in shown["dashboard /api/snapshot"]
    assert b"store" in shown["status"] and b":***@" in shown["status"]
    for where, text in shown.items():
        assert not leaked(text, secrets), where


async def fetch(http: aiohttp.ClientSession, url: str) -> bytes:
    async with http.get(url) as response:
        assert response.status == 200, url
        return await response.read()
