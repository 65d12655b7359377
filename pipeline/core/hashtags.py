"""Hashtag normalization: one key for all the spellings a campaign's tag is typed in.

People retype a campaign tag by hand on Arabic, Persian, Turkish and Latin keyboards,
with or without hamza, harakat, accents and capitals; counting those spellings apart
splits one campaign into many small ones. ``fold_text`` is the shared folding, reused by
the near-duplicate canonicalizer so tags and post bodies fold the same way.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from itertools import combinations

# NFKD (compatibility mapping as in NFKC, but decomposed) splits hamza/madda off alef,
# waw and yeh and accents off Latin letters, so dropping combining marks afterwards
# unifies أ/إ/آ/ا, ؤ/و, ئ/ي, é/e, ş/s, ё/е. It also turns 'İ' into 'I' + U+0307, which
# casefolds to 'i' once the dot is dropped; 'ı' has no decomposition and is mapped.
_LETTERS = {
    "ı": "i",  # Turkish dotless i: ISTANBUL/ıstanbul typed on a Turkish keyboard
    "ٱ": "ا",  # alef wasla has no decomposition
    "ة": "ه",
    "ى": "ي",
    "ی": "ي",  # Persian yeh
    "ې": "ي",  # Pashto/Uyghur yeh
    "ک": "ك",  # Persian keheh
    "ە": "ه",  # Kurdish (Sorani) ae
}
_DROPPED = [
    *range(0x0300, 0x0370),  # Latin/Greek/Cyrillic combining diacritics
    0x0640,  # tatweel: elongation only
    *range(0x064B, 0x0660),  # harakat, shadda, sukun, hamza/madda above/below
    0x0670,  # superscript alef
    *(0x200B, 0x200C, 0x200D, 0x200E, 0x200F, 0x2066, 0x2067, 0x2068, 0x2069, 0xFEFF),
]
_DIGITS = {0x0660 + i: str(i) for i in range(10)} | {0x06F0 + i: str(i) for i in range(10)}

_FOLD: dict[int, str | None] = {ord(k): v for k, v in _LETTERS.items()}
_FOLD.update(dict.fromkeys(_DROPPED))
_FOLD.update(_DIGITS)

# Hashtags also drop underscores: '#Where_Are_The_Detainees' is the same campaign.
_TAG_FOLD: dict[int, str | None] = {**_FOLD, ord("_"): None}


def fold_text(text: str) -> str:
    """Compatibility-decompose, casefold and unify Arabic/Persian/Turkish/Latin variants.

    Shared by tags and post bodies so both sides of a match fold identically.
    """
    return unicodedata.normalize("NFKD", text).casefold().translate(_FOLD)


def normalize_hashtag(tag: str) -> str:
    """The key under which every spelling of a campaign's tag is counted."""
    text = unicodedata.normalize("NFKD", tag.strip()).lstrip("#＃")
    return text.casefold().translate(_TAG_FOLD)


def cooccurring_pairs(tags: Sequence[str]) -> list[tuple[str, str]]:
    """Sorted unique pairs of normalized tags in one post.

    Variants of one tag collapse first, so a post that spells a tag two ways does not
    count the tag as co-occurring with itself.
    """
    keys = sorted({k for k in map(normalize_hashtag, tags) if k})
    return list(combinations(keys, 2))
