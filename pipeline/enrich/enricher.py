"""The enrich stage, free of Faust: validate, detect language, tag media, sign for near-dups.

It needs no memory of other posts, so it runs on every raw partition in parallel (any number
of workers) and keeps no state that matters: what is counted once, and in which order, is
the ledger's job (pipeline/ledger). A batch of raw records becomes a batch of facts; language
detection runs once per batch, and what is the same for the same text (its language, its
copy-paste key and signature) is remembered in small caches, since campaigns repeat texts.

A post whose ``created_at`` cannot be believed (before its platform existed, or later than
the collector's clock allows) keeps it, is flagged, and is placed in event time by when it
was retrieved, so no single post can close the windows of a campaign.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from pipeline.core.counters import StageCounters
from pipeline.core.hashtags import cooccurring_pairs
from pipeline.core.records import InRecord, OutRecord
from pipeline.core.topics import Topics
from pipeline.enrich.facts import DELETION, POST, Fact
from pipeline.enrich.langid import Detection, Detector
from pipeline.enrich.media import summarize
from pipeline.enrich.neardup import SIGNER, Signer, keyed_canonical
from pipeline.enrich.validate import PLATFORM_START, Invalid, validate
from schemas.codec import encode
from schemas.deadletter import DeadLetter
from schemas.post import Post, PostDeletion

log = logging.getLogger(__name__)

CACHE_SIZE = 50_000  # texts whose language and signature are remembered


def event_time(
    platform: str, created: datetime, retrieved: datetime, max_skew: timedelta
) -> tuple[float, str | None]:
    """``(event time, flag)``: ``created`` if believable, else ``retrieved`` and why not."""
    if created < PLATFORM_START.get(platform, PLATFORM_START["x"]):
        return retrieved.timestamp(), "before-platform"
    if created > retrieved + max_skew:
        return retrieved.timestamp(), "future"
    return created.timestamp(), None


@dataclass(slots=True)
class _Signed:
    key: str | None
    tokens: bytes = b""
    bands: bytes = b""


class _Lru(OrderedDict[str, object]):
    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def remember(self, key: str, value: object) -> None:
        self[key] = value
        if len(self) > self.size:
            self.popitem(last=False)


@dataclass
class EnrichedBatch:
    facts: list[Fact] = field(default_factory=list)
    out: list[OutRecord] = field(default_factory=list)  # dead letters
    marks: dict[int, float] = field(default_factory=dict)  # partition -> newest event time


class Enricher:
    def __init__(
        self,
        topics: Topics,
        detector: Detector,
        *,
        watch: Sequence[str] = (),
        counters: StageCounters | None = None,
        max_clock_skew_s: float = 600.0,
        signer: Signer = SIGNER,
    ) -> None:
        self.topics = topics
        self.detector = detector
        self.watch = [w.casefold() for w in watch]
        self.counters = counters or StageCounters()
        self.max_skew = timedelta(seconds=max_clock_skew_s)
        self.signer = signer
        self._languages = _Lru(CACHE_SIZE)
        self._signatures = _Lru(CACHE_SIZE)

    def process(self, batch: Sequence[InRecord]) -> EnrichedBatch:
        result = EnrichedBatch()
        latest = datetime.now(UTC) + self.max_skew  # the latest believable retrieved_at
        posts: list[tuple[InRecord, Post, bool]] = []
        for record in batch:
            self.counters.raw_consumed += 1
            try:
                event, changed = validate(record, latest)
            except Invalid as exc:
                result.out.append(self._dead_letter(record, exc))
                continue
            if isinstance(event, PostDeletion):
                result.facts.append(self._deletion(record, event, changed, result))
            else:
                posts.append((record, event, changed))
        languages = self._detect([post.text for _, post, _ in posts])
        for (record, post, changed), language in zip(posts, languages, strict=True):
            result.facts.append(self._fact(record, post, changed, language, result))
        self.counters.facts_sent += len(result.facts)
        return result

    def _detect(self, texts: list[str]) -> list[Detection]:
        """One detector call per batch, for the texts not seen lately."""
        wanted = list(dict.fromkeys(t for t in texts if t not in self._languages))
        if wanted:
            for text, found in zip(wanted, self.detector.detect_batch(wanted), strict=True):
                self._languages.remember(text, found)
        return [self._languages[t] for t in texts]  # type: ignore[misc]

    def _signed(self, text: str) -> _Signed:
        cached = self._signatures.get(text)
        if cached is None:
            key, canonical = keyed_canonical(text)
            cached = _Signed(key) if key is None else _Signed(key, *self.signer.sign(canonical))
            self._signatures.remember(text, cached)
        return cached  # type: ignore[return-value]

    def _fact(
        self,
        record: InRecord,
        post: Post,
        changed: bool,
        language: Detection,
        result: EnrichedBatch,
    ) -> Fact:
        ts, flag = event_time(
            post.platform, post.created_at, post.provenance.retrieved_at, self.max_skew
        )
        _mark(result, record.partition, ts)
        repost_of = post.reference("retweet")
        signed = self._signed(post.text) if repost_of is None else _Signed(None)
        tags = [h.tag for h in post.hashtags]
        folded = f"{post.text.casefold()} @{(post.author.handle or '').casefold()}"
        return Fact(
            kind=POST,
            uid=post.uid,
            version=post.version_key(),
            partition=record.partition,
            offset=record.offset,
            event_ts=ts,
            time_flag=flag,
            repost_of=repost_of,
            author=post.author.id,
            url=post.url,
            lang=language.lang,
            confidence=round(language.confidence, 4),
            backend=language.backend,
            media=summarize(post.media),
            media_keys=[f"url:{m.url}" if m.url else f"key:{m.key}" for m in post.media],
            media_types=[m.type for m in post.media],
            hashtags=sorted({h.normalized for h in post.hashtags if h.normalized}),
            pairs=[f"{a} + {b}" for a, b in cooccurring_pairs(tags)],
            watch=[term for term in self.watch if term in folded],
            cluster_key=signed.key,
            tokens=signed.tokens,
            bands=signed.bands,
            record=encode(post) if changed else record.value,
        )

    def _deletion(
        self, record: InRecord, gone: PostDeletion, changed: bool, result: EnrichedBatch
    ) -> Fact:
        ts, flag = event_time(
            gone.platform, gone.deleted_at, gone.provenance.retrieved_at, self.max_skew
        )
        _mark(result, record.partition, ts)
        return Fact(
            kind=DELETION,
            uid=gone.uid,
            version="",
            partition=record.partition,
            offset=record.offset,
            event_ts=ts,
            time_flag=flag,
            repost_of=None,
            author="",
            url=None,
            lang="und",
            confidence=0.0,
            backend="",
            media=None,
            media_keys=[],
            media_types=[],
            hashtags=[],
            pairs=[],
            watch=[],
            cluster_key=None,
            tokens=b"",
            bands=b"",
            record=encode(gone) if changed else record.value,
        )

    def _dead_letter(self, record: InRecord, exc: Invalid) -> OutRecord:
        self.counters.dead_lettered[exc.reason] += 1
        key = record.key.decode("utf-8", "replace") if record.key else None
        log.warning("dead-lettered %s at %s: %s", exc.reason, record.source, exc)
        letter = DeadLetter(
            reason=exc.reason,
            detail=str(exc)[:2000],
            stage="validate",
            source=record.source,
            key=key,
            original=record.value,
            at=datetime.now(UTC),
        )
        return OutRecord(self.topics.deadletter, record.key, encode(letter))


def _mark(result: EnrichedBatch, partition: int, ts: float) -> None:
    if ts > result.marks.get(partition, float("-inf")):
        result.marks[partition] = ts
