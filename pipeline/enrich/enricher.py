"""The enrichment step, free of Faust: validate, deduplicate, detect language, tag media.

It works on a batch of records and a mapping of per-uid state (a Faust table in the worker,
a dict in unit tests), and returns the records to publish. Batching is the point: language
detection runs once per batch and framework costs are paid per batch, not per post.

Partitioning: raw records are keyed by the post's uid, reposts are re-published keyed by
their original's uid, and both topics have the same partition count, so the state of a uid
and every record that reads or writes it meet in the same partition.
"""

from __future__ import annotations

import logging
from collections.abc import MutableMapping, Sequence
from datetime import UTC, datetime
from typing import Any

import msgspec

from pipeline.core.counters import StageCounters
from pipeline.core.hashtags import normalize_hashtag
from pipeline.core.records import InRecord, OutRecord
from pipeline.core.topics import Topics
from pipeline.enrich.clusters import ClusterTracker, MediaReuse
from pipeline.enrich.langid import Detector
from pipeline.enrich.media import summarize
from pipeline.windows.watermarks import Watermarks
from schemas.codec import DecodeError, PostEvent, ValidationError, decode, encode
from schemas.deadletter import DeadLetter
from schemas.enriched import EnrichedPost, Language, MediaSummary
from schemas.post import Hashtag, Post, PostDeletion

log = logging.getLogger(__name__)

# {"seen": bool, "lang": str, "conf": float, "by": str, "media": {...}, "amp": int}
State = dict[str, Any]


class Invalid(ValueError):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


def validate(record: InRecord) -> Post | PostDeletion:
    """Decode against Post v1 (or PostDeletion v1) and normalize what downstream relies on."""
    try:
        event = decode(record.value, PostEvent)
    except ValidationError as exc:
        raise Invalid("schema", str(exc)) from exc
    except DecodeError as exc:
        raise Invalid("invalid-json", str(exc)) from exc
    if record.key is not None and record.key.decode("utf-8", "replace") != event.uid:
        raise Invalid("key-mismatch", f"key {record.key!r} is not the post uid {event.uid!r}")
    if isinstance(event, PostDeletion):
        return event
    post = event
    if post.created_at.tzinfo is None:
        raise Invalid("schema", "created_at has no time zone")
    if post.created_at.utcoffset():
        post = msgspec.structs.replace(post, created_at=post.created_at.astimezone(UTC))
    if any(h.normalized != normalize_hashtag(h.tag) for h in post.hashtags):
        post = msgspec.structs.replace(
            post,
            hashtags=[
                Hashtag(tag=h.tag, normalized=normalize_hashtag(h.tag)) for h in post.hashtags
            ],
        )
    return post


class Enricher:
    def __init__(
        self,
        topics: Topics,
        detector: Detector,
        state: MutableMapping[str, State],
        counters: StageCounters | None = None,
        clusters: ClusterTracker | None = None,
        media_reuse: MediaReuse | None = None,
    ) -> None:
        self.topics = topics
        self.detector = detector
        self.state = state
        self.counters = counters or StageCounters()
        self.clusters = clusters
        self.media_reuse = media_reuse
        self.emitted: list[EnrichedPost] = []
        self.watermarks = Watermarks(idle_s=60.0)

    def process(self, batch: Sequence[InRecord]) -> list[OutRecord]:
        """Records to publish; the batch's EnrichedPosts are also left in ``emitted``."""
        self.emitted = []
        out: list[OutRecord] = []
        originals: list[Post] = []
        reposts: list[Post] = []
        edits: list[Post] = []
        seen_now: dict[str, set[str]] = {}  # uid -> versions seen in this batch
        for record in batch:
            partition = record.source.split("@", 1)[0]
            if record.topic == self.topics.reposts:
                self.counters.reposts_consumed += 1
                repost = decode(record.value, Post)  # validated before it was forwarded
                self.watermarks.observe(partition, repost.created_at.timestamp())
                self.watermarks.arrived(repost.uid)
                reposts.append(repost)
                continue
            self.counters.raw_consumed += 1
            try:
                event = validate(record)
            except Invalid as exc:
                out.append(self._dead_letter(record, exc))
                continue
            if isinstance(event, PostDeletion):
                # Evidence, not a post: passed on to the store, which marks the post deleted.
                self.counters.deletions += 1
                self.counters.enriched_sent += 1
                out.append(OutRecord(self.topics.enriched, record.key, record.value))
                continue
            post = event
            self.watermarks.observe(partition, post.created_at.timestamp())
            version = post.version_key()
            known = self.state.get(post.uid) or {}
            versions = seen_now.get(post.uid) or set(known.get("v") or ())
            if version in versions or (known.get("seen") and "v" not in known):
                self.counters.duplicates += 1
                continue
            if post.uid in seen_now or known.get("seen"):
                # The same post with other content: an edit, kept as a version, never recounted.
                seen_now.setdefault(post.uid, versions).add(version)
                self.state[post.uid] = {**known, "v": sorted(seen_now[post.uid])}
                edits.append(post)
                continue
            seen_now[post.uid] = {version}
            original = post.reference("retweet")
            if original is None:
                originals.append(post)
                continue
            # A repost: remember it is seen here, enrich it where its original's state lives.
            self.state[post.uid] = {**known, "seen": True, "v": [version]}
            self.counters.reposts_forwarded += 1
            self.watermarks.in_flight(post.uid, post.created_at.timestamp())
            out.append(OutRecord(self.topics.reposts, original.encode(), encode(post)))

        languages = self._detect([*originals, *edits], reposts)
        now = datetime.now(UTC)
        for post in originals:
            out.append(self._enrich_original(post, languages[post.uid], now))
        for post in edits:
            out.append(self._enrich_edit(post, languages[post.uid], now))
        for post in reposts:
            out.append(self._enrich_repost(post, languages, now))
        return out

    def _detect(self, originals: list[Post], reposts: list[Post]) -> dict[str, Language]:
        """One detector call per batch, for originals and for reposts of unknown originals."""
        texts: dict[str, str] = {p.uid: p.text for p in originals}
        for post in reposts:
            orig = post.reference("retweet")
            assert orig is not None
            known = self.state.get(orig) or {}
            if "lang" not in known and orig not in texts:
                texts[orig] = post.text  # a repost carries its original's full text
        if not texts:
            return {}
        uids = list(texts)
        detections = self.detector.detect_batch([texts[u] for u in uids])
        return {
            uid: Language(code=d.lang, confidence=round(d.confidence, 4), backend=d.backend)
            for uid, d in zip(uids, detections, strict=True)
        }

    def _enrich_original(self, post: Post, language: Language, now: datetime) -> OutRecord:
        known = self.state.get(post.uid) or {}
        if "lang" in known:  # its reposts arrived first and already detected it
            language = Language(code=known["lang"], confidence=known["conf"], backend=known["by"])
        reused = self.media_reuse.observe(post) if self.media_reuse else 0
        media = summarize(post.media, reused)
        cluster = self.clusters.observe(post) if self.clusters else None
        amplification = int(known.get("amp", 0))
        self.state[post.uid] = {
            "seen": True,
            "v": [post.version_key()],
            "lang": language.code,
            "conf": language.confidence,
            "by": language.backend,
            "media": msgspec.to_builtins(media),
            "amp": amplification,
        }
        self.counters.originals += 1
        return self._publish(
            EnrichedPost(
                post=post,
                language=language,
                media=media,
                amplification=amplification,
                cluster=cluster,
                processed_at=now,
            )
        )

    def _enrich_edit(self, post: Post, language: Language, now: datetime) -> OutRecord:
        """A later version: its own language and media, the post's amplification; it is stored
        as a version and published, but counted nowhere (not in windows, not in clusters)."""
        known = self.state.get(post.uid) or {}
        self.counters.edits += 1
        self.counters.enriched_sent += 1
        enriched = EnrichedPost(
            post=post,
            language=language,
            media=summarize(post.media),
            repost_of=post.reference("retweet"),
            amplification=int(known.get("amp", 0)),
            edit=True,
            processed_at=now,
        )
        return OutRecord(self.topics.enriched, post.uid.encode(), encode(enriched))

    def _enrich_repost(
        self, post: Post, languages: dict[str, Language], now: datetime
    ) -> OutRecord:
        orig = post.reference("retweet")
        assert orig is not None
        known = dict(self.state.get(orig) or {})
        if "lang" in known:
            language = Language(
                code=known["lang"], confidence=known["conf"], backend="inherited", inherited=True
            )
            media = msgspec.convert(known["media"], MediaSummary)
        else:  # the original is not (yet) in the collection: learn it from the repost
            language = languages[orig]
            media = summarize(post.media)
            known.update(
                lang=language.code,
                conf=language.confidence,
                by=language.backend,
                media=msgspec.to_builtins(media),
            )
            language = msgspec.structs.replace(language, backend="inherited", inherited=True)
        known["amp"] = int(known.get("amp", 0)) + 1
        known.setdefault("seen", False)
        self.state[orig] = known
        self.counters.reposts += 1
        return self._publish(
            EnrichedPost(
                post=post,
                language=language,
                media=media,
                repost_of=orig,
                amplification=known["amp"],
                processed_at=now,
            )
        )

    def _publish(self, enriched: EnrichedPost) -> OutRecord:
        self.emitted.append(enriched)
        self.counters.by_language[enriched.language.code] += 1
        self.counters.by_platform[enriched.post.platform] += 1
        self.counters.by_lang_backend[enriched.language.backend] += 1
        for item in enriched.post.media:
            self.counters.by_media_type[item.type] += 1
        self.counters.enriched_sent += 1
        return OutRecord(self.topics.enriched, enriched.post.uid.encode(), encode(enriched))

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
