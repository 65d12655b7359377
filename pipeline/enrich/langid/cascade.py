"""The default detector: fastText for every post, lingua's second opinion only where needed.

fastText alone is fast and as accurate as anything on sentences, but on one or two words it
often ranks the right language second or third (Indonesian/Malay, Spanish/Portuguese/
Catalan, Urdu/Persian/Punjabi, Dutch/German...). When its top probability is below a
length-dependent threshold, lingua scores fastText's best few candidates written in the
text's script, and the two opinions are multiplied (fastText's down-weighted). Lingua's
cost grows with the languages it compares (~12 µs each per word pair, plus ~95 µs to build
a detector for a new candidate set), so a detector over 4 candidates is >10x faster than
one over all 75, and the product beats both backends alone on short texts.

Tried and dropped, measured on lingua's test data: asking lingua whenever the top two
candidates are a known confusable pair (on sentences fastText is the better judge of those,
e.g. Indonesian/Malay, so accuracy fell); a low-accuracy lingua pass before the
high-accuracy one (it cannot tell when it is right); detectors over supersets of candidate
sets, to build fewer (the extra languages cost what the builds saved).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from pipeline.enrich.langid import fasttext_backend, lingua_backend
from pipeline.enrich.langid.base import UND, Detection, check_known, normalize_languages
from pipeline.enrich.langid.clean import MIN_LETTERS, clean, letters

NAME = "cascade"
LANGUAGES = fasttext_backend.LANGUAGES | lingua_backend.LANGUAGES
LINGUA_LANGUAGES = lingua_backend.LANGUAGES
FASTTEXT, LINGUA = fasttext_backend.NAME, lingua_backend.NAME

_LETTER = re.compile(r"[^\W\d_]")
Ranked = list[tuple[str, float]]


@dataclass(frozen=True, slots=True)
class Policy:
    """When to ask lingua and how to weigh it; tuned on halves of lingua's test data."""

    short_letters: int = 40  # below this many letters a text is "short"
    short_threshold: float = 0.85  # ask lingua when fastText's top probability is below this
    long_threshold: float = 0.5
    scan: int = 10  # fastText candidates considered...
    floor: float = 0.003  # ...down to this probability
    candidates: int = 4  # lingua compares at most this many of them (its cost is per language)
    fasttext_weight: float = 0.3  # exponent on fastText's probability in the product
    low_accuracy_letters: int = 100  # from this length lingua's 4x faster low-accuracy mode


def script_languages(text: str) -> frozenset[str] | None:
    """Lingua's languages written in the script of the text's first letter (None: any)."""
    match = _LETTER.search(text)
    if match is None:
        return None
    cp = ord(match.group())
    if cp < 0x250 or 0x1E00 <= cp < 0x1F00:
        return lingua_backend.SCRIPTS["latin"]
    if 0x400 <= cp < 0x530:
        return lingua_backend.SCRIPTS["cyrillic"]
    if 0x600 <= cp < 0x780 or 0xFB50 <= cp < 0xFF00:
        return lingua_backend.SCRIPTS["arabic"]
    if 0x900 <= cp < 0x980:
        return lingua_backend.SCRIPTS["devanagari"]
    return None


class CascadeDetector:
    """fastText first; lingua among fastText's candidates when fastText is unsure."""

    name = NAME

    def __init__(self, languages: Sequence[str] | None = None, policy: Policy | None = None):
        self.languages = normalize_languages(languages)
        check_known(NAME, self.languages, LANGUAGES)
        self.policy = policy or Policy()
        self.fasttext = fasttext_backend.SHARED_MODEL

    def detect(self, text: str) -> Detection:
        return self.detect_batch([text])[0]

    def detect_batch(self, texts: Sequence[str]) -> list[Detection]:
        policy = self.policy
        short_letters = policy.short_letters
        short_t, long_t = policy.short_threshold, policy.long_threshold
        top, ranked_for = self.fasttext.top, self._ranked
        restricted = self.languages is not None
        out: list[Detection] = []
        # (index into out, text, letters, fastText's candidates if already ranked)
        unsure: list[tuple[int, str, int, Ranked | None]] = []
        for text in map(clean, texts):
            n = letters(text)
            if n < MIN_LETTERS:
                out.append(Detection(UND, 0.0, NAME))
                continue
            short = n < short_letters
            # Short texts are often unsure: rank candidates at once. Long ones rarely are.
            full = short or restricted
            ranked = ranked_for(text) if full else top(text, 1)
            if not ranked:  # restricted to languages fastText gives no probability at all
                out.append(Detection(UND, 0.0, FASTTEXT))
                continue
            lang, p = ranked[0]
            if p < (short_t if short else long_t):
                unsure.append((len(out), text, n, ranked if full else None))
            out.append(Detection(lang, p, FASTTEXT))  # unless lingua overrules it
        if unsure:
            self._second_opinion(out, unsure)
        return out

    def _ranked(self, text: str) -> Ranked:
        """fastText's best candidates, within the campaign's languages when restricted."""
        policy = self.policy
        if self.languages is None:
            return self.fasttext.top(text, policy.scan, policy.floor)
        allowed = [(c, p) for c, p in self.fasttext.top(text, -1) if c in self.languages]
        total = sum(p for _, p in allowed) or 1.0
        return [(c, p / total) for c, p in allowed[: policy.scan]]

    def _lingua_candidates(self, text: str, ranked: Ranked) -> tuple[Ranked, frozenset[str]]:
        """The first `candidates` of fastText's that lingua knows in the text's script, with
        those ranked among them that lingua does not know (fastText alone speaks for those);
        languages lingua knows in another script cannot be right. Also lingua's subset."""
        in_script = script_languages(text) or LINGUA_LANGUAGES
        left = self.policy.candidates
        out: Ranked = []
        known: list[str] = []
        for c, p in ranked:
            if c in in_script:
                if not left:
                    break
                left -= 1
                known.append(c)
                out.append((c, p))
            elif c not in LINGUA_LANGUAGES:
                out.append((c, p))
        return out, frozenset(known)

    def _second_opinion(
        self, out: list[Detection], unsure: list[tuple[int, str, int, Ranked | None]]
    ) -> None:
        """Let lingua weigh in on each unsure text, replacing fastText's answer in `out`."""
        asked: list[tuple[int, Ranked]] = []
        texts: list[str] = []
        keys: list[tuple[frozenset[str], bool]] = []
        low_from = self.policy.low_accuracy_letters
        for i, text, n, ranked in unsure:
            cands, langs = self._lingua_candidates(text, ranked or self._ranked(text))
            if len(langs) >= 2:  # with fewer, lingua has nothing to choose between
                asked.append((i, cands))
                texts.append(text)
                keys.append((langs, n >= low_from))
        weight = self.policy.fasttext_weight
        log, exp = math.log, math.exp
        for (i, cands), lingua_p in zip(asked, lingua_backend.ask(texts, keys), strict=True):
            if not any(lingua_p.values()):  # lingua found nothing it can read: keep fastText
                continue
            neutral = 1.0 / len(cands)  # for candidates lingua does not know
            scores = [
                weight * log(p + 1e-9) + log(lingua_p.get(c, neutral) + 1e-9) for c, p in cands
            ]
            top = max(scores)
            best = scores.index(top)
            total = sum(exp(s - top) for s in scores)
            out[i] = Detection(cands[best][0], 1.0 / total, LINGUA)
