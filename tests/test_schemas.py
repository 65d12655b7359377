"""Every record on every topic validates against its published JSON Schema."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import msgspec
import orjson
import pytest

from agents.replay import ReplayCollector
from agents.testing import ListPublisher
from pipeline.testing import InMemoryPipeline
from schemas.alert import Alert
from schemas.codec import RECORD_TYPES, encode
from schemas.collection import Collection
from schemas.gap import Gap
from schemas.generate import JSON_DIR, render
from schemas.metrics import Count, MetricsWindow
from schemas.post import PostDeletion
from schemas.testing import PROVENANCE

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def validator(name: str) -> jsonschema.protocols.Validator:
    schema = orjson.loads((JSON_DIR / f"{name}.json").read_bytes())
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


@pytest.mark.parametrize("name", sorted(RECORD_TYPES))
def test_committed_schema_matches_the_records(name: str) -> None:
    """The JSON Schema files are the contract: they must not drift from the code."""
    committed = (JSON_DIR / f"{name}.json").read_bytes()
    assert committed == render(name, RECORD_TYPES[name]), "run: python -m schemas.generate"


def _records(x_data: Path) -> dict[str, list[Any]]:
    publisher = ListPublisher()
    files = sorted(x_data.glob("*.json*"))
    asyncio.run(ReplayCollector(publisher, files).run())
    pipeline = InMemoryPipeline()
    pipeline.publish([*publisher.posts, b"garbage"])
    pipeline.end()
    topics = pipeline.topics
    out = pipeline.out
    return {
        "post.v1": [encode(p) for p in publisher.posts],
        "enriched_post.v1": [o.value for o in out if o.topic == topics.enriched],
        "deadletter.v1": [o.value for o in out if o.topic == topics.deadletter]
        + [encode(d) for d in publisher.dead_letters],
        "alert.v1": [
            encode(
                Alert(
                    id="surge:2026-01-01T00:00:00Z:all",
                    rule="surge",
                    severity="warning",
                    subject="all",
                    summary="5x the baseline",
                    window_start=NOW,
                    window_end=NOW,
                    value=50,
                    threshold=10,
                    examples=["x:1"],
                    raised_at=NOW,
                )
            )
        ],
        "metrics.v1": [
            encode(
                MetricsWindow(
                    window_start=NOW,
                    window_end=NOW,
                    posts=3,
                    originals=2,
                    reposts=1,
                    unique_authors=2,
                    by_language={"ar": 3},
                    top_hashtags=[Count(key="a", count=2)],
                )
            )
        ],
        "gap.v1": [encode(Gap(id="x:1", collector="x", start=NOW, reason="http-503"))],
        "deletion.v1": [
            encode(
                PostDeletion(
                    uid="mastodon:https://m.example/users/a/statuses/1",
                    platform="mastodon",
                    id="1",
                    deleted_at=NOW,
                    provenance=PROVENANCE,
                    raw=msgspec.Raw(b'"1"'),
                )
            )
        ],
        "collection.v1": [
            encode(
                Collection(
                    id="c1",
                    collector="replay",
                    software="hashwatch 0.1.0",
                    host="h",
                    started_at=NOW,
                )
            )
        ],
    }


def test_every_record_type_validates(x_data: Path) -> None:
    records = _records(x_data)
    assert records.keys() == RECORD_TYPES.keys()
    for name, values in records.items():
        v = validator(name)
        assert values, name
        for value in values:
            v.validate(orjson.loads(value))


def test_schema_rejects_what_the_pipeline_rejects() -> None:
    v = validator("post.v1")
    with pytest.raises(jsonschema.ValidationError):
        v.validate({"schema": "post/1", "uid": "twitter:1"})
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(
            b'{"schema": "post/1", "uid": "twitter:1"}', type=RECORD_TYPES["post.v1"]
        )
