"""py-spy over a bench's timed window only (not its set-up), and the top frames of a profile.

.venv/bin/python bench/profiling.py PROFILE.txt [--top 20]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path


class Profile:
    """``py-spy record`` attached to this process (every thread, Python frames only) from
    ``start`` to ``stop``, written as collapsed stacks to ``path``; does nothing without a path."""

    def __init__(self, path: Path | None, rate: int = 200) -> None:
        self.path, self.rate = path, rate
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
        if self.path is None or self._proc is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._proc = subprocess.Popen(
            [spy, "record", "--pid", str(os.getpid()), "--rate", str(self.rate),
             "--format", "raw", "--output", str(self.path)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        time.sleep(0.3)  # attached before the window opens

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=30)


def _frame(text: str) -> str:
    text = re.sub(r"\S*/(site-packages|python3\.\d+|wt-bench|hashwatch)/", "", text)
    return re.sub(r":\d+\)", ")", text)


def top_frames(path: Path, n: int = 20) -> str:
    """The frames most samples were in (self) and under (inclusive), as percentages."""
    own: Counter[str] = Counter()
    under: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [_frame(f) for f in stack.split(";")[1:]]  # the first is the thread
        total += int(count)
        if frames:
            own[frames[-1]] += int(count)
            for f in set(frames):
                under[f] += int(count)
    lines = [f"{path.name}: {total} samples"]
    lines += ["  self:"] + [f"    {100 * c / total:5.1f}%  {f}" for f, c in own.most_common(n)]
    lines += ["  inclusive:"]
    lines += [f"    {100 * c / total:5.1f}%  {f}" for f, c in under.most_common(n)]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("profiles", nargs="+", type=Path)
    parser.add_argument("--top", type=int, default=20)
    args = parser.parse_args()
    for path in args.profiles:
        print(top_frames(path, args.top))


if __name__ == "__main__":
    main()
