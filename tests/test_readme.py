"""The README's settings table is what users configure from: it must name every variable the
code reads, with the default the code uses."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import AliasChoices

from pipeline.core.settings import Settings

README = Path(__file__).resolve().parents[1] / "README.md"


def _settings_rows() -> dict[str, str]:
    """Variable → its default cell, from the rows of the README's Settings table."""
    text = README.read_text()
    table = text[text.index("### Settings") :]
    table = table[: table.index("\n## ")]
    rows: dict[str, str] = {}
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 3 or not cells[0].startswith("`"):
            continue
        names = re.findall(r"`([A-Z_]+)`", cells[0])
        defaults = [d.strip().strip("`") for d in cells[1].split(" / ")]
        for i, name in enumerate(names):
            rows[name] = defaults[i] if len(defaults) == len(names) else cells[1]
    return rows


def _variable(name: str) -> str:
    alias = Settings.model_fields[name].validation_alias
    if isinstance(alias, AliasChoices):
        return str(alias.choices[0])
    return f"{Settings.model_config.get('env_prefix', '')}{name}".upper()


def _shown(default: object) -> str:
    if default is None:
        return "unset"
    if isinstance(default, bool):
        return str(default).lower()
    return str(default)


def test_readme_lists_every_setting_with_its_default() -> None:
    rows = _settings_rows()
    for name, field in Settings.model_fields.items():
        variable = _variable(name)
        assert variable in rows, f"{variable} is missing from the README's Settings table"
        if name in {"broker", "store"}:  # defaults described in words (embedded broker, a path)
            continue
        assert rows[variable].startswith(_shown(field.default)), (
            f"README says {variable} defaults to {rows[variable]!r}; the code: {field.default!r}"
        )


def test_readme_names_no_setting_the_code_does_not_read() -> None:
    known = {_variable(name) for name in Settings.model_fields}
    assert set(_settings_rows()) <= known
