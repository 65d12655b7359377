"""One encoder and one typed decoder per record type: decoding is validation."""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec

from schemas.alert import Alert
from schemas.deadletter import DeadLetter
from schemas.enriched import EnrichedPost
from schemas.gap import Gap
from schemas.metrics import MetricsWindow
from schemas.post import Post

T = TypeVar("T")

encoder = msgspec.json.Encoder()
encode = encoder.encode

_DECODERS: dict[type, msgspec.json.Decoder[Any]] = {
    t: msgspec.json.Decoder(t) for t in (Post, EnrichedPost, DeadLetter, Alert, MetricsWindow, Gap)
}

RECORD_TYPES: dict[str, type] = {
    "post.v1": Post,
    "enriched_post.v1": EnrichedPost,
    "deadletter.v1": DeadLetter,
    "alert.v1": Alert,
    "metrics.v1": MetricsWindow,
    "gap.v1": Gap,
}

# The errors decoding raises; ValidationError (a record of the wrong shape) is a DecodeError.
ValidationError = msgspec.ValidationError
DecodeError = msgspec.DecodeError


def decode(data: bytes, record_type: type[T]) -> T:
    """Decode and validate; raises ``msgspec.DecodeError`` (incl. ValidationError)."""
    result: T = _DECODERS[record_type].decode(data)
    return result
