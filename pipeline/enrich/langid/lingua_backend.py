"""lingua-language-detector: all 75 of its languages, high-accuracy mode.

The most accurate backend on short texts (word pairs) but 10-50x slower than fastText when
it weighs all languages: its cost grows with the number of languages it compares (~12 µs
each for a word pair). So the cascade asks it only for a second opinion among the few
candidates fastText proposes, through detectors built from those candidates (`ask`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any

from lingua import Language, LanguageDetectorBuilder

from pipeline.enrich.langid.base import UND, Detection, check_known, normalize_languages
from pipeline.enrich.langid.clean import prepare

NAME = "lingua"

BY_CODE: dict[str, Any] = {lang.iso_code_639_1.name.lower(): lang for lang in Language.all()}
CODE_OF: dict[Any, str] = {lang: code for code, lang in BY_CODE.items()}
LANGUAGES = frozenset(BY_CODE)


def _codes(languages: Iterable[Any]) -> frozenset[str]:
    return frozenset(CODE_OF[lang] for lang in languages)


# Languages per script, for scripts that more than one lingua language is written in (a text
# in any other script has one candidate: the cascade needs no model to choose it).
SCRIPTS: dict[str, frozenset[str]] = {
    "latin": _codes(Language.all_with_latin_script()),
    "cyrillic": _codes(Language.all_with_cyrillic_script()),
    "arabic": _codes(Language.all_with_arabic_script()),
    "devanagari": _codes(Language.all_with_devanagari_script()),
    "han": frozenset({"zh", "ja"}),  # Chinese, or Japanese kanji
}

# Below this many texts per detector, lingua's thread pool costs more than it saves.
PARALLEL_MIN = 8


@lru_cache(maxsize=16384)
def _detector(languages: frozenset[str] | None, low_accuracy: bool = False) -> Any:
    """Detectors share loaded models: one per language set costs ~0.1 ms to build, little
    memory to keep."""
    if languages is None:
        builder = LanguageDetectorBuilder.from_all_languages()
    else:
        builder = LanguageDetectorBuilder.from_languages(*(BY_CODE[c] for c in languages))
    if low_accuracy:
        builder = builder.with_low_accuracy_mode()
    return builder.build()


def confidences(
    texts: list[str],
    languages: frozenset[str] | None,
    low_accuracy: bool = False,
    above: float | None = None,
) -> list[list[tuple[str, float]]]:
    """(code, probability) per language for each text, best first; languages=None is all.
    With `above`, only the languages scored over that share of the text's best: reading
    all 75 of lingua's values costs more than scoring a word pair in low-accuracy mode.

    Low accuracy mode (trigrams only) is several times faster and, per lingua, as accurate
    as high accuracy above ~120 characters."""
    detector = _detector(languages, low_accuracy)
    if len(texts) >= PARALLEL_MIN:
        rows = detector.compute_language_confidence_values_in_parallel(texts)
    else:
        rows = [detector.compute_language_confidence_values(text) for text in texts]
    if above is None:
        return [[(CODE_OF[v.language], v.value) for v in row] for row in rows]
    return [_leaders(row, above) for row in rows]


def _leaders(row: Sequence[Any], above: float) -> list[tuple[str, float]]:
    """A best-first row's best language and those after it scored over `above` times it."""
    out: list[tuple[str, float]] = []
    bar = 0.0
    for v in row:
        p = v.value
        if out and p <= bar:
            break
        if not out:
            bar = p * above
        out.append((CODE_OF[v.language], p))
    return out


def preload() -> None:
    """Load every language's models now (~12 s, ~1.3 GB) instead of on first use, for a
    service that must not stall on its first post in a new language, or a benchmark."""
    LanguageDetectorBuilder.from_all_languages().with_preloaded_language_models().build()
    _loaded.update(BY_CODE)


def preload_for(languages: Iterable[str]) -> None:
    """Load what the cascade needs first, at start-up rather than on the first posts: every
    language's low-accuracy models (~0.3 s, ~70 MB) and the high-accuracy models of the
    campaign's languages (~0.2 s each). Models are shared by every detector in the process."""
    low = LanguageDetectorBuilder.from_all_languages().with_low_accuracy_mode()
    low.with_preloaded_language_models().build()
    preload_high_accuracy(languages)


# The languages most posted in on large social platforms, most first (lingua's codes).
COMMON = (
    "en", "es", "pt", "ar", "ja", "id", "fr", "tr", "ru", "ko", "de", "fa", "it", "hi", "ur",
    "th", "nl", "pl", "ms", "tl", "uk", "zh", "he", "sv",
)  # fmt: skip


# Languages whose high-accuracy models load in under CHEAP_LOAD_S one at a time (lingua 2.1.1
# on this project's 2-core machines; `bench/lingua_load_bench.py` prints the times and says
# when this set no longer matches): left to a post's first need, they stall it for nothing.
CHEAP_LOAD_S = 0.05
CHEAP_TO_LOAD = frozenset((
    "bn", "cy", "eu", "gu", "hi", "hy", "ja", "ko", "lg", "mi", "mn", "mr", "ms", "pa", "sn",
    "so", "st", "sw", "ta", "te", "tl", "tn", "ts", "vi", "xh", "yo", "zh", "zu",
))  # fmt: skip


def preload_order(campaign: Iterable[str]) -> list[str]:
    """The high-accuracy models a worker loads while it has nothing else to do, those whose
    first need would stall a batch longest first (0.1-0.3 s each): every language sharing a
    script with one of the campaign's, as the cascade weighs every language of a text's
    script (a short English text can need Latin, Latvian or Yoruba), the most posted-in
    first; then the other common languages; the cheap ones (CHEAP_TO_LOAD) last. A campaign
    that names no language is taken as Latin-script, the script most posts are written in.
    Not the campaign's own (loaded at start) nor a language alone in its script (no model is
    needed to choose it)."""
    mine = set(campaign)
    scripts = [langs for langs in SCRIPTS.values() if langs & mine] or [SCRIPTS["latin"]]
    rank = {code: i for i, code in enumerate(COMMON)}
    first = sorted(set().union(*scripts), key=lambda c: (rank.get(c, len(rank)), c))
    rest = [c for c in COMMON if c not in first and any(c in s for s in SCRIPTS.values())]
    order = [c for c in first + rest if c not in mine]
    return sorted(order, key=lambda c: c in CHEAP_TO_LOAD)  # stable: the order above within


_loaded: set[str] = set()  # languages whose high-accuracy models this process holds


def preload_high_accuracy(languages: Iterable[str]) -> None:
    """These languages' high-accuracy models, loaded together: lingua loads a detector's
    models in parallel (0.08 s a language on 2 cores, against 0.1-0.2 s one by one as a
    detector meets them); kept, as every model, for the process."""
    known = [BY_CODE[c] for c in sorted(set(languages) - _loaded) if c in BY_CODE]
    if len(known) == 1:  # lingua builds no detector of one language: pair it with a loaded one
        pairs = [BY_CODE[min(_loaded)]] if _loaded else list(BY_CODE.values())
        known.append(next(lang for lang in pairs if lang != known[0]))
    if known:
        LanguageDetectorBuilder.from_languages(*known).with_preloaded_language_models().build()
        _loaded.update(CODE_OF[lang] for lang in known)


def ask(
    texts: Sequence[str], candidates: Sequence[tuple[frozenset[str], bool]]
) -> list[dict[str, float]]:
    """Lingua's probabilities over each text's own candidate languages (2+, lingua-known),
    each with its mode (True: low accuracy).

    Texts with the same candidates share one call, in parallel when there are enough.
    """
    out: list[dict[str, float]] = [{} for _ in texts]
    groups: dict[tuple[frozenset[str], bool], list[int]] = {}
    for i, key in enumerate(candidates):
        groups.setdefault(key, []).append(i)
    preload_high_accuracy(set().union(*(langs for langs, low in groups if not low)))
    for (langs, low_accuracy), idx in groups.items():
        rows = confidences([texts[i] for i in idx], langs, low_accuracy)
        for i, row in zip(idx, rows, strict=True):
            out[i] = dict(row)
    return out


class LinguaDetector:
    """Lingua alone over every language it knows (or the campaign's, if restricted)."""

    name = NAME

    def __init__(self, languages: Sequence[str] | None = None) -> None:
        self.languages = normalize_languages(languages)
        check_known(NAME, self.languages, LANGUAGES)

    def detect(self, text: str) -> Detection:
        return self.detect_batch([text])[0]

    def detect_batch(self, texts: Sequence[str]) -> list[Detection]:
        cleaned = prepare(texts)
        usable = [t for t in cleaned if t is not None]
        if self.languages is not None and len(self.languages) == 1:
            only = next(iter(self.languages))  # lingua needs two languages to compare
            rows = [[(only, 1.0)] for _ in usable]
        else:
            rows = confidences(usable, self.languages) if usable else []
        results = iter(rows)
        out = []
        for text in cleaned:
            row = next(results) if text is not None else []
            if row and row[0][1] > 0:
                out.append(Detection(row[0][0], float(row[0][1]), NAME))
            else:
                out.append(Detection(UND, 0.0, NAME))
        return out
