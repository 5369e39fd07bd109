"""Tools the model can call: the registry and the built-in tool families."""

from __future__ import annotations

from qvq_agent.tools.calculator import MATH_TOOLS
from qvq_agent.tools.image_ops import IMAGE_TOOLS
from qvq_agent.tools.registry import Tool, ToolEnv, ToolError, ToolRegistry, ToolResult, tool


def default_registry() -> ToolRegistry:
    """A registry with every built-in tool (crop, zoom, rotate, enhance, grid, mark, calculate, solve)."""
    return ToolRegistry([*IMAGE_TOOLS, *MATH_TOOLS])


__all__ = ["Tool", "ToolEnv", "ToolError", "ToolRegistry", "ToolResult", "default_registry", "tool"]
