"""Write ``schemas/json/<name>.json`` from the records: ``python -m schemas.generate``."""

from __future__ import annotations

import sys
from pathlib import Path

import msgspec
import orjson

from schemas.codec import RECORD_TYPES

JSON_DIR = Path(__file__).parent / "json"


def schema_document(name: str, record_type: type) -> dict[str, object]:
    doc: dict[str, object] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://hashwatch.invalid/schemas/{name}.json",
        "title": name,
    }
    doc.update(msgspec.json.schema(record_type))
    return doc


def render(name: str, record_type: type) -> bytes:
    return orjson.dumps(schema_document(name, record_type), option=orjson.OPT_INDENT_2) + b"\n"


def main() -> int:
    JSON_DIR.mkdir(exist_ok=True)
    for name, record_type in RECORD_TYPES.items():
        (JSON_DIR / f"{name}.json").write_bytes(render(name, record_type))
        print(f"wrote schemas/json/{name}.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
