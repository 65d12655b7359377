"""``hashwatch export``: posts and what goes with them out of the store, as JSONL, CSV or Parquet.

Beside the posts (``NAME.<format>``) go the collection gaps (``NAME.gaps.<format>``, written
even when there are none, so whoever reads the export can tell an outage from silence), the
posts' later versions and deletions (``NAME.versions.<format>``, ``NAME.deletions.<format>``)
and the manifest (``NAME.manifest.json``: every file's SHA-256 and row count, the query, the
collection runs and gaps covered; see ``manifest.py``). Every file is written under a temporary
name and all are renamed at the end: an interrupted export leaves nothing that looks complete.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import io
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Protocol

import click

from pipeline.core.progress import Progress
from pipeline.core.settings import load_settings, redact_url
from pipeline.core.signals import run_until_signal
from pipeline.exports import manifest
from pipeline.exports.history import DELETIONS, VERSIONS, Fields, HistoryRow, iter_rows, selection
from pipeline.exports.manifest import WrittenFile, file_digest, read_collections
from pipeline.exports.reader import (
    GapRow,
    PostFilter,
    StoredPost,
    count_posts,
    iter_pages,
    read_gaps,
)
from pipeline.sinks import Store, StoreError
from pipeline.sinks.querying import open_existing

FORMATS = ("jsonl", "csv", "parquet")
_MODULES = {"jsonl": "jsonl", "csv": "csvfile", "parquet": "parquet"}
_SUFFIXES = {".jsonl": "jsonl", ".json": "jsonl", ".csv": "csv", ".parquet": "parquet"}
_STORE_HELP = "Store URL: sqlite:///path.db or postgresql://user@host:port/db [HASHWATCH_STORE]."


class PostWriter(Protocol):
    def write(self, posts: Sequence[StoredPost]) -> None: ...
    def close(self) -> None: ...


class TableWriter(Protocol):
    def write(self, rows: Sequence[HistoryRow]) -> None: ...
    def close(self) -> None: ...


@dataclass(frozen=True)
class Format:
    name: str
    extension: str
    binary: bool
    post_writer: Callable[[Any], PostWriter]
    write_gaps: Callable[[Any, Sequence[GapRow]], None]
    table_writer: Callable[[Any, Fields], TableWriter]  # versions and deletions
    needs_children: bool  # media and hashtag rows (the tabular formats show them)


def load_format(name: str) -> Format:
    """Import only the writer asked for (Parquet pulls in pyarrow)."""
    module: Any = importlib.import_module(f"pipeline.exports.{_MODULES[name]}")
    return Format(
        name,
        module.EXTENSION,
        module.BINARY,
        module.PostWriter,
        module.write_gaps,
        module.TableWriter,
        module.NEEDS_CHILDREN,
    )


def sibling(output: Path, extension: str, kind: str, kind_extension: str | None = None) -> Path:
    """``out.csv`` -> ``out.<kind>.csv``; a name without that extension gets it appended."""
    stem = output.stem if output.suffix == f".{extension}" else output.name
    return output.with_name(f"{stem}.{kind}.{kind_extension or extension}")


def gaps_path_for(output: Path, extension: str) -> Path:
    return sibling(output, extension, "gaps")


def _named_after_gaps(gaps: Path, extension: str) -> Path:
    """With the posts on stdout, the other files are named after the gaps file."""
    suffix = f".gaps.{extension}"
    if gaps.name.endswith(suffix):
        return gaps.with_name(gaps.name.removesuffix(suffix) + f".{extension}")
    return gaps


@dataclass(frozen=True)
class ExportResult:
    posts: int
    gaps: int
    open_gaps: int
    versions: int
    deletions: int
    output: str
    gaps_output: str
    manifest: str
    manifest_sha256: str
    seconds: float


class _Files:
    """Output files written under ``.NAME.part`` and renamed together once all is written."""

    def __init__(self) -> None:
        self._parts: list[tuple[IO[Any], Path, Path]] = []

    def open(self, path: Path, binary: bool) -> IO[Any]:
        part = path.with_name(f".{path.name}.part")
        fh: IO[Any] = (
            open(part, "wb") if binary else open(part, "w", encoding="utf-8", newline="")  # noqa: SIM115
        )
        self._parts.append((fh, part, path))
        return fh

    def seal(self) -> dict[Path, Path]:
        """Every file so far on disk and closed; their final names -> the files as written."""
        for fh, _, _ in self._parts:
            if not fh.closed:
                fh.flush()
                os.fsync(fh.fileno())  # on disk before it takes the final name
                fh.close()
        return {path: part for _, part, path in self._parts}

    def commit(self) -> None:
        self.seal()
        for _, part, path in self._parts:
            os.replace(part, path)
        self._parts = []

    def discard(self) -> None:
        for fh, part, _ in self._parts:
            fh.close()
            part.unlink(missing_ok=True)
        self._parts = []


@contextlib.contextmanager
def _stdout(binary: bool) -> Iterator[IO[Any]]:
    if binary:
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    text = io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8", newline="", write_through=True)
    try:
        yield text
    finally:
        text.flush()
        text.detach()  # leave sys.stdout usable


@dataclass
class _Seen:
    """What the export learns from the rows it writes, for the manifest."""

    first: datetime | None = None
    last: datetime | None = None
    unhashed: int = 0
    collections: set[str] = field(default_factory=set)

    def posts(self, page: Sequence[StoredPost]) -> None:
        if page:
            self.first = self.first or page[0].created_at
            self.last = page[-1].created_at
        self.unhashed += sum(1 for p in page if p.sha256 is None)
        self.collections.update(p.collection for p in page if p.collection)

    def rows(self, page: Sequence[HistoryRow]) -> None:
        self.collections.update(c for r in page if (c := r.values.get("collection")))


async def run_export(
    store: Store,
    fmt: str,
    output: Path | None,
    gaps_output: Path,
    where: PostFilter,
    *,
    progress: Progress | None = None,
) -> ExportResult:
    """Write the posts ``where`` selects to ``output`` (None: stdout), and beside them the
    gaps, the versions and deletions of those posts, and the manifest."""
    started = time.monotonic()
    form = load_format(fmt)
    base = output if output is not None else _named_after_gaps(gaps_output, form.extension)
    manifest_path = sibling(base, form.extension, "manifest", "json")
    gaps = await read_gaps(store, where)
    if progress is not None:
        progress.set_total(await count_posts(store, where))
    files = _Files()
    seen = _Seen()
    counts: dict[str, int] = {"posts": 0, "gaps": len(gaps)}
    try:
        with contextlib.ExitStack() as stack:
            out = (
                files.open(output, form.binary)
                if output is not None
                else stack.enter_context(_stdout(form.binary))
            )
            writer = form.post_writer(out)
            async for page in iter_pages(store, where, children=form.needs_children):
                writer.write(page)
                seen.posts(page)
                counts["posts"] += len(page)
                if progress is not None:
                    progress.advance(len(page))
            writer.close()
        form.write_gaps(files.open(gaps_output, form.binary), gaps)
        paths: dict[str, Path] = {"gaps": gaps_output}
        for table in (VERSIONS, DELETIONS):
            paths[table.name] = sibling(base, form.extension, table.name)
            rows = form.table_writer(files.open(paths[table.name], form.binary), table.fields)
            counts[table.name] = 0
            async for batch in iter_rows(store, table, where):
                rows.write(batch)
                seen.rows(batch)
                counts[table.name] += len(batch)
            rows.close()
        seen.collections.update(g.collection for g in gaps if g.collection)
        collections = await read_collections(store, seen.collections)
        written = files.seal()
        targets: list[tuple[str, Path | None]] = [("posts", output), *paths.items()]
        listed = [_listed(role, path, counts[role], written) for role, path in targets]
        record = manifest.build(
            store_url=store.url,
            fmt=fmt,
            manifest_path=manifest_path,
            files=listed,
            options=where.options(),
            queries={
                "posts": where.select(store),
                **{t.name: selection(store, t, where) for t in (VERSIONS, DELETIONS)},
            },
            posts={
                "count": counts["posts"],
                "first_created_at": seen.first,
                "last_created_at": seen.last,
                "without_sha256": seen.unhashed,
            },
            collections=collections,
            collection_ids=seen.collections,
            gaps=gaps,
        )
        body = manifest.encode(record)
        files.open(manifest_path, binary=True).write(body)
        files.commit()
    except BaseException:
        files.discard()
        raise
    return ExportResult(
        posts=counts["posts"],
        gaps=len(gaps),
        open_gaps=sum(1 for g in gaps if g.end is None),
        versions=counts["versions"],
        deletions=counts["deletions"],
        output=str(output) if output is not None else "-",
        gaps_output=str(gaps_output),
        manifest=str(manifest_path),
        manifest_sha256=hashlib.sha256(body).hexdigest(),
        seconds=round(time.monotonic() - started, 2),
    )


def _listed(role: str, path: Path | None, rows: int, written: dict[Path, Path]) -> WrittenFile:
    """A written file for the manifest, hashed as it is on disk (stdout cannot be)."""
    if path is None:
        return WrittenFile(role, None, rows, None, None)
    digest, size = file_digest(written[path])
    return WrittenFile(role, path, rows, digest, size)


class _Time(click.ParamType):
    name = "TIME"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, datetime):
            return value
        try:
            parsed = datetime.fromisoformat(str(value).strip())
        except ValueError:
            self.fail(f"{value!r} is not ISO 8601 (e.g. 2024-03-01 or 2024-03-01T12:00Z)")
        return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _pick_format(fmt: str | None, output: str | None) -> str:
    if fmt:
        return fmt
    if output and output != "-":
        found = _SUFFIXES.get(Path(output).suffix.lower())
        if found:
            return found
    return "jsonl"


@click.command("export")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    help="jsonl: each post as it arrived (twarc2 lines); csv: twarc-csv columns + hashwatch.*; "
    "parquet: the same columns, typed. Default: from --output's extension, else jsonl.",
)
@click.option("--since", type=_Time(), help="Posts created at or after this time (ISO 8601; UTC).")
@click.option("--until", type=_Time(), help="Posts created before this time (exclusive).")
@click.option("--lang", multiple=True, help="Detected language code, e.g. ar (repeat: any of).")
@click.option(
    "--hashtag",
    multiple=True,
    help="Hashtag in any spelling, matched on its normalized form (repeat: any of).",
)
@click.option(
    "--output",
    "-o",
    help="File to write; '-' is stdout (jsonl and csv; then give --gaps). "
    "Default: hashwatch-export-<UTC time>.<format>.",
)
@click.option(
    "--gaps",
    "gaps_output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where the collection gaps go. Default: next to the output, NAME.gaps.<format>.",
)
@click.option("--store", help=_STORE_HELP)
@click.option("--no-progress", is_flag=True, help="No progress bar or lines on stderr.")
def export_command(
    fmt: str | None,
    since: datetime | None,
    until: datetime | None,
    lang: tuple[str, ...],
    hashtag: tuple[str, ...],
    output: str | None,
    gaps_output: Path | None,
    store: str | None,
    no_progress: bool,
) -> None:
    """Export posts and collection gaps from the store (JSONL, CSV or Parquet).

    Gaps are always written alongside, also when there are none, so an outage is never
    mistaken for silence.
    """
    fmt = _pick_format(fmt, output)
    ext = load_format(fmt).extension
    if since and until and since >= until:
        raise click.UsageError("--since must be before --until")
    if output == "-":
        if fmt == "parquet":
            raise click.UsageError("parquet cannot be written to stdout: give --output FILE")
        if gaps_output is None:
            raise click.UsageError("with --output - give --gaps FILE: gaps are always exported")
        target: Path | None = None
    else:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        target = Path(output) if output else Path(f"hashwatch-export-{stamp}.{ext}")
        gaps_output = gaps_output or gaps_path_for(target, ext)
    assert gaps_output is not None
    settings = load_settings(store=store)
    where = PostFilter(since=since, until=until, langs=lang, hashtags=hashtag)

    async def go() -> ExportResult:
        db = await open_existing(settings.store_url())
        bar = None if no_progress else Progress(None, "export", unit="posts")
        try:
            return await run_export(db, fmt, target, gaps_output, where, progress=bar)
        finally:
            if bar is not None:
                bar.close()
            await db.close()

    try:
        result = run_until_signal(go())  # Ctrl-C/SIGTERM: clean stop, no partial files
    except StoreError as exc:
        raise click.ClickException(f"{exc} ({redact_url(settings.store_url())})") from exc
    if result is None:
        sys.exit(130)  # interrupted; nothing was left behind
    click.echo(
        f"exported {result.posts:,} posts to {result.output}, {result.gaps:,} collection "
        f"gap(s) to {result.gaps_output}, {result.versions:,} later version(s) and "
        f"{result.deletions:,} deletion(s) beside them in {result.seconds:.1f}s\n"
        f"manifest {result.manifest} sha256 {result.manifest_sha256} "
        "(keep this hash apart: `hashwatch verify` checks the files against the manifest)",
        err=True,
    )
    if result.open_gaps:
        click.echo(
            f"warning: {result.open_gaps} collection gap(s) still open: a collector is down, "
            "so the latest period is incomplete",
            err=True,
        )
