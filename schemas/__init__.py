"""Versioned records for every hashwatch topic.

The msgspec structs here are the Python side of the contract; ``schemas/json/*.json`` is the
JSON Schema side, generated from them (``python -m schemas.generate``) and checked in, so a
change to a record is always a visible change to the contract.
"""

from schemas.alert import Alert
from schemas.collection import Collection
from schemas.deadletter import DeadLetter
from schemas.enriched import EnrichedPost
from schemas.gap import Gap
from schemas.metrics import MetricsWindow
from schemas.post import Post, PostDeletion

__all__ = [
    "Alert",
    "Collection",
    "DeadLetter",
    "EnrichedPost",
    "Gap",
    "MetricsWindow",
    "Post",
    "PostDeletion",
]
