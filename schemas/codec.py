"""One encoder and one typed decoder per record type: decoding is validation."""

from __future__ import annotations

from typing import Any, TypeVar, overload

import msgspec

from schemas.alert import Alert
from schemas.collection import Collection
from schemas.deadletter import DeadLetter
from schemas.enriched import EnrichedPost
from schemas.gap import Gap
from schemas.metrics import MetricsWindow
from schemas.post import Post, PostDeletion

T = TypeVar("T")

encoder = msgspec.json.Encoder()
encode = encoder.encode

# What each post topic carries: posts and deletions, told apart by their ``schema`` tag.
PostEvent = Post | PostDeletion  # hashwatch.posts.raw
EnrichedEvent = EnrichedPost | PostDeletion  # hashwatch.posts.enriched

_DECODERS: dict[Any, msgspec.json.Decoder[Any]] = {
    t: msgspec.json.Decoder(t)
    for t in (
        Post,
        PostDeletion,
        PostEvent,
        EnrichedPost,
        EnrichedEvent,
        DeadLetter,
        Alert,
        MetricsWindow,
        Gap,
        Collection,
    )
}

RECORD_TYPES: dict[str, type] = {
    "post.v1": Post,
    "deletion.v1": PostDeletion,
    "enriched_post.v1": EnrichedPost,
    "deadletter.v1": DeadLetter,
    "alert.v1": Alert,
    "metrics.v1": MetricsWindow,
    "gap.v1": Gap,
    "collection.v1": Collection,
}

# The errors decoding raises; ValidationError (a record of the wrong shape) is a DecodeError.
ValidationError = msgspec.ValidationError
DecodeError = msgspec.DecodeError


class TooDeep(msgspec.DecodeError):
    """JSON nested deeper than the decoder recurses (it recurses on Python's stack, so about
    a thousand levels, less the caller's own depth). A DecodeError, so every reader that
    handles bad records handles it; collectors refuse anything deeper than 64 levels, so
    only a record no collector made comes near."""


@overload
def decode(data: bytes, record_type: type[T]) -> T: ...
@overload
def decode(data: bytes, record_type: object) -> Any: ...
def decode(data: bytes, record_type: Any) -> Any:
    """Decode and validate as ``record_type`` (a record or one of the unions above); raises
    ``msgspec.DecodeError`` (incl. ValidationError and TooDeep), whatever ``data`` holds."""
    try:
        return _DECODERS[record_type].decode(data)
    except RecursionError:
        raise TooDeep("JSON nested too deeply to decode") from None
