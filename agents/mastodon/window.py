"""What a backfill asks the tag timeline for: status ids between two bounds.

Mastodon's status ids are "snowflakes": the creation time in milliseconds, shifted 16 bits,
plus a sequence. A server gives a *federated* status an id from the time its author posted it
(not from when it arrived), so a post delivered late carries an id older than posts already
streamed. A gap's window therefore reaches back ``federation_lag`` before the gap's start
(when ids are snowflakes) — posts already published there are published again and dropped as
duplicates by the enrich stage — and forward at least to the gap's end, whatever id the first
post after the reconnect happened to carry. With ``federation_lag=0`` and local posts, the
window is exactly (last id before the gap, first id after it).

Without a cursor (``--backfill``, or an outage before the first post) the window is bounded by
the posts' creation times instead, which works whatever ids a server uses (Pleroma's flake
ids, GoToSocial's ULIDs get their cursors as they are).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from agents.live import BackfillJob

_SNOWFLAKE_FLOOR = 10**12  # milliseconds since 1970 of September 2001: older ids are not times


def is_snowflake(ident: str | None) -> bool:
    return ident is not None and ident.isdigit() and int(ident) >> 16 >= _SNOWFLAKE_FLOOR


def snowflake_at(when: datetime) -> str:
    """The smallest snowflake id a status created at ``when`` can have."""
    return str(int(when.timestamp() * 1000) << 16)


def older(a: str, b: str) -> bool:
    """Whether id ``a`` is before id ``b`` (numeric ids by value, others as strings)."""
    if a.isdigit() and b.isdigit():
        return int(a) < int(b)
    return a < b


@dataclass(frozen=True, slots=True)
class Window:
    since_id: str | None  # exclusive lower bound
    max_id: str | None  # exclusive upper bound
    start_time: datetime | None  # no post created before this (history without a cursor)


def backfill_window(job: BackfillJob, federation_lag: timedelta) -> Window:
    """The ids (and times) a backfill job asks for; see the module docstring."""
    gap, since, until, start = job.gap, job.since, job.until, job.start_time
    if gap is not None:
        if since is not None and is_snowflake(since) and federation_lag:
            floor = snowflake_at(gap.start - federation_lag)
            since = floor if older(floor, since) else since
        elif since is None and start is not None and federation_lag:
            start = start - federation_lag
        if until is not None and gap.end is not None and is_snowflake(until):
            ceiling = snowflake_at(gap.end)
            until = ceiling if older(until, ceiling) else until
    return Window(since_id=since, max_id=until, start_time=start)
