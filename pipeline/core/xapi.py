"""The shape of X API v2 objects, known to the collector that reads them and to the export that
writes them back as twarc2 lines: one definition, so the two cannot drift apart."""

from __future__ import annotations

from typing import Any


def is_tweet(obj: Any) -> bool:
    """Tweets have ``id`` and ``text``; users, lists and counts never both."""
    return isinstance(obj, dict) and "id" in obj and "text" in obj and "username" not in obj
