"""The default detector: fastText for every post, lingua's second opinion only where needed.

fastText alone is fast and as accurate as anything on sentences in the languages it knows
well, but on one or two words it often ranks the right language second or worse, and it
does not know nine of lingua's 75 languages at all (Bokmål apart from "Norwegian", Ganda,
Maori, Shona, Sotho, Tswana, Tsonga, Xhosa, Zulu). When its top probability is below a
length-dependent threshold (or it calls a text without kana Japanese), the text is unsure, and:

1. lingua in low-accuracy mode (trigram models only: all 75 load in ~0.3 s and ~70 MB) scores
   every language written in the text's script, and its best few join fastText's best few
   in that script as the candidates: this is what finds the language fastText missed;
2. lingua in high-accuracy mode scores only those candidates (a detector restricted to a few
   languages is >10x faster than one over all 75, and loads only their models), or for long
   texts the low-accuracy scores are reused;
3. the two opinions are multiplied, fastText's down-weighted, and normalised over the
   candidates: that is the confidence, and below `und_below` the answer is `und`.

Every threshold is one number for all languages, chosen on lingua's test data
(`bench/langid_bench.py` prints the calibration the `und` threshold comes from).

Tried and dropped, measured on lingua's 75-language test data: candidates from fastText
alone (word pairs 79 % against 88 with lingua's low-accuracy candidates: fastText lite's
top ten miss the right language on one word pair in ten); adding every language fastText
does not know to each unsure Latin-script text (as costly as the low-accuracy pass, and
less accurate); answering with fastText whenever it is sure at 0.9 on short texts (its
confident answers on word pairs are wrong more often than lingua's); lingua's high accuracy
over every language of the script for short unsure texts (word pairs 88.6 % against the
candidates' 88.1 % on 300 lines a language, but one Latin word pair loads ~40 models, ~1 GB,
where the candidates load what that text needs). Every `und` threshold here is the one its
own calibration gives; three and three candidates with `und` below 0.3 gave word pairs
87.2 % over all the test data, ten and five with `und` below 0.2 give 88.3 %, ~10 % slower.
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
# Japanese is written with kana between its kanji; a text of Han characters alone is Chinese
# far more often, though fastText lite calls many such sentences Japanese (0.74-0.79).
_KANA = re.compile("[\u3040-\u30ff]")
Ranked = list[tuple[str, float]]


@dataclass(frozen=True, slots=True)
class Policy:
    """When to ask lingua and how to weigh it: one value for every language."""

    short_letters: int = 40  # below this many letters a text is "short"
    short_threshold: float = 0.97  # ask lingua when fastText's top probability is below this
    long_threshold: float = 0.7
    scan: int = 10  # fastText candidates considered...
    floor: float = 0.003  # ...down to this probability (also the one a missing one gets)
    candidates: int = 5  # lingua compares at most this many of fastText's...
    low_candidates: int = 10  # ...and this many of its own low-accuracy pass's,
    prune: float = 0.001  # less those that pass finds this many times less likely than its best
    fasttext_weight: float = 0.1  # exponent on fastText's probability in the product
    low_accuracy_letters: int = 100  # from this length the low-accuracy scores decide
    und_below: float = 0.2  # `und` below this: such answers are right <1 time in 5 (calibration)


# Unicode blocks -> lingua's languages written in them, for scripts other than Latin, Cyrillic,
# Arabic and Devanagari (those come from lingua's own lists). A fact about scripts, not a
# tuning: a text in Thai letters cannot be Dutch.
_BLOCKS: tuple[tuple[int, int, frozenset[str]], ...] = (
    (0x370, 0x400, frozenset({"el"})),
    (0x530, 0x590, frozenset({"hy"})),
    (0x590, 0x600, frozenset({"he"})),
    (0x980, 0xA00, frozenset({"bn"})),
    (0xA00, 0xA80, frozenset({"pa"})),
    (0xA80, 0xB00, frozenset({"gu"})),
    (0xB80, 0xC00, frozenset({"ta"})),
    (0xC00, 0xC80, frozenset({"te"})),
    (0xE00, 0xE80, frozenset({"th"})),
    (0x10A0, 0x1100, frozenset({"ka"})),
    (0x1100, 0x1200, frozenset({"ko"})),
    (0x1F00, 0x2000, frozenset({"el"})),
    (0x3040, 0x3100, frozenset({"ja"})),  # kana
    (0x3130, 0x3190, frozenset({"ko"})),
    (0x3400, 0x4DC0, lingua_backend.SCRIPTS["han"]),
    (0x4E00, 0xA000, lingua_backend.SCRIPTS["han"]),
    (0xAC00, 0xD7B0, frozenset({"ko"})),
)


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
    for lo, hi, langs in _BLOCKS:
        if lo <= cp < hi:
            return langs
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
            if p < (short_t if short else long_t) or (lang == "ja" and not _KANA.search(text)):
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

    def _candidates(self, text: str, ranked: Ranked, low: Ranked) -> tuple[Ranked, list[str]]:
        """fastText's first `candidates` that lingua knows in the text's script and lingua's
        own first `low_candidates`, with their fastText probabilities (`floor` for a language
        fastText did not rank), less those lingua's low-accuracy pass finds `prune` times
        less likely than its best; plus the languages fastText ranked that lingua does not
        know (fastText alone speaks for those). Languages lingua knows in another script
        cannot be right. Also returns the lingua-known ones, for lingua to compare."""
        policy = self.policy
        in_script = script_languages(text) or LINGUA_LANGUAGES
        plausible = dict(low)
        bar = low[0][1] * policy.prune if low else -1.0  # no low-accuracy pass: keep all
        left = policy.candidates
        out: Ranked = []
        known: list[str] = []
        for c, p in ranked:
            if c in in_script:
                if left:
                    left -= 1
                    if plausible.get(c, 0.0) > bar:
                        known.append(c)
                        out.append((c, p))
            elif c not in LINGUA_LANGUAGES:
                out.append((c, p))
        for c, p in low[: policy.low_candidates]:
            if p > bar and c not in known:
                known.append(c)
                out.append((c, policy.floor))
        return out, known

    def _second_opinion(
        self, out: list[Detection], unsure: list[tuple[int, str, int, Ranked | None]]
    ) -> None:
        """Let lingua weigh in on each unsure text, replacing fastText's answer in `out`."""
        policy = self.policy
        lingua_allowed = None if self.languages is None else self.languages & LINGUA_LANGUAGES
        texts = [text for _, text, _, _ in unsure]
        if lingua_allowed is None or len(lingua_allowed) >= 2:
            lows = lingua_backend.confidences(
                texts, lingua_allowed, low_accuracy=True, above=policy.prune
            )
        else:  # lingua has nothing to compare
            lows = [[] for _ in texts]
        asked: list[tuple[int, Ranked, dict[str, float] | None]] = []
        high_texts: list[str] = []
        keys: list[tuple[frozenset[str], bool]] = []
        low_from = policy.low_accuracy_letters
        for (i, text, n, ranked), low in zip(unsure, lows, strict=True):
            cands, known = self._candidates(text, ranked or self._ranked(text), low)
            if not known:  # lingua cannot read it: keep fastText's answer
                continue
            if len(known) == 1:  # one language of lingua's in this script: nothing to compare
                asked.append((i, cands, {known[0]: 1.0}))
            elif n >= low_from:  # long: the low-accuracy pass is as good, and already done
                mine = dict(low)
                asked.append((i, cands, {c: mine.get(c, 0.0) for c in known}))
            else:
                asked.append((i, cands, None))
                high_texts.append(text)
                keys.append((frozenset(known), False))
        highs = iter(lingua_backend.ask(high_texts, keys))
        weight, und_below = policy.fasttext_weight, policy.und_below
        log, exp = math.log, math.exp
        for i, cands, given in asked:
            lingua_p = given if given is not None else next(highs)
            total_known = sum(lingua_p.values())
            if not total_known:  # lingua found nothing it can read: keep fastText
                continue
            neutral = 1.0 / len(cands)  # for candidates lingua does not know
            scores = [
                weight * log(p + 1e-9)
                + log(lingua_p[c] / total_known + 1e-9 if c in lingua_p else neutral)
                for c, p in cands
            ]
            top = max(scores)
            best = scores.index(top)
            confidence = 1.0 / sum(exp(s - top) for s in scores)
            lang = cands[best][0] if confidence >= und_below else UND
            out[i] = Detection(lang, confidence, LINGUA)
