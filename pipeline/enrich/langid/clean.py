"""Strip what is not language from a post before detection, and refuse to guess on too little.

Posts carry URLs, @mentions, hashtags, emoji, retweet prefixes and HTML entities; every
detector mistakes them for words (a URL reads as English, `RT` as anything). Hashtags keep
their word because campaign hashtags are often the only text a post has.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence

# Fewer letters than this and every backend is guessing: "ok", "no", "si" are in many
# languages, so such posts get `und` rather than a confident-looking wrong code.
MIN_LETTERS = 3

_RETWEET = re.compile(r"\bRT\s*@\w+:?")
_URL = re.compile(r"(?:https?://|www\.)\S+|\b(?:pic\.twitter\.com|t\.co|bit\.ly)/\S*", re.I)
_MENTION = re.compile(r"(?<!\w)[@＠]\w+")
_HASHTAG = re.compile(r"(?<!\w)[#＃](\w+)")
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])")
_EMOJI = re.compile(
    "["
    "\U0001f000-\U0001faff"  # pictographs, emoticons, flags (regional indicators), cards
    "\U000e0000-\U000e007f"  # tag characters of subdivision flags
    "\u2190-\u21ff\u2300-\u23ff\u25a0-\u27bf\u2b00-\u2bff"  # arrows, technical, shapes, dingbats
    "\u200d\ufe00-\ufe0f\u20e3"  # joiner, variation selectors, keycap (ZWNJ stays: Persian)
    "\u00a9\u00ae\u203c\u2049\u2122\u2139\u3030\u303d\u3297\u3299"
    "]+"
)
_NOT_LETTER = re.compile(r"[\W\d_]+")
# Han ideographs, kana and Hangul syllables: each writes a syllable or a word, not a sound, so
# two of them ("浙江", "现我") say as much as a short word in an alphabet. They count twice.
_SYLLABIC = re.compile("[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")


def _hashtag_words(match: re.Match[str]) -> str:
    """`#free_Palestine` and `#FreePalestine` both read as "free Palestine"/"Free Palestine"."""
    return " " + _CAMEL.sub(" ", match.group(1).replace("_", " ")) + " "


def clean(text: str) -> str:
    """Return the language-bearing part of a post on one line."""
    if "&" in text:
        text = html.unescape(text)
    if "RT" in text:
        text = _RETWEET.sub(" ", text)
    if "/" in text or "www" in text:
        text = _URL.sub(" ", text)
    if "@" in text or "＠" in text:
        text = _MENTION.sub(" ", text)
    if "#" in text or "＃" in text:
        text = _HASHTAG.sub(_hashtag_words, text)
    if not text.isascii():  # emoji never are
        text = _EMOJI.sub(" ", text)
    text = " ".join(text.split())
    if text.isupper():  # shouted posts: models are trained on normal case
        text = text.lower()
    return text


def letters(text: str, scan: int = 200) -> int:
    """Count letters (any script) in the first `scan` characters: digits, punctuation and
    marks carry no language, and callers only compare the count with small thresholds.
    A CJK ideograph, kana or Hangul syllable counts as two letters."""
    head = text[:scan]
    n = len(_NOT_LETTER.sub("", head))
    return n if head.isascii() else n + len(_SYLLABIC.findall(head))


def prepare(texts: Sequence[str]) -> list[str | None]:
    """Clean each text; None where too few letters are left to tell its language."""
    return [t if letters(t, 64) >= MIN_LETTERS else None for t in map(clean, texts)]
