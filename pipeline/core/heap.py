"""Garbage collection for a long-running worker: what start-up built is never garbage.

A full collection walks every tracked object. In a worker those are mostly what start-up made
(modules, Faust's and aiokafka's machinery, settings) and the ledger's state, and with
CPython's defaults a full pass stalled the event loop for up to 67 ms a few times a
minute — the tail of raw → enriched latency (``bench/latency_bench.py``, fastText, 1,000
posts/s: p99 270 ms with the defaults, 164–181 ms with ``settle``).
"""

from __future__ import annotations

import gc

# Young collections every 20,000 net allocations instead of 700, full ones after 1,000 of the
# middle generation's: at 1,000 posts/s that is every few minutes, which still frees cycles.
THRESHOLDS = (20_000, 50, 1_000)


def settle() -> tuple[int, int, int]:
    """Call once start-up is done: move what exists now out of the collector's sight
    (``gc.freeze``) and collect less often. Returns the thresholds to give ``unsettle``."""
    before = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
    return before


def unsettle(thresholds: tuple[int, int, int]) -> None:
    """At stop (a process that runs more than one session, as the tests do): all of it can be
    collected again."""
    gc.unfreeze()
    gc.set_threshold(*thresholds)
