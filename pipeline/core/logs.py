"""Logging: one line per event, as text for people or JSON for machines."""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime

import orjson

# Faust, mode and aiokafka narrate every rebalance at INFO; keep them to warnings unless asked.
# Faust's services log under the module of their class: hashwatch's App and consumer subclasses
# (pipeline.stages.transport) narrate start and stop the same way.
_CHATTY = ("faust", "mode", "aiokafka", "kafka", "pipeline.stages.transport")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        event = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            event["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(event).decode()


def configure(level: str = "info", fmt: str = "text", verbose_libraries: bool = False) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in _CHATTY:
        logging.getLogger(name).setLevel(level.upper() if verbose_libraries else "WARNING")
