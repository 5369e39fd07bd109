"""Tools the model can call: the registry and the built-in tool families.

Names are imported on first use (the math worker process imports only what it needs).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from qvq_agent.tools.registry import (
        Tool,
        ToolEnv,
        ToolError,
        ToolRegistry,
        ToolResult,
        default_registry,
        tool,
    )

__all__ = ["Tool", "ToolEnv", "ToolError", "ToolRegistry", "ToolResult", "default_registry", "tool"]


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module 'qvq_agent.tools' has no attribute {name!r}")
    return getattr(importlib.import_module("qvq_agent.tools.registry"), name)
