"""Bytes per remembered id of the ledger's state: dedupe, clusters, media reuse, reposts, and
the near-duplicate index, each fed ``--ids`` distinct ids (tracemalloc: what the structure
keeps, keys included, after the ids that made them are gone). The structures merge their
recent ids into arrays every 20-50 thousand ids; a count just short of a merge costs a few
bytes an id more (1,010,000 ids: 18.6 B dedupe, 25.4 B the counters).

    .venv/bin/python bench/state_memory_bench.py [--ids 1000000]
"""

from __future__ import annotations

import argparse
import gc
import random
import tracemalloc
from collections.abc import Callable

from pipeline.enrich.neardup import SIGNER, NearDupIndex, keyed_canonical
from pipeline.ledger.counts import Amplification, Clusters, MediaReuse
from pipeline.ledger.seen import SeenPosts

GOAL_B = 100
T0 = 1_767_225_600.0  # 2026-01-01: one id a millisecond from there, inside one window


def per_id(build: Callable[[], object], feed: Callable[[object, int], None], ids: int) -> float:
    """Bytes the structure holds per id after ``ids`` distinct ids."""
    gc.collect()
    tracemalloc.start()
    state = build()
    for i in range(ids):
        feed(state, i)
    gc.collect()
    held, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del state
    return held / ids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ids", type=int, default=1_000_000)
    args = parser.parse_args()
    n = args.ids
    window = 6 * 3600.0

    def seen(s: object, i: int) -> None:
        assert isinstance(s, SeenPosts)
        s.check(f"x:{1_900_000_000_000_000_000 + i}", "2026-01-01T00:00:00+00:00", T0 + i / 1000)

    def cluster(s: object, i: int) -> None:
        assert isinstance(s, Clusters)
        s.sizes.bump(f"{i * 0x9E3779B97F4A7C15 & (1 << 64) - 1:016x}", T0 + i / 1000)

    def media(s: object, i: int) -> None:
        assert isinstance(s, MediaReuse)
        s.seen.bump(f"url:https://pbs.twimg.com/media/F{i:014d}.jpg", T0 + i / 1000)

    def reposts(s: object, i: int) -> None:
        assert isinstance(s, Amplification)
        s.reposts.bump(f"x:{1_900_000_000_000_000_000 + i}", T0 + i / 1000)

    cap = NearDupIndex().max_entries
    rng = random.Random(5)
    words = [f"w{n}" for n in range(20_000)]
    texts = [" ".join(rng.choices(words, k=12)) for _ in range(cap)]  # distinct, unrelated
    signed = []
    for text in texts:
        key, canonical = keyed_canonical(text)
        assert key is not None
        signed.append((key, *SIGNER.sign(canonical)))

    def neardup(s: object, i: int) -> None:
        assert isinstance(s, NearDupIndex)
        key, tokens, bands = signed[i]
        s.resolve_signed(key, tokens, bands, T0 + i / 1000)

    rows = [
        ("dedupe (SeenPosts)", lambda: SeenPosts(), seen, n),
        ("clusters (sizes per cluster)", lambda: Clusters(window), cluster, n),
        ("media reuse (per media URL)", lambda: MediaReuse(window), media, n),
        ("reposts per original", lambda: Amplification(window), reposts, n),
        (f"near-dup LSH index (capped at {cap:,})", lambda: NearDupIndex(), neardup, cap),
    ]
    print(f"state memory, bytes per remembered id (goal <= {GOAL_B} B):")
    for name, build, feed, count in rows:
        b = per_id(build, feed, count)
        verdict = "met" if b <= GOAL_B else "MISSED"
        print(f"  {name:40} {count:>9,} ids  {b:7.1f} B/id  {verdict}", flush=True)


if __name__ == "__main__":
    main()
