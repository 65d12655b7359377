"""The campaign ledger: every post counted once, in event-time order, the same way every time.

The enrich stage (one Faust agent per raw partition, on any number of workers) computes what
needs no memory of other posts; the ledger (one partition, so one place sees everything)
does what does: which posts are new, edits or duplicates; copy-paste clusters (near
duplicates need one index of every text); media reuse; reposts per original; event-time
windows and their alerts. It releases facts in event-time order (``EventTimeOrder``), so each
count is a function of the set of posts, not of which worker read what first, and it keeps no
state that the facts log does not determine: a restarted ledger rebuilds itself by reading
the log again up to where it stopped (``replaying``), with nothing published twice.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import UTC, datetime

import msgspec

from pipeline.alerts.config import AlertConfig
from pipeline.core.counters import StageCounters
from pipeline.core.records import OutRecord
from pipeline.core.settings import Settings
from pipeline.core.topics import Topics
from pipeline.enrich.facts import DELETION, Fact, FactBatch
from pipeline.ledger.counts import Amplification, Clusters, MediaReuse
from pipeline.ledger.order import EventTimeOrder
from pipeline.ledger.seen import Seen, SeenPosts
from pipeline.ledger.wire import enriched_bytes
from pipeline.windows.window import Counted
from pipeline.windows.windows import Windows
from schemas.codec import encode
from schemas.deadletter import too_large
from schemas.enriched import Cluster, Language, MediaSummary

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LedgerConfig:
    partitions: int  # of the raw topic: every one holds the watermark
    window_s: float = 60.0  # metrics windows
    grace_s: float = 120.0
    state_window_s: float = 6 * 3600.0  # clusters, media reuse, reposts forget after this
    dedupe_capacity: int = 20_000_000  # posts remembered so each counts once (16 B each)
    max_record_bytes: int = 1_000_000

    @classmethod
    def of(cls, settings: Settings) -> LedgerConfig:
        return cls(
            partitions=settings.partitions,
            window_s=settings.metrics_window_s,
            grace_s=settings.metrics_grace_s,
            state_window_s=settings.cluster_window_s,
            dedupe_capacity=settings.dedupe_capacity,
            max_record_bytes=settings.max_record_bytes,
        )


class Ledger:
    def __init__(
        self,
        topics: Topics,
        config: LedgerConfig,
        alerts: AlertConfig,
        counters: StageCounters | None = None,
    ) -> None:
        self.topics = topics
        self.config = config
        self.counters = counters or StageCounters()
        self.order = EventTimeOrder(config.partitions)
        self.seen = SeenPosts(config.dedupe_capacity)
        self.clusters = Clusters(config.state_window_s)
        self.media = MediaReuse(config.state_window_s)
        self.amplification = Amplification(config.state_window_s)
        self.windows = Windows(config.window_s, config.grace_s, alerts)
        self.cluster_alert = alerts.cluster_size
        self.position = 0  # offset of the next fact batch expected in the facts log

    def add(self, batch: FactBatch, *, replaying: bool = False) -> list[OutRecord]:
        """Take one batch of the facts log; what to publish (nothing while ``replaying``)."""
        late = self.order.late
        self.order.add(batch)
        if self.order.late > late and not replaying:
            # Expected in a live campaign (a post far out of order in its partition, a backfill):
            # counted, not logged per batch; a steady rise is worth a look (README: monitoring).
            self.counters.out_of_order += self.order.late - late
            log.debug(
                "%d facts arrived after the watermark had passed them (from %s)",
                self.order.late - late,
                batch.worker,
            )
        out: list[OutRecord] = []
        count = not replaying
        if count:
            self.counters.facts_consumed += len(batch.facts)
        now = datetime.now(UTC)
        for fact in self.order.release(everything=batch.end):
            out.extend(self._release(fact, now, count))
        watermark = math.inf if batch.end else self.order.released
        metrics, alerts = self.windows.close(watermark, everything=batch.end)
        for m in metrics:
            key = m.window_start.isoformat().encode()
            out.append(OutRecord(self.topics.metrics, key, encode(m)))
        for a in alerts:
            out.append(OutRecord(self.topics.alerts, a.id.encode(), encode(a)))
        if watermark != math.inf:
            self._expire(watermark)
        if count:
            self.counters.metrics_sent += len(metrics)
            self.counters.alerts_sent += len(alerts)
            self.counters.late_dropped = self.windows.late_dropped
            self.counters.ledger_pending = len(self.order)
            self.counters.ends += int(batch.end)
        return [] if replaying else out

    def _release(self, fact: Fact, now: datetime, count: bool) -> list[OutRecord]:
        if fact.kind == DELETION:  # evidence, not a post: the store marks the post deleted
            if count:
                self.counters.deletions += 1
                self.counters.enriched_sent += 1
            return [OutRecord(self.topics.enriched, fact.uid.encode(), fact.record)]
        verdict = self.seen.check(fact.uid, fact.version, fact.event_ts)
        if verdict is Seen.DUPLICATE:
            if count:
                self.counters.duplicates += 1
            return []
        language = Language(code=fact.lang, confidence=fact.confidence, backend=fact.backend)
        media = fact.media
        assert media is not None
        if verdict is Seen.EDIT:  # kept as a version of its post; counted nowhere
            if count:
                self.counters.edits += 1
            return self._publish(fact, language, media, 0, None, True, now, count)
        cluster: Cluster | None = None
        crossed = False
        if fact.repost_of is None:
            amplification = self.amplification.original(fact, language, media)
            media = msgspec.structs.replace(media, reused=self.media.observe(fact))
            resolved = self.clusters.observe(fact)
            if resolved is not None:
                cluster = Cluster(id=resolved[0], size=resolved[1])
                crossed = resolved[1] == self.cluster_alert
        else:
            amplification, original = self.amplification.repost(fact)
            if original is not None:  # a repost shows its original's language and media
                language, media = original.language, original.media
            language = Language(
                code=language.code,
                confidence=language.confidence,
                backend="inherited",
                inherited=True,
            )
        self.windows.add(
            fact.event_ts,
            Counted(
                uid=fact.uid,
                url=fact.url,
                author=fact.author,
                lang=language.code,
                media_types=fact.media_types,
                hashtags=fact.hashtags,
                pairs=fact.pairs,
                watch=fact.watch,
                repost_of=fact.repost_of,
                amplification=amplification,
                cluster=cluster.id if cluster else None,
                cluster_size=cluster.size if cluster else 0,
                cluster_alert=crossed,
            ),
        )
        if count:
            c = self.counters
            c.reposts += fact.repost_of is not None
            c.originals += fact.repost_of is None
            c.by_language[language.code] += 1
            c.by_lang_backend[language.backend] += 1
            c.by_platform[fact.uid.split(":", 1)[0]] += 1
            for kind in fact.media_types:
                c.by_media_type[kind] += 1
        return self._publish(fact, language, media, amplification, cluster, False, now, count)

    def _publish(
        self,
        fact: Fact,
        language: Language,
        media: MediaSummary,
        amplification: int,
        cluster: Cluster | None,
        edit: bool,
        now: datetime,
        count: bool,
    ) -> list[OutRecord]:
        value = enriched_bytes(
            fact.record,
            language=language,
            media=media,
            repost_of=fact.repost_of,
            amplification=amplification,
            cluster=cluster,
            edit=edit,
            time_flag=fact.time_flag,
            processed_at=now,
        )
        if len(value) > self.config.max_record_bytes:
            if count:
                self.counters.dead_lettered["too-large"] += 1
            return [self._too_large(fact, value)]
        if count:
            self.counters.enriched_sent += 1
        return [OutRecord(self.topics.enriched, fact.uid.encode(), value)]

    def _too_large(self, fact: Fact, value: bytes) -> OutRecord:
        log.warning("dead-lettered %s: enriched record of %d bytes", fact.uid, len(value))
        letter = too_large(
            value, self.config.max_record_bytes, what="enriched record", stage="ledger",
            source=f"{self.topics.raw}/{fact.partition}@{fact.offset}", key=fact.uid,
        )  # fmt: skip
        return OutRecord(self.topics.deadletter, fact.uid.encode(), encode(letter))

    def _expire(self, watermark: float) -> None:
        self.seen.trim()
        self.clusters.expire(watermark)
        self.media.expire(watermark)
        self.amplification.expire(watermark)
