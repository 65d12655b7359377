"""The store's schema versions, shipped in the package: ``migrations/<dialect>/NNNN_name.sql``."""

from __future__ import annotations

from importlib import resources


def migrations(dialect: str) -> list[tuple[int, str]]:
    """``(number, sql)`` of every migration for ``dialect``, in order."""
    folder = resources.files("pipeline.sinks").joinpath("migrations", dialect)
    found = [
        (int(f.name.split("_", 1)[0]), f.read_text())
        for f in folder.iterdir()
        if f.name.endswith(".sql")
    ]
    return sorted(found)
