"""``hashwatch export``: posts and collection gaps out of the store, as JSONL, CSV or Parquet.

The gaps always go along (``NAME.gaps.<format>`` next to the posts, written even when there
are none), so whoever reads the export can tell an outage from silence. Both files are written
under a temporary name and renamed at the end: an interrupted export leaves nothing that
looks complete.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Protocol

import click

from pipeline.core.progress import Progress
from pipeline.core.settings import load_settings, redact_url
from pipeline.core.signals import run_until_signal
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


@dataclass(frozen=True)
class Format:
    name: str
    extension: str
    binary: bool
    post_writer: Callable[[Any], PostWriter]
    write_gaps: Callable[[Any, Sequence[GapRow]], None]
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
        module.NEEDS_CHILDREN,
    )


def gaps_path_for(output: Path, extension: str) -> Path:
    """``out.csv`` -> ``out.gaps.csv``; a name without that extension gets it appended."""
    if output.suffix == f".{extension}":
        return output.with_name(f"{output.stem}.gaps.{extension}")
    return output.with_name(f"{output.name}.gaps.{extension}")


@dataclass(frozen=True)
class ExportResult:
    posts: int
    gaps: int
    open_gaps: int
    output: str
    gaps_output: str
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

    def commit(self) -> None:
        for fh, part, path in self._parts:
            fh.flush()
            os.fsync(fh.fileno())  # on disk before it takes the final name
            fh.close()
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


async def run_export(
    store: Store,
    fmt: str,
    output: Path | None,
    gaps_output: Path,
    where: PostFilter,
    *,
    progress: Progress | None = None,
) -> ExportResult:
    """Write the posts ``where`` selects to ``output`` (None: stdout) and the gaps beside them."""
    started = time.monotonic()
    form = load_format(fmt)
    gaps = await read_gaps(store, where)
    if progress is not None:
        progress.set_total(await count_posts(store, where))
    files = _Files()
    written = 0
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
                written += len(page)
                if progress is not None:
                    progress.advance(len(page))
            writer.close()
        form.write_gaps(files.open(gaps_output, form.binary), gaps)
        files.commit()
    except BaseException:
        files.discard()
        raise
    return ExportResult(
        posts=written,
        gaps=len(gaps),
        open_gaps=sum(1 for g in gaps if g.end is None),
        output=str(output) if output is not None else "-",
        gaps_output=str(gaps_output),
        seconds=round(time.monotonic() - started, 2),
    )


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
        f"exported {result.posts:,} posts to {result.output} and {result.gaps:,} collection "
        f"gap(s) to {result.gaps_output} in {result.seconds:.1f}s",
        err=True,
    )
    if result.open_gaps:
        click.echo(
            f"warning: {result.open_gaps} collection gap(s) still open: a collector is down, "
            "so the latest period is incomplete",
            err=True,
        )
