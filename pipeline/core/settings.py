"""Every setting and environment variable hashwatch reads, in one place."""

from __future__ import annotations

import os
import re
from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HASHWATCH_", extra="ignore")

    broker: str | None = Field(
        default=None,
        description="kafka://host:port[,host:port]. Unset: start the embedded Tansu broker.",
    )
    store: str | None = Field(
        default=None,
        repr=False,  # a PostgreSQL URL may hold the password: shown only through redact_url
        description="sqlite:///path.db or postgresql://user@host:port/db. "
        "Unset: sqlite under data_dir.",
    )
    data_dir: Path = Field(default=Path("hashwatch-data"), description="Where local files go.")
    topic_prefix: str = Field(default="hashwatch", description="Prefix of every topic name.")
    partitions: int = Field(default=4, ge=1, description="Partitions of each topic created.")
    config: Path | None = Field(default=None, description="Campaign config (TOML).")
    lang_backend: str = Field(default="cascade", description="Language detector backend.")
    batch_size: int = Field(default=500, ge=1, description="Posts per processing batch.")
    batch_seconds: float = Field(
        default=0.05, gt=0, description="Longest a partial batch waits before it is processed."
    )
    enrich_processes: int = Field(
        default=1,
        ge=0,
        description="Child processes that validate, detect language and sign posts, so the "
        "worker's event loop keeps its core; 0 does it in the worker's own process.",
    )
    idle_s: float = Field(
        default=2.0,
        gt=0,
        description="A raw partition with nothing new for this long no longer holds event time "
        "back: its mark advances with the clock, so windows close in quiet times.",
    )
    max_clock_skew_s: float = Field(
        default=600.0,
        ge=0,
        description="A post created more than this past the collector's clock is flagged "
        "'future' and placed in event time by when it was retrieved.",
    )
    dedupe_capacity: int = Field(
        default=20_000_000,
        ge=1000,
        description="Posts (uid and version) remembered so each is counted once, about 16 bytes "
        "each; past it, the oldest in event time are forgotten first.",
    )
    max_record_bytes: int = Field(
        default=1_000_000,
        gt=1024,
        description="Largest record hashwatch publishes (the broker's limit); larger ones are "
        "dead-lettered with their first 64 KB and the SHA-256 of the whole.",
    )
    cluster_window_s: float = Field(
        default=6 * 3600.0,
        gt=0,
        description="Copy-paste clusters and media reuse expire "
        "after this many seconds of event time without a new post.",
    )
    dashboard_host: str = Field(default="127.0.0.1", description="Dashboard bind address.")
    dashboard_port: int = Field(default=8080, description="Dashboard port.")
    dashboard_token: SecretStr | None = Field(
        default=None,
        repr=False,
        description="Required to bind the dashboard anywhere but loopback; the page asks for it.",
    )
    metrics_window_s: float = Field(
        default=60.0, gt=0, description="Tumbling event-time window of hashwatch.metrics."
    )
    metrics_grace_s: float = Field(
        default=120.0, ge=0, description="Late posts within this many seconds update their window."
    )
    metrics_host: str = Field(default="127.0.0.1", description="Prometheus /metrics address.")
    metrics_port: int | None = Field(
        default=None, description="Serve Prometheus /metrics from the worker on this port."
    )
    webhook_secret: SecretStr | None = Field(
        default=None, repr=False, description="Shared secret that signs alert webhooks (HMAC)."
    )
    webhook_allow_private: bool = Field(
        default=False, description="Allow webhook targets in private or loopback ranges."
    )
    x_bearer_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("X_BEARER_TOKEN"), repr=False
    )
    x_api_base_url: str = Field(
        default="https://api.twitter.com", validation_alias=AliasChoices("X_API_BASE_URL")
    )
    mastodon_token: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("MASTODON_TOKEN"),
        repr=False,
        description="Mastodon access token (read:statuses) for every instance without its own.",
    )
    bluesky_jetstream_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("BLUESKY_JETSTREAM_URL"),
        description="Jetstream /subscribe URL; unset: the campaign's, else a public v1 host.",
    )
    bluesky_api_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("BLUESKY_API_URL"),
        description="XRPC host for searchPosts backfill (e.g. https://bsky.social).",
    )
    bluesky_handle: str | None = Field(
        default=None, validation_alias=AliasChoices("BLUESKY_HANDLE")
    )
    bluesky_app_password: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("BLUESKY_APP_PASSWORD"), repr=False
    )

    def store_url(self) -> str:
        if self.store:
            return self.store
        return f"sqlite:///{(self.data_dir / 'hashwatch.db').resolve()}"

    def bootstrap_servers(self) -> str:
        """host:port list for Kafka clients; requires ``broker`` to be set."""
        if not self.broker:
            raise RuntimeError("no broker configured (HASHWATCH_BROKER is unset)")
        return self.broker.removeprefix("kafka://")


def token_from_environment(variable: str) -> SecretStr | None:
    """A secret from the environment variable a campaign config names (``[mastodon.tokens]``):
    the variable's name is configuration, its value never is."""
    value = os.environ.get(variable, "").strip()
    return SecretStr(value) if value else None


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment, with explicit CLI values taking precedence."""
    values = {k: v for k, v in overrides.items() if v is not None}
    return Settings(**values)  # type: ignore[arg-type]


# A password given as a parameter: postgresql://user@host/db?password=... (libpq's keywords).
_PASSWORD_PARAMETER = re.compile(r"([?&;](?:password|sslpassword)=)[^&;#]*", re.IGNORECASE)


def redact_url(url: str) -> str:
    """A URL fit for logs and summaries: any password, in the user info (everything between
    the first ``:`` and the last ``@``) or as a ``password=`` parameter, replaced by ***."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    if "@" in rest:
        creds, host = rest.rsplit("@", 1)
        user, colon, _ = creds.partition(":")
        rest = f"{user}:***@{host}" if colon else rest
    return scheme + "://" + _PASSWORD_PARAMETER.sub(r"\1***", rest)
