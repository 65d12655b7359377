"""What every backend returns and promises, and the language-code conventions they share."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

UND = "und"  # ISO 639-2 "undetermined": too little text to tell, or no backend could say

# Labels whose model code is not the ISO code we publish (639-1 where one exists, else 639-3).
_ISO_FIXES = {
    "als": "gsw",  # fastText's "als" is the Alemannic Wikipedia; 639-3 "als" is Tosk Albanian
    # "no" is the Norwegian macrolanguage; fastText and langdetect learnt it from Bokmål text,
    # and lingua (like the test data) tells Bokmål "nb" from Nynorsk "nn".
    "no": "nb",
    "zh-cn": "zh",  # langdetect splits Chinese by script; the pipeline reports the language
    "zh-tw": "zh",
}


@dataclass(frozen=True, slots=True)
class Detection:
    """One text's language: `lang` is ISO 639-1 where one exists else 639-3, `und` if unknown."""

    lang: str
    confidence: float  # 0..1, the deciding backend's own probability for `lang`
    backend: str  # the backend that decided, e.g. "fasttext" or "lingua" inside the cascade


@runtime_checkable
class Detector(Protocol):
    """A language detector; `detect_batch` is the fast path the pipeline calls per batch."""

    name: str

    def detect(self, text: str) -> Detection: ...

    def detect_batch(self, texts: Sequence[str]) -> list[Detection]: ...


def iso_code(label: str) -> str:
    """Map a model's label to the code the pipeline publishes."""
    return _ISO_FIXES.get(label, label)


def normalize_languages(languages: Iterable[str] | None) -> frozenset[str] | None:
    """Lower-case and de-duplicate a campaign's language list; None (or empty) means all."""
    if languages is None:
        return None
    if isinstance(languages, str):  # a lone "en" would otherwise become {"e", "n"}
        languages = [languages]
    codes = frozenset(iso_code(code.strip().lower()) for code in languages if code.strip())
    return codes or None


def check_known(backend: str, wanted: frozenset[str] | None, known: Iterable[str]) -> None:
    """Refuse a restriction to languages the backend cannot detect: they would never come out."""
    if wanted is None:
        return
    unknown = sorted(wanted - set(known))
    if unknown:
        raise ValueError(f"{backend} cannot detect {', '.join(unknown)}")
