"""The statuses seen on each instance: local id -> uri.

A ``delete`` event names the deleted status by its id on the instance that sends it, and a
reply names its parent the same way; the post's uid is made from the status ``uri``, which only
the status itself carries. So the collector remembers, per instance, the uri of every status
it has seen (the newest ``limit`` of them), and keeps that memory in a small SQLite file next
to its checkpoint, written with each checkpoint, so a delete that arrives after a restart
still finds its post.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections import OrderedDict
from pathlib import Path

from agents.mastodon.payload import local_uid

_SCHEMA = """
CREATE TABLE IF NOT EXISTS statuses (
    seq      INTEGER PRIMARY KEY AUTOINCREMENT,
    instance TEXT NOT NULL,
    local_id TEXT NOT NULL,
    uri      TEXT NOT NULL,
    UNIQUE (instance, local_id)
)
"""


class KnownStatuses:
    def __init__(self, path: Path | None = None, *, limit: int = 100_000) -> None:
        self.path = path
        self.limit = limit
        self._ids: dict[str, OrderedDict[str, str]] = {}
        self._pending: dict[tuple[str, str], str] = {}
        self._db: sqlite3.Connection | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(_SCHEMA)
            self._load()

    def _load(self) -> None:
        assert self._db is not None
        rows = self._db.execute("SELECT instance, local_id, uri FROM statuses ORDER BY seq")
        for instance, local_id, uri in rows:
            self._put(instance, local_id, uri)
        with self._db:  # keep the file as small as the memory
            for instance, known in self._ids.items():
                oldest = next(iter(known), None)
                if oldest is not None:
                    self._db.execute(
                        "DELETE FROM statuses WHERE instance = ? AND seq < "
                        "(SELECT seq FROM statuses WHERE instance = ? AND local_id = ?)",
                        (instance, instance, oldest),
                    )

    def _put(self, instance: str, local_id: str, uri: str) -> None:
        known = self._ids.setdefault(instance, OrderedDict())
        known[local_id] = uri
        known.move_to_end(local_id)
        while len(known) > self.limit:
            known.popitem(last=False)

    def remember(self, instance: str, local_id: str, uri: str) -> bool:
        """Note a status seen on ``instance``; whether it was new there."""
        new = local_id not in self._ids.get(instance, ())
        self._put(instance, local_id, uri)
        if self._db is not None:
            self._pending[instance, local_id] = uri
        return new

    def knows(self, instance: str, local_id: str) -> bool:
        return local_id in self._ids.get(instance, ())

    def uid(self, instance: str, local_id: str) -> str:
        """The uid of a status named by its local id: from its uri when it was seen, else
        the instance-local form (``payload.local_uid``)."""
        known = self._ids.get(instance)
        uri = known.get(local_id) if known is not None else None
        return f"mastodon:{uri}" if uri is not None else local_uid(instance, local_id)

    def flush(self) -> None:
        """Write what was learnt since the last flush."""
        if self._db is None or not self._pending:
            return
        rows = [(i, lid, uri) for (i, lid), uri in self._pending.items()]
        self._pending.clear()
        with self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO statuses (instance, local_id, uri) VALUES (?, ?, ?)", rows
            )

    def close(self) -> None:
        self.flush()
        if self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                self._db.close()
            self._db = None
