"""Language detection on lingua's test data: accuracy and throughput of every backend.

Run: .venv/bin/python bench/langid_bench.py [--limit N] [--langdetect-limit N] [--backends ...]

Texts are `$HASHWATCH_SHARED_DATA/langid/{sentences,word-pairs,single-words}/<lang>.txt`
(default `<repo>/../shared/data`), 14 languages, one text per line. Accuracy is the mean over
the languages of the share detected exactly. Throughput is texts/s (wall clock) through
`detect_batch` in batches of 500, as the pipeline calls it, after every backend has loaded
its models (lingua's all, ~12 s) and run on a warm-up sample. Every backend considers every
language it knows. langdetect is slow (~2 min for all 42,000 texts): `--langdetect-limit`
runs it on the first N lines per language only, and the targets then compare the cascade
with it on those same lines.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.enrich.langid import BACKENDS, Detector, lingua_backend, make_detector

LANGS = ("ar", "de", "en", "es", "fa", "fr", "he", "id", "it", "nl", "pt", "ru", "tr", "ur")
CATEGORIES = ("sentences", "word-pairs", "single-words")
BATCH = 500
WARM_UP_LINES = 20
SPEEDUP_TARGET = 50.0
# lingua's reports and CSV name languages in English.
_ENGLISH_NAMES = """Arabic German English Spanish Persian French Hebrew Indonesian Italian
Dutch Portuguese Russian Turkish Urdu"""
NAMES = dict(zip(LANGS, _ENGLISH_NAMES.split(), strict=True))
SECTIONS = {"single words": "single-words", "word pairs": "word-pairs", "sentences": "sentences"}
Rows = list[tuple[str, str, int]]  # (gold language, text, line number)


def data_dir() -> Path:
    root = Path(__file__).resolve().parents[1]
    shared = Path(os.environ.get("HASHWATCH_SHARED_DATA", root.parent / "shared" / "data"))
    return shared / "langid"


def load(limit: int) -> dict[str, Rows]:
    out: dict[str, Rows] = {}
    for cat in CATEGORIES:
        rows: Rows = []
        for lang in LANGS:
            lines = (data_dir() / cat / f"{lang}.txt").read_text(encoding="utf-8").split("\n")
            texts = [line for line in lines if line.strip()][:limit]
            rows.extend((lang, text, i) for i, text in enumerate(texts))
        out[cat] = rows
    return out


@dataclass
class Run:
    """One backend on one category: its answers and the time they took."""

    gold: list[str]
    lines: list[int]
    pred: list[str]
    seconds: float
    cpu_seconds: float  # this process's CPU time, all threads: robust to other load

    def accuracy(self, first: int | None = None) -> float:
        """Mean over languages of the % right, on each language's first `first` lines."""
        right: dict[str, list[bool]] = {}
        for gold, line, pred in zip(self.gold, self.lines, self.pred, strict=True):
            if first is None or line < first:
                right.setdefault(gold, []).append(gold == pred)
        return 100 * sum(sum(v) / len(v) for v in right.values()) / len(right)

    @property
    def rate(self) -> float:
        return len(self.pred) / self.seconds


def run(detector: Detector, rows: Rows) -> Run:
    texts = [text for _, text, _ in rows]
    pred: list[str] = []
    start, cpu_start = time.perf_counter(), time.process_time()
    for i in range(0, len(texts), BATCH):
        pred.extend(d.lang for d in detector.detect_batch(texts[i : i + BATCH]))
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    return Run([g for g, _, _ in rows], [n for _, _, n in rows], pred, seconds, cpu)


def overall_rate(runs: dict[str, Run], cpu: bool = False) -> float:
    """Texts/s over the three categories together: a mix of long and short posts."""
    seconds = sum(r.cpu_seconds if cpu else r.seconds for r in runs.values())
    return sum(len(r.pred) for r in runs.values()) / seconds


def published() -> dict[str, dict[str, float]]:
    """lingua's published accuracy (%) of langdetect and lingua-high on our 14 languages:
    per category from its reports, and the mean of the three from its CSV."""
    base = data_dir()
    out: dict[str, dict[str, float]] = {}
    for name, folder in (("langdetect", "langdetect"), ("lingua-high", "lingua-high-accuracy")):
        per_cat: dict[str, list[float]] = {cat: [] for cat in CATEGORIES}
        for lang in LANGS:
            report = base / "published-reports" / folder / f"{NAMES[lang]}.txt"
            text = report.read_text(encoding="utf-8") if report.exists() else ""
            for section, acc in re.findall(r"of \d+ ([a-z ]+) \(.*\)\nAccuracy: ([\d.]+)%", text):
                per_cat[SECTIONS[section]].append(float(acc))
        row = {cat: sum(v) / len(v) for cat, v in per_cat.items() if len(v) == len(LANGS)}
        with (base / "published-accuracy-lingua.csv").open(encoding="utf-8") as f:
            means = [float(r[folder]) for r in csv.DictReader(f) if r["language"] in NAMES.values()]
        if len(means) == len(LANGS) and not any(math.isnan(m) for m in means):
            row["mean"] = sum(means) / len(means)
        out[name] = row
    return out


def table(results: dict[str, dict[str, Run]]) -> None:
    ld = results.get("langdetect")
    head = f"{'':<22}{'accuracy %':^34}|{'throughput, texts/s':^44}"
    cols = f"{'backend':<22}{'sentences':>10}{'pairs':>8}{'words':>8}{'mean':>8}|"
    cols += f"{'sentences':>10}{'pairs':>9}{'words':>9}{'all':>9}{'x langdetect':>14}"
    print(head)
    print(cols)
    print("-" * len(cols))
    for backend, runs in results.items():
        accs = [runs[c].accuracy() for c in CATEGORIES]
        line = f"{backend:<22}{accs[0]:>10.2f}{accs[1]:>8.2f}{accs[2]:>8.2f}"
        line += f"{sum(accs) / 3:>8.2f}|{runs[CATEGORIES[0]].rate:>10,.0f}"
        line += "".join(f"{runs[c].rate:>9,.0f}" for c in CATEGORIES[1:])
        line += f"{overall_rate(runs):>9,.0f}"
        line += f"{overall_rate(runs) / overall_rate(ld):>13.1f}x" if ld else ""
        print(line)
    for name, row in published().items():
        cells = "".join(
            f"{row[c]:>{w}.2f}" if c in row else f"{'?':>{w}}"
            for c, w in zip((*CATEGORIES, "mean"), (10, 8, 8, 8), strict=True)
        )
        print(f"{'published ' + name:<22}{cells}|")
    if ld and "cascade" in results:
        cas = results["cascade"]
        ratios = ", ".join(f"{c} {cas[c].rate / ld[c].rate:.1f}x" for c in CATEGORIES)
        print(f"\ncascade vs langdetect per category: {ratios}")
        cpu = overall_rate(cas, cpu=True) / overall_rate(ld, cpu=True)
        print(f"same on CPU time (not wall clock; insensitive to other load): {cpu:.1f}x")


def targets(results: dict[str, dict[str, Run]], ld_limit: int) -> bool:
    """Print PASS/MISS for the three targets; True if all pass."""
    if not {"cascade", "langdetect", "lingua"} <= set(results):
        print("\n(targets need the cascade, langdetect and lingua backends)")
        return True
    cas, ld, lin = results["cascade"], results["langdetect"], results["lingua"]
    checks = [
        (
            "sentences: cascade >= langdetect",
            "%",
            cas["sentences"].accuracy(ld_limit),
            ld["sentences"].accuracy(),
        ),
        (
            "word pairs: cascade >= lingua high accuracy",
            "%",
            cas["word-pairs"].accuracy(),
            lin["word-pairs"].accuracy(),
        ),
        (
            f"speed: cascade >= {SPEEDUP_TARGET:.0f}x langdetect (all texts)",
            "x",
            overall_rate(cas) / overall_rate(ld),
            SPEEDUP_TARGET,
        ),
    ]
    print("\ntargets (mean over the 14 languages; same machine, same run)")
    ok = True
    for label, unit, got, need in checks:
        ok &= got >= need
        verdict = "PASS" if got >= need else "MISS"
        print(f"  {verdict}  {label:<48}{got:8.2f}{unit} vs {need:6.2f}{unit}  ({got - need:+.2f})")
    return ok


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--limit", type=int, default=1000, help="lines per language and file")
    parser.add_argument(
        "--langdetect-limit", type=int, help="lines per language for langdetect (default: all)"
    )
    parser.add_argument("--backends", nargs="+", default=list(BACKENDS), choices=BACKENDS)
    args = parser.parse_args(argv)
    ld_limit = min(args.langdetect_limit or args.limit, args.limit)
    data = load(args.limit)

    detectors = {backend: make_detector(backend) for backend in args.backends}
    start = time.perf_counter()
    if {"cascade", "lingua"} & set(args.backends):
        lingua_backend.preload()
    warm = [text for rows in data.values() for _, text, line in rows if line < WARM_UP_LINES]
    for detector in detectors.values():
        detector.detect_batch(warm)
    print(f"models loaded and warmed up in {time.perf_counter() - start:.1f}s", file=sys.stderr)

    results: dict[str, dict[str, Run]] = {}
    for backend, detector in detectors.items():
        limit = ld_limit if backend == "langdetect" else args.limit
        results[backend] = {
            cat: run(detector, [r for r in rows if r[2] < limit]) for cat, rows in data.items()
        }
        print(f"ran {backend}", file=sys.stderr)

    subset = f" (langdetect: first {ld_limit})" if ld_limit < args.limit else ""
    print(
        f"\nLanguage detection on lingua's test data: {len(LANGS)} languages, "
        f"{args.limit} texts per language and file{subset}, batches of {BATCH}\n"
    )
    table(results)
    return 0 if targets(results, ld_limit) else 1


if __name__ == "__main__":
    sys.exit(main())
