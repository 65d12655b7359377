"""What the enrich stage hands the ledger: one compact fact per post, in one record per batch.

Internal (``<prefix>.internal.facts``, one partition), not a public contract. A fact holds
everything the ledger's counting needs, computed where it is cheap and parallel (language,
media summary, near-duplicate signature), and the post itself pre-encoded, so the ledger
never decodes a post and builds the EnrichedPost by splicing bytes.

The ledger's state is a function of the facts log alone (see pipeline/ledger): so a batch
also carries how far each raw partition's event time has got (``marks``), and the "end of
input" of ``hashwatch run`` travels as a batch too.
"""

from __future__ import annotations

import msgspec

from schemas.enriched import MediaSummary

POST = 0
DELETION = 1


class Fact(msgspec.Struct, frozen=True, array_like=True):
    kind: int  # POST or DELETION
    uid: str
    version: str  # Post.version_key(): a new version of a known uid is an edit
    partition: int  # raw topic partition and offset: where it came from, and a tie-breaker
    offset: int
    event_ts: float  # created_at, or retrieved_at when created_at is not believable
    time_flag: str | None  # why created_at was not used ("future", "before-platform")
    repost_of: str | None
    author: str
    url: str | None
    lang: str
    confidence: float
    backend: str
    media: MediaSummary | None  # None for a deletion
    media_keys: list[str]  # media reuse keys: "url:<url>" or "key:<media key>"
    media_types: list[str]
    hashtags: list[str]  # normalized, unique
    pairs: list[str]  # co-occurring hashtags, "a + b"
    watch: list[str]  # watchlist terms the post matches
    cluster_key: str | None  # canonical-text key; None when too short to call a copy
    tokens: bytes  # near-duplicate shingle hashes (uint32), sorted
    bands: bytes  # near-duplicate LSH band hashes (uint64)
    record: bytes  # the Post (or PostDeletion) JSON as published on the raw topic


class FactBatch(msgspec.Struct, frozen=True):
    """A processing batch's facts and where event time has got on each raw partition the
    sender reads: the newest event time read there, advanced by wall time while the partition
    is caught up and quiet (``marks``); which partitions are caught up and quiet (``quiet``);
    and which of those never had a post (``empty``); and when it was sent (``sent_at``, the
    sender's clock), so that when everything is quiet event time can move on with the log."""

    worker: str
    sent_at: float = 0.0
    marks: dict[int, float] = {}
    quiet: list[int] = []
    empty: list[int] = []
    facts: list[Fact] = []
    end: bool = False  # end of input (hashwatch run): release everything, close every window


class _Wire(msgspec.Struct, frozen=True):
    """``FactBatch`` as encoded, with its facts already encoded (by the enrich process)."""

    worker: str
    sent_at: float
    marks: dict[int, float]
    quiet: list[int]
    empty: list[int]
    facts: msgspec.Raw
    end: bool


encoder = msgspec.msgpack.Encoder()
decoder = msgspec.msgpack.Decoder(FactBatch)


def encode_facts(facts: list[Fact]) -> bytes:
    """Facts as the ``facts`` field of a batch record (a msgpack array)."""
    return encoder.encode(facts)


def encode_batch(header: FactBatch, facts: bytes) -> bytes:
    """The record of ``header`` with ``facts`` (from ``encode_facts``) spliced in as they are,
    so facts encoded in another process are not decoded and encoded again."""
    h = header
    wire = _Wire(h.worker, h.sent_at, h.marks, h.quiet, h.empty, msgspec.Raw(facts), h.end)
    return encoder.encode(wire)
