"""The manifest of an export (``NAME.manifest.json``): what was written, from what, and how to
check that it is still what was written.

It lists every file the export wrote with its SHA-256, size and row count; the query that
selected the posts (as SQL in the store's dialect with its parameters, and as the ``hashwatch
export`` options); the collection runs the exported rows came from (``collections``: config
hash, rules, software, host, start and stop) and the gaps the export covers; the software and
the time. ``hashwatch verify DIR`` re-hashes the files against it. The manifest itself is the
root of that check: keep its SHA-256 (printed by ``hashwatch export``) apart from the export.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import orjson

from pipeline import __version__
from pipeline.exports.reader import GapRow
from pipeline.sinks import Store
from pipeline.sinks.querying import as_time, placeholders
from pipeline.sinks.rows import COLLECTION_COLUMNS

MANIFEST = "hashwatch-export-manifest/1"
SUFFIX = ".manifest.json"
_CHUNK = 1 << 20
_IDS_PER_QUERY = 500


@dataclass(frozen=True, slots=True)
class WrittenFile:
    role: str  # posts, gaps, versions, deletions
    path: Path | None  # its final name; None for standard output
    rows: int
    sha256: str | None
    size: int | None


def file_digest(path: Path) -> tuple[str, int]:
    """SHA-256 (hex) and size of a file, read in chunks."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def store_label(url: str) -> str:
    """Which store, without credentials or connection options: scheme, host, database, schema."""
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        return url
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    schema = dict(parse_qsl(parts.query)).get("schema")
    return f"{parts.scheme}://{host}{port}{parts.path}" + (f"?schema={schema}" if schema else "")


async def read_collections(store: Store, ids: Iterable[str]) -> list[dict[str, Any]]:
    """The ``collections`` rows of these run ids, oldest first (ids the store lacks are left
    out: ``missing_collections`` in the manifest names them)."""
    wanted = sorted(set(ids))
    found: list[dict[str, Any]] = []
    for start in range(0, len(wanted), _IDS_PER_QUERY):
        chunk = wanted[start : start + _IDS_PER_QUERY]
        sql = (
            f"SELECT {', '.join(COLLECTION_COLUMNS)} FROM collections "
            f"WHERE id IN ({', '.join('?' for _ in chunk)})"
        )
        for row in await store.query(placeholders(sql, store), *chunk):
            record = dict(zip(COLLECTION_COLUMNS, row, strict=True))
            for key in ("rules", "parameters"):
                value = record[key]
                record[key] = orjson.loads(value) if isinstance(value, str | bytes) else value
            for key in ("started_at", "stopped_at"):
                record[key] = as_time(record[key])
            found.append(record)
    return sorted(found, key=lambda c: (c["started_at"], c["id"]))


def build(
    *,
    store_url: str,
    fmt: str,
    manifest_path: Path,
    files: Sequence[WrittenFile],
    options: list[str],
    queries: dict[str, tuple[str, list[object]]],
    posts: dict[str, Any],
    collections: list[dict[str, Any]],
    collection_ids: Iterable[str],
    gaps: Sequence[GapRow],
) -> dict[str, Any]:
    """The manifest as a JSON-ready dict; file names are relative to the manifest's folder."""
    here = manifest_path.parent
    found = {c["id"] for c in collections}
    return {
        "manifest": MANIFEST,
        "software": f"hashwatch {__version__}",
        "created_at": datetime.now(UTC),
        "store": store_label(store_url),
        "format": fmt,
        "selection": {
            "options": options,
            **{name: {"sql": sql, "parameters": params} for name, (sql, params) in queries.items()},
        },
        "posts": posts,
        "files": [
            {
                "role": f.role,
                "name": os.path.relpath(f.path, here) if f.path is not None else "-",
                "rows": f.rows,
                "bytes": f.size,
                "sha256": f.sha256,
            }
            for f in files
        ],
        "collections": collections,
        "missing_collections": sorted(set(collection_ids) - found),
        "gaps": [
            {
                "id": g.id,
                "collector": g.collector,
                "start": g.start,
                "end": g.end,
                "reason": g.reason,
                "recovered": g.recovered,
                "source": g.source,
                "collection": g.collection,
            }
            for g in gaps
        ],
    }


def encode(manifest: dict[str, Any]) -> bytes:
    return orjson.dumps(manifest, option=orjson.OPT_INDENT_2 | orjson.OPT_UTC_Z) + b"\n"


def load(path: Path) -> dict[str, Any]:
    """A manifest as written; raises ValueError when the file is not one."""
    try:
        manifest = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"{path}: not JSON: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("manifest") != MANIFEST:
        raise ValueError(f"{path}: not a hashwatch export manifest")
    return manifest
