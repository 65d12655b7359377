"""Gap v1: a window in which a collector was not collecting, and what backfill recovered.

Published on ``hashwatch.gaps`` (keyed by ``id``) when the outage opens, when it closes and
when its backfill is done, so a gap is never lost while the store is down.
"""

from __future__ import annotations

from datetime import datetime

import msgspec

from schemas.numbers import Count


class Gap(msgspec.Struct, frozen=True, kw_only=True, tag="gap/1", tag_field="schema"):
    id: str  # deterministic: collector + start, so re-recording a gap updates it
    collector: str
    start: datetime
    end: datetime | None = None  # None while the outage is still open
    reason: str
    recovered: Count = 0  # posts backfilled for this window
    source: str | None = None  # which stream: an instance and tag, a Jetstream host
    collection: str | None = None  # the collection run that saw the outage
