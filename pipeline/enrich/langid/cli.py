"""`hashwatch lang`: detect the language of each line on stdin, one JSON line out per line in.

Lines are read and detected in batches because `detect_batch` is the fast path (fastText
per text, lingua's second opinions grouped); on a terminal each line is answered at once.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator
from typing import TextIO

import click

from pipeline.enrich.langid import BACKENDS, Detector, make_detector

BATCH = 500


def _batches(lines: Iterable[str], size: int) -> Iterator[list[str]]:
    batch: list[str] = []
    for line in lines:
        batch.append(line.rstrip("\r\n"))
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def run(detector: Detector, source: TextIO, sink: TextIO, batch_size: int) -> int:
    """Write one {"lang", "confidence", "backend"} line per line of `source`; return count."""
    count = 0
    for batch in _batches(source, batch_size):
        for d in detector.detect_batch(batch):
            record = {"lang": d.lang, "confidence": round(d.confidence, 4), "backend": d.backend}
            sink.write(json.dumps(record, ensure_ascii=False) + "\n")
        sink.flush()
        count += len(batch)
    return count


@click.command("lang")
@click.option(
    "--backend",
    type=click.Choice(BACKENDS),
    default="cascade",
    show_default=True,
    help="Detector: the fastText+lingua cascade, or one backend alone.",
)
@click.option(
    "--languages",
    default="",
    metavar="CODES",
    help="Only answer with these comma-separated codes (e.g. ar,fa,en); default: all.",
)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=None,
    help=f"Lines detected together [default: {BATCH}, 1 on a terminal].",
)
def lang_command(backend: str, languages: str, batch_size: int | None) -> None:
    """Detect the language of each line on stdin; print one JSON object per line."""
    codes = [c for c in languages.split(",") if c.strip()] or None
    try:
        detector = make_detector(backend, codes)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--languages") from e
    source = click.get_text_stream("stdin")
    if batch_size is None:
        batch_size = 1 if source.isatty() else BATCH
    run(detector, source, click.get_text_stream("stdout"), batch_size)


if __name__ == "__main__":  # python -m pipeline.enrich.langid.cli
    sys.exit(lang_command())
