"""Sinks: where enriched posts are kept. One module per backend, chosen by URL scheme."""

from __future__ import annotations

from pipeline.sinks.base import Store, StoreError


def open_store(url: str) -> Store:
    """``sqlite:///path.db`` or ``postgresql://user@host:port/db``."""
    scheme = url.split(":", 1)[0]
    if scheme == "sqlite":
        from pipeline.sinks.sqlite import SqliteStore

        return SqliteStore(url)
    if scheme in ("postgresql", "postgres"):
        from pipeline.sinks.postgres import PostgresStore

        return PostgresStore(url)
    raise StoreError(f"unsupported store URL scheme {scheme!r}: use sqlite:/// or postgresql://")


__all__ = ["Store", "StoreError", "open_store"]
