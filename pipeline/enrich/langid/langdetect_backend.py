"""langdetect (the Python port of Google's language-detection): the slow, classic baseline.

langdetect samples n-grams at random; the module-level `detect` shares a global, unseeded
factory, so the same post can get different answers on different runs. A private factory
with a fixed seed makes every answer reproducible without touching global state.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache, cached_property
from typing import Any

from pipeline.enrich.langid.base import UND, Detection, check_known, iso_code, normalize_languages
from pipeline.enrich.langid.clean import prepare

NAME = "langdetect"
SEED = 0

# langdetect's 55 profiles (zh-cn and zh-tw both publish as zh).
_PROFILES = """
af ar bg bn ca cs cy da de el en es et fa fi fr gu he hi hr hu id it ja kn ko lt lv
mk ml mr ne nl no pa pl pt ro ru sk sl so sq sv sw ta te th tl tr uk ur vi zh-cn zh-tw
"""
LANGUAGES = frozenset(iso_code(code) for code in _PROFILES.split())


@cache
def _factory() -> Any:
    """A private factory, loaded once per process (~1 s), seeded: the module-level one that
    `langdetect.detect` uses is global state other code may reseed."""
    from langdetect.detector_factory import PROFILES_DIRECTORY, DetectorFactory

    factory = DetectorFactory()
    factory.load_profile(PROFILES_DIRECTORY)
    factory.set_seed(SEED)
    return factory


class LangdetectDetector:
    """Seeded, hence deterministic, langdetect; restriction uses its own prior map."""

    name = NAME

    def __init__(self, languages: Sequence[str] | None = None) -> None:
        self.languages = normalize_languages(languages)
        check_known(NAME, self.languages, LANGUAGES)

    @cached_property
    def _prior(self) -> dict[str, float] | None:
        if self.languages is None:
            return None
        labels = _factory().get_lang_list()
        return {label: 1.0 for label in labels if iso_code(label) in self.languages}

    def detect(self, text: str) -> Detection:
        return self.detect_batch([text])[0]

    def detect_batch(self, texts: Sequence[str]) -> list[Detection]:
        return [self._one(text) for text in prepare(texts)]

    def _one(self, text: str | None) -> Detection:
        from langdetect.lang_detect_exception import LangDetectException

        if text is None:
            return Detection(UND, 0.0, NAME)
        detector = _factory().create()
        if self._prior is not None:
            detector.set_prior_map(self._prior)
        detector.append(text)
        try:
            best = detector.get_probabilities()
        except LangDetectException:  # no n-gram it knows, e.g. a script it has no profile for
            return Detection(UND, 0.0, NAME)
        if not best:
            return Detection(UND, 0.0, NAME)
        return Detection(iso_code(best[0].lang), float(best[0].prob), NAME)
