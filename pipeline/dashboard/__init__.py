"""The live dashboard: ``serve_dashboard`` for in-process use, ``dashboard_command`` for the CLI.

Exports load on first use, so registering the CLI command imports neither aiohttp nor
aiokafka until the dashboard actually runs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pipeline.dashboard.access import DashboardConfigError, check_bind
    from pipeline.dashboard.cli import dashboard_command
    from pipeline.dashboard.server import DashboardHandle, serve_dashboard
    from pipeline.dashboard.state import DashboardState

_EXPORTS = {
    "dashboard_command": "pipeline.dashboard.cli",
    "DashboardConfigError": "pipeline.dashboard.access",
    "DashboardHandle": "pipeline.dashboard.server",
    "check_bind": "pipeline.dashboard.access",
    "serve_dashboard": "pipeline.dashboard.server",
    "DashboardState": "pipeline.dashboard.state",
}

__all__ = [
    "DashboardConfigError",
    "DashboardHandle",
    "DashboardState",
    "check_bind",
    "dashboard_command",
    "serve_dashboard",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
