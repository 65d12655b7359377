"""Test doubles for the pipeline side, kept with the package so every test uses the same ones."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from pipeline.enrich.langid.base import Detection


class ScriptedDetector:
    """Answers from a function of the text, and counts calls so tests can assert batching."""

    name = "scripted"

    def __init__(self, decide: Callable[[str], str] | None = None) -> None:
        self.decide = decide or (
            lambda text: "ar" if any("\u0600" <= c <= "\u06ff" for c in text) else "en"
        )
        self.batches: list[int] = []

    def detect(self, text: str) -> Detection:
        return self.detect_batch([text])[0]

    def detect_batch(self, texts: Sequence[str]) -> list[Detection]:
        self.batches.append(len(texts))
        return [Detection(self.decide(t), 0.99, self.name) for t in texts]
