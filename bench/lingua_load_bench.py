"""How long each language's lingua high-accuracy models take to load, one language at a time.

A worker loads the models its campaign's scripts may need while it joins its group and loads
the rest when a post first needs them, stalling that batch (``lingua_backend.preload_order``).
A language that loads in a few milliseconds costs nothing when left to first need, so the
preload takes those last (``lingua_backend.CHEAP_TO_LOAD``): this prints the times that set
comes from, and whether it still matches the installed lingua.

    .venv/bin/python bench/lingua_load_bench.py [--rounds 2]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.enrich.langid import lingua_backend

CHILD = """
import sys, time
from pipeline.enrich.langid import lingua_backend as lb
lb.preload_high_accuracy(["en", "fr"])  # a loaded partner for each one-language load
for code in sorted(lb.LANGUAGES - {"en", "fr"}):
    began = time.perf_counter()
    lb.preload_high_accuracy([code])
    print(code, time.perf_counter() - began)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rounds", type=int, default=2, help="fresh processes to take the median of"
    )
    args = parser.parse_args()
    times: dict[str, list[float]] = {}
    for _ in range(args.rounds):
        out = subprocess.run(
            [sys.executable, "-c", CHILD], capture_output=True, text=True, check=True,
            cwd=Path(__file__).resolve().parents[1],
        ).stdout  # fmt: skip
        for line in out.splitlines():
            code, seconds = line.split()
            times.setdefault(code, []).append(float(seconds))
    median = {c: statistics.median(t) for c, t in times.items()}
    print(f"lingua high-accuracy load, one language at a time (median of {args.rounds}):")
    print(
        "  "
        + " ".join(f"{c} {s * 1000:.0f}" for c, s in sorted(median.items(), key=lambda x: -x[1]))
    )
    bar = lingua_backend.CHEAP_LOAD_S
    cheap = {c for c, s in median.items() if s < bar}
    total = sum(median.values())
    print(f"  total {total:.2f} s; under {bar * 1000:.0f} ms: {' '.join(sorted(cheap))}")
    # Times near the bar move between runs: only a clear miss (2x either way) is a mismatch.
    listed = lingua_backend.CHEAP_TO_LOAD
    slow = sorted(c for c in listed if median.get(c, 0.0) > 2 * bar)
    fast = sorted(c for c, s in median.items() if s < bar / 2 and c not in listed)
    if slow or fast:
        print(f"  CHEAP_TO_LOAD is out of date: listed but slow {slow}, fast but not listed {fast}")
    else:
        print(
            "  CHEAP_TO_LOAD matches (no listed language over 2x the bar, none unlisted under half)"
        )


if __name__ == "__main__":
    main()
