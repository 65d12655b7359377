"""``hashwatch verify EXPORT_DIR_OR_STORE``: is the record still what was collected and exported?

- An export (its folder, or one ``NAME.manifest.json``): every file the manifest lists is
  re-hashed and compared with the SHA-256 and size the manifest recorded.
- A store (``sqlite:///…``, ``postgresql://…``; ``HASHWATCH_STORE`` without an argument):
  every stored payload — ``posts``, ``post_versions``, ``deletions`` — is re-hashed from its
  exact bytes and compared with the ``sha256`` recorded when it was collected.

Every difference is printed with its location (file name, or table and uid). Exit status: 0
when everything matches, 1 when anything differs, 2 when the target cannot be checked.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import click

from pipeline.core.progress import Progress
from pipeline.core.settings import load_settings, redact_url
from pipeline.core.signals import run_until_signal
from pipeline.exports import manifest
from pipeline.sinks import Store, StoreError
from pipeline.sinks.querying import exact_raw, is_postgres, iter_keyed, open_existing

CLEAN, DIFFERS, CANNOT_CHECK = 0, 1, 2


@dataclass(frozen=True, slots=True)
class Difference:
    where: str  # a file name, or "<table> <uid>[ <version>]"
    what: str


@dataclass(slots=True)
class Report:
    checked: int = 0
    unhashed: int = 0  # store rows written before hashes were taken: nothing to compare with
    unchecked: list[str] = field(default_factory=list)  # listed but not checkable (stdout)
    differences: list[Difference] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Table:
    name: str
    key: tuple[str, ...]
    columns: tuple[str, ...]  # key, then sha256, raw[, raw_bytes]


_TABLES = (
    _Table("posts", ("uid",), ("uid", "sha256", "raw", "raw_bytes")),
    _Table("post_versions", ("uid", "version"), ("uid", "version", "sha256", "raw")),
    _Table("deletions", ("uid",), ("uid", "sha256", "raw")),
)


# -- exports -----------------------------------------------------------------------------------


def manifests_of(target: Path) -> list[Path]:
    """The manifests to check: the one given, or every one in the folder."""
    if target.is_file():
        return [target]
    return sorted(target.glob(f"*{manifest.SUFFIX}"))


def verify_export(paths: Sequence[Path], progress: Progress | None = None) -> Report:
    """Re-hash every file each manifest lists; raises ValueError for a file not a manifest."""
    report = Report()
    for path in paths:
        record = manifest.load(path)
        for entry in record.get("files", []):
            name = str(entry.get("name"))
            if name == "-" or entry.get("sha256") is None:
                report.unchecked.append(f"{path.name}: {entry.get('role')} (written to stdout)")
                continue
            report.checked += 1
            report.differences.extend(_compare_file(path.parent / name, name, entry))
            if progress is not None:
                progress.advance()
    return report


def _compare_file(path: Path, name: str, entry: dict[str, object]) -> Iterator[Difference]:
    if not path.is_file():
        yield Difference(name, "missing")
        return
    digest, size = manifest.file_digest(path)
    if digest != entry.get("sha256"):
        yield Difference(
            name,
            f"sha256 {digest} ({size:,} bytes) differs from the manifest's "
            f"{entry.get('sha256')} ({entry.get('bytes')} bytes)",
        )


# -- stores ------------------------------------------------------------------------------------


async def count_payloads(store: Store) -> int:
    total = 0
    for table in _TABLES:
        [(n,)] = await store.query(f"SELECT count(*) FROM {table.name}")
        total += int(n)  # type: ignore[call-overload]
    return total


async def verify_store(store: Store, progress: Progress | None = None) -> Report:
    """Re-hash every stored payload from its exact bytes against its recorded sha256."""
    report = Report()
    jsonb = is_postgres(store)
    for table in _TABLES:
        async for rows in iter_keyed(store, table.name, table.columns, table.key):
            for row in rows:
                report.differences.extend(_compare_row(table, row, jsonb, report))
            if progress is not None:
                progress.advance(len(rows))
    return report


def _compare_row(
    table: _Table, row: tuple[object, ...], jsonb: bool, report: Report
) -> Iterator[Difference]:
    values = dict(zip(table.columns, row, strict=True))
    recorded = values["sha256"]
    if recorded is None:
        report.unhashed += 1
        return
    report.checked += 1
    where = f"{table.name} " + " ".join(str(values[k]) for k in table.key)
    raw = exact_raw(values["raw"], values.get("raw_bytes"), jsonb=jsonb)
    if raw is None:
        yield Difference(where, "the exact bytes are missing (raw_bytes is NULL)")
        return
    digest = hashlib.sha256(raw).hexdigest()
    if digest != recorded:
        yield Difference(where, f"the stored bytes hash to {digest}, recorded {recorded}")


# -- the command -------------------------------------------------------------------------------


def _report(report: Report, what: str) -> int:
    for d in report.differences:
        click.echo(f"DIFFERS {d.where}: {d.what}")
    for note in report.unchecked:
        click.echo(f"not checked: {note}", err=True)
    extra = f", {report.unhashed:,} stored before hashes were taken" if report.unhashed else ""
    click.echo(
        f"{what}: {report.checked:,} checked{extra}, {len(report.differences):,} differ",
        err=True,
    )
    return DIFFERS if report.differences else CLEAN


def _cannot(message: str) -> None:
    click.echo(f"Error: {message}", err=True)
    sys.exit(CANNOT_CHECK)


@click.command("verify")
@click.argument("target", required=False)
@click.option("--no-progress", is_flag=True, help="No progress bar or lines on stderr.")
def verify_command(target: str | None, no_progress: bool) -> None:
    """Check an export or a store against its recorded SHA-256 hashes.

    TARGET is an export folder (or one NAME.manifest.json): every file its manifest lists is
    re-hashed. Or a store URL (sqlite:///path.db, postgresql://…; default HASHWATCH_STORE):
    every stored payload (posts, post_versions, deletions) is re-hashed from its exact bytes.
    Each difference is printed with its file name or table and uid. Exit status 0 when all
    match, 1 when anything differs, 2 when the target cannot be checked.
    """
    if target is not None and "://" not in target:
        path = Path(target)
        if not path.exists():
            raise click.UsageError(f"{target}: no such export folder or manifest")
        paths = manifests_of(path)
        if not paths:
            raise click.UsageError(f"{target}: no *{manifest.SUFFIX} in this folder")
        bar = None if no_progress else Progress(None, "verify", unit="files")
        try:
            report = verify_export(paths, bar)
        except (ValueError, OSError) as exc:
            _cannot(str(exc))
            return
        finally:
            if bar is not None:
                bar.close()
        sys.exit(_report(report, f"export {target}"))
    url = target or load_settings().store_url()

    async def go() -> Report:
        store = await open_existing(url)
        bar = None if no_progress else Progress(None, "verify", unit="payloads")
        try:
            if bar is not None:
                bar.set_total(await count_payloads(store))
            return await verify_store(store, bar)
        finally:
            if bar is not None:
                bar.close()
            await store.close()

    try:
        result = run_until_signal(go())
    except (StoreError, OSError) as exc:
        _cannot(f"{exc} ({redact_url(url)})")
        return
    if result is None:
        sys.exit(130)  # interrupted
    sys.exit(_report(result, f"store {redact_url(url)}"))
