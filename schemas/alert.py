"""Alert v1: something happened in the campaign that a person should know about."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec

Severity = Literal["info", "warning", "critical"]


class Alert(msgspec.Struct, frozen=True, kw_only=True, tag="alert/1", tag_field="schema"):
    id: str  # deterministic: rule + window + subject, so the same alert is never new twice
    rule: str
    severity: Severity
    subject: str
    summary: str
    window_start: datetime
    window_end: datetime
    value: float
    threshold: float
    examples: list[str] = []  # post uids
    links: list[str] = []
    raised_at: datetime
