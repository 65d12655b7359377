"""Language detection on lingua's test data: accuracy per language, speed, calibration.

Run: .venv/bin/python bench/langid_bench.py [--testdata DIR] [--limit N] [--sample N] [--quick]

Texts are `DIR/{sentences,word-pairs,single-words}/<code>.txt`, one text per line, with
lingua's published reports in `DIR/published-reports/` and `DIR/published-accuracy-lingua.csv`.
DIR is `--testdata`, else `$HASHWATCH_LANGID_TESTDATA`, else `$HASHWATCH_SHARED_DATA/langid`
(default `<repo>/../shared/data/langid`: 14 of lingua's 75 languages). `make bench` fetches all
75 from pemistahl/lingua-py first (`bench/fetch_lingua_testdata.sh`, into .cache/) and passes
them here; offline, it runs on the 14.

Accuracy is the share of a language's texts detected exactly, averaged over the languages.
The cascade and fastText run on `--limit` lines per language and file, langdetect and lingua
(all languages, high accuracy: ~1 ms a text) on the first `--sample` lines, and each target
compares the cascade with them on those same lines; lingua's published figures (1000 lines)
are shown beside. Speed is texts/s through `detect_batch` in batches of 500 (as the pipeline
calls it) after every model is loaded and warm; the ratio to langdetect comes from the same
run, as a share of the machine another job may be using changes both alike. The `hashwatch
lang` figures run it as a fresh process: time and peak RSS of the whole process.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

from lingua import IsoCode639_1, Language

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.enrich.langid import (
    BACKENDS,
    UND,
    Detection,
    Detector,
    lingua_backend,
    make_detector,
)
from pipeline.enrich.langid.base import iso_code
from pipeline.enrich.langid.cascade import CascadeDetector, Policy

ROOT = Path(__file__).resolve().parents[1]

CATEGORIES = ("sentences", "word-pairs", "single-words")
SECTIONS = {"single words": "single-words", "word pairs": "word-pairs", "sentences": "sentences"}
# The languages of the campaign hashwatch was first built for (shared/data/langid's subset).
CAMPAIGN = ("ar", "de", "en", "es", "fa", "fr", "he", "id", "it", "nl", "pt", "ru", "tr", "ur")
BATCH = 500
WARM_UP_LINES = 20
SPEEDUP_TARGET = 50.0
SHARE_OF_LANGUAGES = 0.9  # targets hold on at least this share of the languages one by one
CLI_ONE_LINE = (2.0, 400.0)  # seconds, MB peak RSS
CLI_LINES, CLI_SPEEDUP = 6000, 20.0
BUCKETS = (0.0, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.97, 1.01)
UND_RIGHT_BELOW = 0.2  # `und` where an answer is right less than one time in five
# X's labels for posts without a language it could name: not a reference.
X_NO_LANGUAGE = {"und", "zxx", "qme", "qam", "qht", "qst", "qct", "art"}
Rows = list[tuple[str, str, int]]  # (gold language, text, line number)


def testdata_dir(given: str | None) -> Path:
    if given or os.environ.get("HASHWATCH_LANGID_TESTDATA"):
        return Path(given or os.environ["HASHWATCH_LANGID_TESTDATA"])
    return shared_dir() / "langid"


def shared_dir() -> Path:
    return Path(os.environ.get("HASHWATCH_SHARED_DATA", ROOT.parent / "shared" / "data"))


def languages_in(data: Path) -> list[str]:
    """Codes with a file in every category."""
    sets = [{p.stem for p in (data / cat).glob("*.txt")} for cat in CATEGORIES]
    return sorted(set.intersection(*sets))


def english_name(code: str) -> str:
    """lingua's reports name languages in English: Bokmal, Slovene..."""
    return str(Language.from_iso_code_639_1(getattr(IsoCode639_1, code.upper())).name.title())


def load(data: Path, langs: Sequence[str], limit: int) -> dict[str, Rows]:
    out: dict[str, Rows] = {}
    for cat in CATEGORIES:
        rows: Rows = []
        for lang in langs:
            lines = (data / cat / f"{lang}.txt").read_text(encoding="utf-8").split("\n")
            texts = [line for line in lines if line.strip()][:limit]
            rows.extend((lang, text, i) for i, text in enumerate(texts))
        out[cat] = rows
    return out


@dataclass
class Run:
    """One backend on one category: its answers and the time they took."""

    gold: list[str]
    lines: list[int]
    found: list[Detection]
    seconds: float

    def per_language(self, first: int | None = None) -> dict[str, float]:
        """% right per language, on each language's first `first` lines."""
        right: dict[str, list[bool]] = {}
        for gold, line, d in zip(self.gold, self.lines, self.found, strict=True):
            if first is None or line < first:
                right.setdefault(gold, []).append(gold == d.lang)
        return {lang: 100 * sum(v) / len(v) for lang, v in right.items()}

    def accuracy(self, first: int | None = None) -> float:
        per = self.per_language(first)
        return sum(per.values()) / len(per)

    @property
    def rate(self) -> float:
        return len(self.found) / self.seconds


def run(detector: Detector, rows: Rows) -> Run:
    texts = [text for _, text, _ in rows]
    found: list[Detection] = []
    start = time.perf_counter()
    for i in range(0, len(texts), BATCH):
        found.extend(detector.detect_batch(texts[i : i + BATCH]))
    seconds = time.perf_counter() - start
    return Run([g for g, _, _ in rows], [n for _, _, n in rows], found, seconds)


def overall_rate(runs: dict[str, Run]) -> float:
    """Texts/s over the three categories together: as many sentences as pairs and words."""
    return sum(len(r.found) for r in runs.values()) / sum(r.seconds for r in runs.values())


def published(data: Path, langs: Sequence[str]) -> dict[str, dict[str, dict[str, float]]]:
    """lingua's published accuracy (%) per backend, category and language (1000 lines)."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for name, folder in (("langdetect", "langdetect"), ("lingua", "lingua-high-accuracy")):
        per_cat: dict[str, dict[str, float]] = {cat: {} for cat in CATEGORIES}
        for lang in langs:
            report = data / "published-reports" / folder / f"{english_name(lang)}.txt"
            text = report.read_text(encoding="utf-8") if report.exists() else ""
            for section, acc in re.findall(r"of \d+ ([a-z ]+) \(.*\)\nAccuracy: ([\d.]+)%", text):
                per_cat[SECTIONS[section]][lang] = float(acc)
        out[name] = per_cat
    return out


def mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else math.nan


# --- the tables -----------------------------------------------------------------------------


def per_language_table(
    langs: Sequence[str],
    results: dict[str, dict[str, Run]],
    pub: dict[str, dict[str, dict[str, float]]],
    sample: int,
) -> None:
    """One line per language: the cascade, fastText, langdetect and lingua, measured, and
    lingua's published figure, on sentences and word pairs."""
    cols = [("cascade", None), ("fasttext", None), ("langdetect", sample), ("lingua", sample)]
    cols = [(b, n) for b, n in cols if b in results]
    per = {(b, cat): results[b][cat].per_language(n) for b, n in cols for cat in CATEGORIES[:2]}
    cas_sample = {cat: results["cascade"][cat].per_language(sample) for cat in CATEGORIES[:2]}
    head = f"{'':<16}" + "".join(
        f"|{cat + ' %':^{10 * (len(cols) + 1) + 8}}" for cat in CATEGORIES[:2]
    )
    sub = (
        f"{'language':<16}"
        + ("|" + "".join(f"{b[:9]:>10}" for b, _ in cols) + f"{'lingua pub':>11}" + f"{'':>7}") * 2
    )
    print(head)
    print(sub)
    print("-" * len(sub))
    for lang in langs:
        line = f"{english_name(lang)[:10] + ' ' + lang:<16}"
        for cat in CATEGORIES[:2]:
            line += "|" + "".join(f"{per[b, cat].get(lang, math.nan):>10.1f}" for b, _ in cols)
            p = pub["lingua"][cat].get(lang)
            line += f"{p:>11.1f}" if p is not None else f"{'?':>11}"
            # the target for this language: sentences vs langdetect, pairs vs lingua (pub)
            if cat == "sentences" and "langdetect" in results:
                ok = cas_sample[cat][lang] >= per["langdetect", cat][lang]
            elif cat == "word-pairs" and p is not None:
                ok = per["cascade", cat][lang] >= p
            else:
                ok = True
            line += f"{'' if ok else ' <':>7}"
        print(line)
    print(
        f"(langdetect and lingua measured on the first {sample} lines per file, the others on "
        "all; '<' marks a language under its target)"
    )


def summary_table(results: dict[str, dict[str, Run]], sample: int) -> None:
    ld = results.get("langdetect")
    head = f"{'':<12}{'accuracy %, mean over languages':^34}|{'throughput, texts/s':^44}"
    cols = f"{'backend':<12}{'sentences':>10}{'pairs':>8}{'words':>8}{'mean':>8}|"
    cols += f"{'sentences':>10}{'pairs':>9}{'words':>9}{'all':>9}{'x langdetect':>14}"
    print(head)
    print(cols)
    print("-" * len(cols))
    for backend, runs in results.items():
        first = sample if backend in ("langdetect", "lingua") else None
        accs = [runs[c].accuracy(first) for c in CATEGORIES]
        line = f"{backend:<12}{accs[0]:>10.2f}{accs[1]:>8.2f}{accs[2]:>8.2f}"
        line += f"{sum(accs) / 3:>8.2f}|" + "".join(
            f"{runs[c].rate:>{w},.0f}" for c, w in zip(CATEGORIES, (10, 9, 9), strict=True)
        )
        line += f"{overall_rate(runs):>9,.0f}"
        line += f"{overall_rate(runs) / overall_rate(ld):>13.1f}x" if ld else ""
        print(line)
    if "cascade" in results:
        cas = results["cascade"]
        accs = [cas[c].accuracy(sample) for c in CATEGORIES]
        cells = "".join(f"{a:>{w}.2f}" for a, w in zip(accs, (10, 8, 8), strict=True))
        print(f"{'cascade*':<12}{cells}{sum(accs) / 3:>8.2f}|")
        print(f"(* the cascade on the same first {sample} lines as langdetect and lingua)")


def verdict(label: str, got: float, need: float, unit: str = "%", higher: bool = True) -> bool:
    ok = got >= need if higher else got <= need
    sign = ">=" if higher else "<="
    print(f"  {'PASS' if ok else 'MISS'}  {label:<58}{got:9.2f}{unit} {sign} {need:.2f}{unit}")
    return ok


def accuracy_targets(
    langs: Sequence[str],
    results: dict[str, dict[str, Run]],
    pub: dict[str, dict[str, dict[str, float]]],
    sample: int,
) -> bool:
    cas = results["cascade"]
    ok = True
    need = math.ceil(SHARE_OF_LANGUAGES * len(langs))
    if "langdetect" in results:
        mine = cas["sentences"].per_language(sample)
        theirs = results["langdetect"]["sentences"].per_language(sample)
        ok &= verdict(
            "sentences: cascade >= langdetect (measured)",
            mean(list(mine.values())),
            mean(list(theirs.values())),
        )
        held = sum(mine[g] >= theirs[g] for g in langs)
        ok &= verdict("  languages where it holds", held, need, unit="")
    pairs = cas["word-pairs"].per_language()
    lingua_pub = pub["lingua"]["word-pairs"]
    if len(lingua_pub) == len(langs):
        ok &= verdict(
            "word pairs: cascade >= lingua high (published)",
            mean(list(pairs.values())),
            mean(list(lingua_pub.values())),
        )
        held = sum(pairs[g] >= lingua_pub[g] for g in langs)
        ok &= verdict("  languages where it holds", held, need, unit="")
    if "lingua" in results:
        mine = cas["word-pairs"].per_language(sample)
        theirs = results["lingua"]["word-pairs"].per_language(sample)
        verdict(
            f"word pairs: cascade >= lingua high (measured, {sample} lines)",
            mean(list(mine.values())),
            mean(list(theirs.values())),
        )
        verdict(
            "  languages where it holds", sum(mine[g] >= theirs[g] for g in langs), need, unit=""
        )
    return ok


# --- calibration ----------------------------------------------------------------------------


def calibration(data: dict[str, Rows], sample: int) -> float:
    """Accuracy of the cascade (with no `und` threshold) per confidence bucket, on short
    texts (word pairs and single words: where low confidence happens), and what answering
    `und` below each bucket's upper edge would cost; returns the shipped threshold."""
    shipped = Policy().und_below
    raw = CascadeDetector(policy=Policy(und_below=0.0))
    rows = [r for cat in ("word-pairs", "single-words") for r in data[cat] if r[2] < sample]
    found = run(raw, rows).found
    pairs = [(d.confidence, d.lang == g) for (g, _, _), d in zip(rows, found, strict=True)]
    n = len(pairs)
    print(f"\nCalibration: the cascade's confidence on {n:,} word pairs and single words")
    print(
        f"{'confidence':<14}{'texts':>8}{'share %':>9}{'right %':>9}"
        f"{'und below: accuracy %':>24}{'wrong answers avoided %':>25}"
    )
    wrong_total = sum(not ok for _, ok in pairs)
    derived = 0.0  # the top of the lowest buckets that are all right < UND_RIGHT_BELOW
    for lo, hi in pairwise(BUCKETS):
        inside = [ok for c, ok in pairs if lo <= c < hi]
        if not inside:
            continue
        if derived == lo and sum(inside) < UND_RIGHT_BELOW * len(inside):
            derived = hi
        kept = [ok for c, ok in pairs if c >= hi]
        avoided = sum(not ok for c, ok in pairs if c < hi)
        print(
            f"{f'{lo:.2f}-{min(hi, 1):.2f}':<14}{len(inside):>8,}{100 * len(inside) / n:>9.1f}"
            f"{100 * sum(inside) / len(inside):>9.1f}{100 * sum(kept) / n:>24.1f}"
            f"{100 * avoided / max(wrong_total, 1):>25.1f}"
        )
    print(
        f"overall right: {100 * sum(ok for _, ok in pairs) / n:.1f} %; the buckets right "
        f"less than {UND_RIGHT_BELOW:.0%} of the time end at {derived:.2f}; shipped `und` "
        f"threshold: confidence < {shipped:.2f}"
    )
    return shipped


# --- X's own labels -------------------------------------------------------------------------


def _tweets(obj: object) -> Iterator[dict[str, object]]:
    if isinstance(obj, list):
        for item in obj:
            yield from _tweets(item)
    elif isinstance(obj, dict):
        if "text" in obj and "id" in obj and "lang" in obj:
            yield obj
        for key in ("data", "includes", "tweets"):
            if key in obj:
                yield from _tweets(obj[key])


def x_originals(folder: Path) -> list[tuple[str, str]]:
    """(X's lang, text) of each distinct original post (not a retweet) X gave a language."""
    seen: dict[str, tuple[str, str]] = {}
    for path in sorted(folder.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            for tweet in _tweets(obj):
                refs = tweet.get("referenced_tweets") or []
                if any(isinstance(r, dict) and r.get("type") == "retweeted" for r in refs):
                    continue
                note = tweet.get("note_tweet")
                text = note.get("text") if isinstance(note, dict) else tweet["text"]
                lang = str(tweet["lang"])
                if lang not in X_NO_LANGUAGE and isinstance(text, str):
                    seen[str(tweet["id"])] = (iso_code(lang.lower()), text)
    return list(seen.values())


def x_agreement(detectors: dict[str, Detector]) -> None:
    folder = shared_dir() / "x-v2"
    posts = x_originals(folder)
    if not posts:
        print(f"\n(no recorded X payloads in {folder})")
        return
    print(f"\nAgreement with X's own `lang` on {len(posts)} original posts of {folder}:")
    for name, detector in detectors.items():
        found = detector.detect_batch([text for _, text in posts])
        same = sum(d.lang == lang for (lang, _), d in zip(posts, found, strict=True))
        und = sum(d.lang == UND for d in found)
        print(f"  {name:<12}{100 * same / len(posts):6.1f} % the same, {und} und")


# --- hashwatch lang, a fresh process --------------------------------------------------------


# The child reports its own peak RSS: VmHWM is per address space, so unlike ru_maxrss it does
# not count what the forked bench held before exec.
_CLI = """
import atexit, sys
def _peak():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            sys.stderr.write("peak-rss-kb " + line.split()[1] + "\\n")
atexit.register(_peak)
from pipeline.cli import main
sys.argv[0] = "hashwatch"
main()
"""


def cli(backend: str, lines: Sequence[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of `hashwatch lang` answering `lines` in one process."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with tempfile.TemporaryFile() as source, tempfile.TemporaryFile() as errors:
        source.write("\n".join(lines).encode() + b"\n")
        source.seek(0)
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", _CLI, "lang", "--backend", backend],
            stdin=source,
            stdout=subprocess.PIPE,
            stderr=errors,
            cwd=ROOT,
            env=env,
            check=False,
        )
        seconds = time.perf_counter() - start
        errors.seek(0)
        err = errors.read().decode(errors="replace")
    if done.returncode:
        raise RuntimeError(f"hashwatch lang --backend {backend} exited {done.returncode}: {err}")
    peak = re.search(r"peak-rss-kb (\d+)", err)
    rss = int(peak.group(1)) / 1024 if peak else math.nan
    answered = done.stdout.decode().count("\n")
    if answered != len(lines):
        raise RuntimeError(f"hashwatch lang answered {answered} of {len(lines)} lines")
    return seconds, rss


def cli_lines(data: dict[str, Rows], langs: Sequence[str], count: int) -> list[str]:
    """`count` lines, a third from each category, round-robin over the languages."""
    by: dict[tuple[str, str], list[str]] = {}
    for cat, rows in data.items():
        for gold, text, _ in rows:
            by.setdefault((cat, gold), []).append(text)
    out: list[str] = []
    for cat in CATEGORIES:
        for j in range(count // len(CATEGORIES)):
            texts = by[cat, langs[j % len(langs)]]
            out.append(texts[(j // len(langs)) % len(texts)])
    return out


def cli_figures(data: dict[str, Rows], langs: Sequence[str]) -> bool:
    print("\n`hashwatch lang`, whole process (start, load, answer, exit):")
    ok = True
    worst_s, worst_mb = 0.0, 0.0
    # one line needing lingua's second opinion: a word pair, in three languages
    for lang in (langs[0], langs[len(langs) // 2], langs[-1]):
        line = next(t for g, t, _ in data["word-pairs"] if g == lang)
        seconds, mb = cli("cascade", [line])
        print(f"  one line ({lang} word pair {line!r}): {seconds:.2f} s, peak RSS {mb:.0f} MB")
        worst_s, worst_mb = max(worst_s, seconds), max(worst_mb, mb)
    ok &= verdict("one line: seconds (worst of three)", worst_s, CLI_ONE_LINE[0], " s", False)
    ok &= verdict("one line: peak RSS (worst of three)", worst_mb, CLI_ONE_LINE[1], " MB", False)
    lines = cli_lines(data, langs, CLI_LINES)
    cas_s, cas_mb = cli("cascade", lines)
    ld_s, ld_mb = cli("langdetect", lines)
    print(
        f"  {len(lines):,} lines (every language, a third of each category): cascade "
        f"{cas_s:.2f} s ({len(lines) / cas_s:,.0f}/s, {cas_mb:.0f} MB), langdetect {ld_s:.2f} s "
        f"({len(lines) / ld_s:,.0f}/s, {ld_mb:.0f} MB)"
    )
    ok &= verdict(f"{len(lines):,} lines: cascade vs langdetect", ld_s / cas_s, CLI_SPEEDUP, "x")
    return ok


# --- main -----------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--testdata",
        help="lingua's test data [$HASHWATCH_LANGID_TESTDATA, else ../shared/data/langid]",
    )
    parser.add_argument("--limit", type=int, default=1000, help="lines per language and file")
    parser.add_argument(
        "--sample",
        type=int,
        default=100,
        help="lines per language and file for langdetect and lingua (slow)",
    )
    parser.add_argument("--backends", nargs="+", default=list(BACKENDS), choices=BACKENDS)
    parser.add_argument("--no-cli", action="store_true", help="skip the `hashwatch lang` runs")
    args = parser.parse_args(argv)
    folder = testdata_dir(args.testdata)
    langs = languages_in(folder)
    if not langs:
        parser.error(f"no test data in {folder}")
    sample = min(args.sample, args.limit)
    data = load(folder, langs, args.limit)
    if "cascade" not in args.backends:
        args.backends.insert(0, "cascade")

    detectors = {backend: make_detector(backend) for backend in args.backends}
    start = time.perf_counter()
    if "lingua" in args.backends:
        lingua_backend.preload()
    warm = [text for rows in data.values() for _, text, line in rows if line < WARM_UP_LINES]
    for detector in detectors.values():
        detector.detect_batch(warm)
    print(f"models loaded and warmed up in {time.perf_counter() - start:.1f}s", file=sys.stderr)

    results: dict[str, dict[str, Run]] = {}
    for backend, detector in detectors.items():
        limit = sample if backend in ("langdetect", "lingua") else args.limit
        results[backend] = {
            cat: run(detector, [r for r in rows if r[2] < limit]) for cat, rows in data.items()
        }
        print(f"ran {backend}", file=sys.stderr)
    campaign = [g for g in CAMPAIGN if g in langs]
    campaign_runs = {
        backend: {
            cat: run(detectors[backend], [r for r in rows if r[0] in campaign])
            for cat, rows in data.items()
        }
        for backend in ("cascade", "fasttext")
        if backend in detectors
    }

    which = "lingua's full test data" if len(langs) > len(CAMPAIGN) else "the campaign subset"
    print(
        f"\nLanguage detection on {which} in {folder}: {len(langs)} languages, "
        f"{args.limit} texts per language and file (langdetect, lingua: {sample}), "
        f"batches of {BATCH}\n"
    )
    pub = published(folder, langs)
    per_language_table(langs, results, pub, sample)
    print()
    summary_table(results, sample)
    pub_means = {name: [mean(list(pub[name][c].values())) for c in CATEGORIES] for name in pub}
    for name, row in pub_means.items():
        cells = "".join(f"{a:>{w}.2f}" for a, w in zip(row, (10, 8, 8), strict=True))
        counted = len(pub[name]["word-pairs"])
        print(f"{'pub. ' + name:<12}{cells}{mean(row):>8.2f}| ({counted} languages published)")

    print(f"\ntargets ({len(langs)} languages; every threshold the same for all)")
    ok = accuracy_targets(langs, results, pub, sample)
    if "langdetect" in results:
        cas, ld = results["cascade"], results["langdetect"]
        ok &= verdict(
            f"steady state: cascade >= {SPEEDUP_TARGET:.0f}x langdetect (same run)",
            overall_rate(cas) / overall_rate(ld),
            SPEEDUP_TARGET,
            "x",
        )
        print(
            f"        cascade {overall_rate(cas):,.0f} texts/s, langdetect "
            f"{overall_rate(ld):,.0f} texts/s (a third each of sentences, pairs, words)"
        )
    for backend, runs in campaign_runs.items():
        print(
            f"  on the {len(campaign)} campaign languages: {backend} {overall_rate(runs):,.0f} "
            "texts/s (" + ", ".join(f"{c} {runs[c].rate:,.0f}" for c in CATEGORIES) + "), "
            "accuracy " + " / ".join(f"{runs[c].accuracy():.1f}" for c in CATEGORIES)
        )
    if not args.no_cli:
        ok &= cli_figures(data, langs)
    x_agreement({b: d for b, d in detectors.items() if b != "lingua"})
    calibration(data, sample)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
