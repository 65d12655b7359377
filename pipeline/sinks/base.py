"""The store interface every backend implements; its tables are documented in README.md."""

from __future__ import annotations

import abc
from collections.abc import Sequence

from schemas.alert import Alert
from schemas.collection import Collection
from schemas.enriched import EnrichedPost
from schemas.gap import Gap
from schemas.post import PostDeletion


class StoreError(RuntimeError):
    pass


class Store(abc.ABC):
    """Idempotent by uid: writing a record twice never makes two rows."""

    url: str

    @abc.abstractmethod
    async def open(self) -> None:
        """Connect and bring the schema to the latest migration."""

    @abc.abstractmethod
    async def write(self, batch: Sequence[EnrichedPost]) -> None:
        """Write a batch in one transaction; raises on failure so offsets are not committed.
        An ``edit`` is kept as a version of its post (``post_versions``), never a new row."""

    @abc.abstractmethod
    async def write_deletions(self, deletions: Sequence[PostDeletion]) -> None:
        """Keep each delete event and mark its post deleted (now or when it arrives)."""

    @abc.abstractmethod
    async def write_gaps(self, gaps: Sequence[Gap]) -> None:
        """Upsert collection gaps by id (an open gap is closed by writing it again)."""

    @abc.abstractmethod
    async def write_collections(self, collections: Sequence[Collection]) -> None:
        """Upsert collection runs by id; a later record (rules, stop) completes an earlier one."""

    @abc.abstractmethod
    async def write_alerts(self, alerts: Sequence[Alert]) -> None:
        """Insert alerts by id; an alert delivered twice stays one row."""

    @abc.abstractmethod
    async def close(self) -> None: ...

    @abc.abstractmethod
    async def query(self, sql: str, *args: object) -> list[tuple[object, ...]]:
        """Read-only helper for summaries, status and tests."""
