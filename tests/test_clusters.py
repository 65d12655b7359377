"""Copy-paste clusters and media reuse inside the enrichment step."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

from agents.synth.text import copy_variant, original_text
from pipeline.core.records import InRecord
from pipeline.core.topics import Topics
from pipeline.enrich.clusters import ClusterTracker, MediaReuse
from pipeline.enrich.enricher import Enricher
from pipeline.testing import ScriptedDetector
from schemas.codec import decode, encode
from schemas.enriched import EnrichedPost
from schemas.post import Media, Post
from schemas.testing import post

T = Topics("c")
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def run(e: Enricher, posts: list[Post]) -> list[EnrichedPost]:
    out = e.process([InRecord(T.raw, p.uid.encode(), encode(p), "t") for p in posts])
    return [decode(o.value, EnrichedPost) for o in out if o.topic == T.enriched]


def enricher(tables: dict[str, dict[str, Any]], window: float = 3600.0) -> Enricher:
    return Enricher(
        T,
        ScriptedDetector(),
        tables.setdefault("state", {}),
        clusters=ClusterTracker(tables.setdefault("clusters", {}), window),
        media_reuse=MediaReuse(tables.setdefault("media", {}), window),
    )


def test_copies_join_one_cluster_and_unrelated_posts_do_not() -> None:
    rng = random.Random(3)
    template = original_text(rng, "ar")
    copies = [copy_variant(template, rng) for _ in range(5)]
    other = original_text(rng, "ar")
    results = run(
        enricher({}), [post(i, t, at=i) for i, t in enumerate([template, *copies, other])]
    )
    ids = [r.cluster.id if r.cluster else None for r in results]
    assert len(set(ids[:6])) == 1 and ids[6] != ids[0]
    assert [r.cluster.size for r in results[:6] if r.cluster] == [1, 2, 3, 4, 5, 6]


def test_clusters_survive_a_new_worker_and_expire_after_the_window() -> None:
    rng = random.Random(5)
    template = original_text(rng, "en")
    tables: dict[str, dict[str, Any]] = {}
    run(enricher(tables), [post(1, template, at=0), post(2, template, at=10)])
    [again] = run(enricher(tables), [post(3, template, at=20)])  # state from the table only
    assert again.cluster is not None and again.cluster.size == 3
    tracker = ClusterTracker(tables["clusters"], window_s=3600)
    tracker.observe(post(4, original_text(rng, "en"), at=10_000))
    assert tracker.expire() == 1 and again.cluster.id not in tables["clusters"]


def test_short_texts_are_not_clustered() -> None:
    [a, b] = run(enricher({}), [post(1, "#أين_المعتقلين"), post(2, "#أين_المعتقلين")])
    assert a.cluster is None and b.cluster is None


def test_media_reuse_counts_earlier_posts_with_the_same_media() -> None:
    photo = Media(key="3_9", type="photo", url="https://pbs.example/a.jpg")
    same_url = Media(key="3_10", type="photo", url="https://pbs.example/a.jpg")
    results = run(
        enricher({}),
        [
            post(1, "one", media=[photo]),
            post(2, "two", media=[photo]),
            post(3, "three", media=[same_url]),
            post(4, "four"),
        ],
    )
    assert [r.media.reused for r in results] == [0, 1, 2, 0]
