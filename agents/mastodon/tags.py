"""Which hashtag streams follow a campaign: one per tag as Mastodon tells tags apart.

Mastodon's streaming server matches a hashtag stream by the tag's normal form (streaming
``normalizeHashtag``: NFKC, lower case, Latin accents folded to ASCII, then only letters,
digits, ``_``, ``·`` and ZWNJ kept). Spellings with the same normal form are one tag there
(``#WhereAreTheDetainees`` and ``#wherearethedetainees``) and share a stream; spellings it
tells apart (``#أين_المعتقلين`` and ``#اين_المعتقلين``; with and without ``_``) each get one.
hashwatch's own, wider normalization (``normalize_hashtag``) still counts them as one tag.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

_KEPT = frozenset("_·\u200c")


def _fold(char: str) -> str:
    """A Latin letter with accents as its ASCII letter; anything else unchanged."""
    parts = unicodedata.normalize("NFKD", char)
    if len(parts) > 1 and parts[0].isascii() and all(unicodedata.combining(c) for c in parts[1:]):
        return parts[0]
    return char


def mastodon_tag(spelling: str) -> str:
    """The form Mastodon's streaming server matches a hashtag stream by."""
    text = unicodedata.normalize("NFKC", spelling.lstrip("#＃")).lower()
    return "".join(c for c in map(_fold, text) if c in _KEPT or unicodedata.category(c)[0] in "LN")


def followed_tags(hashtags: Iterable[str]) -> list[str]:
    """The campaign's spellings, one per tag Mastodon tells apart (the first spelling of each)."""
    chosen: dict[str, str] = {}
    for spelling in hashtags:
        key = mastodon_tag(spelling)
        if key:
            chosen.setdefault(key, spelling.lstrip("#＃"))
    return list(chosen.values())
