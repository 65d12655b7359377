"""Language identification of posts: a fastText+lingua cascade by default, or one backend.

Every backend cleans the text first (see `clean`), answers `und` for posts with too few
letters, and considers every language it knows unless a campaign's `languages` are given.
"""

from __future__ import annotations

from collections.abc import Sequence

from pipeline.enrich.langid.base import UND, Detection, Detector

BACKENDS: tuple[str, ...] = ("cascade", "fasttext", "lingua", "langdetect")

__all__ = ["BACKENDS", "UND", "Detection", "Detector", "make_detector", "warm_up"]

# A sentence fastText is sure of: the cascade does not pass it on to lingua, whose models
# (all of them: ~9 s and 1.3 GB, holding the GIL for up to a second at a time) stay loaded on
# first use of each language, or at once with ``lingua_backend.preload()``.
WARM_UP_TEXT = "The campaign started this morning and thousands of people joined it."


def make_detector(backend: str = "cascade", languages: Sequence[str] | None = None) -> Detector:
    """Build a detector; models load lazily on first use, once per process.

    `languages` restricts answers to those codes (a campaign known to be in, say, Arabic and
    Persian); it raises ValueError if the backend cannot detect one of them.
    """
    if backend == "cascade":
        from pipeline.enrich.langid.cascade import CascadeDetector

        return CascadeDetector(languages)
    if backend == "fasttext":
        from pipeline.enrich.langid.fasttext_backend import FastTextDetector

        return FastTextDetector(languages)
    if backend == "lingua":
        from pipeline.enrich.langid.lingua_backend import LinguaDetector

        return LinguaDetector(languages)
    if backend == "langdetect":
        from pipeline.enrich.langid.langdetect_backend import LangdetectDetector

        return LangdetectDetector(languages)
    raise ValueError(f"unknown language backend {backend!r}; choose one of {', '.join(BACKENDS)}")


def warm_up(detector: Detector, languages: Sequence[str] = ()) -> None:
    """Load the detector's models now, before the first batch waits for them: start-up, run in
    a thread while the worker joins its group. For the cascade that is fastText, lingua's
    low-accuracy models and the high-accuracy models of the campaign's ``languages``; a worker's
    enrich process then loads those of their scripts until its first batch
    (``lingua_backend.preload_order``), the rest load on first need (all at once would take
    ~9 s and 1.3 GB)."""
    detector.detect_batch([WARM_UP_TEXT])
    if detector.name == "cascade":
        from pipeline.enrich.langid import lingua_backend

        lingua_backend.preload_for(languages)
