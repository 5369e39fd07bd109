"""Tools the model can call: the registry, the built-in tool families, and running one by hand.

Names are imported on first use (the math worker process imports only what it needs).
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from qvq_agent.tools.registry import Tool, ToolEnv, ToolError, ToolRegistry, ToolResult, tool

__all__ = [
    "Tool",
    "ToolEnv",
    "ToolError",
    "ToolRegistry",
    "ToolResult",
    "ToolRun",
    "default_registry",
    "run_tool",
    "tool",
]

_REGISTRY_NAMES = ("Tool", "ToolEnv", "ToolError", "ToolRegistry", "ToolResult", "tool")

BUILTIN_TOOLS = {
    "crop": "qvq_agent.tools.image_ops",
    "zoom": "qvq_agent.tools.image_ops",
    "rotate": "qvq_agent.tools.image_ops",
    "enhance": "qvq_agent.tools.image_ops",
    "grid": "qvq_agent.tools.image_ops",
    "mark": "qvq_agent.tools.image_ops",
    "calculate": "qvq_agent.tools.calculator",
    "solve": "qvq_agent.tools.calculator",
}
"""Every built-in tool and the module that defines it (as ``tool_<name>``)."""


def __getattr__(name: str) -> Any:
    if name not in _REGISTRY_NAMES:
        raise AttributeError(f"module 'qvq_agent.tools' has no attribute {name!r}")
    return getattr(importlib.import_module("qvq_agent.tools.registry"), name)


@cache
def _builtin(name: str) -> Tool[Any]:
    tool_: Tool[Any] = getattr(importlib.import_module(BUILTIN_TOOLS[name]), f"tool_{name}")
    return tool_


def default_registry(names: Sequence[str] | None = None) -> ToolRegistry:
    """A registry with the built-in tools (all eight, or only ``names``), in the order above.

    Raises:
        KeyError: a name that is not a built-in tool.
    """
    from qvq_agent.tools.registry import ToolRegistry

    chosen = list(BUILTIN_TOOLS) if names is None else list(names)
    unknown = [n for n in chosen if n not in BUILTIN_TOOLS]
    if unknown:
        raise KeyError(f"no built-in tool {unknown[0]!r}; tools: {', '.join(BUILTIN_TOOLS)}")
    return ToolRegistry([_builtin(n) for n in chosen])


@dataclass(frozen=True)
class ToolRun:
    """One tool run by hand (``qvq-agent tool``): what it said and the image files it wrote."""

    ok: bool
    text: str
    images: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The ``tool --json`` object."""
        return {"ok": self.ok, "text": self.text, "images": self.images}


def run_tool(
    name: str,
    arguments: dict[str, Any],
    *,
    images: Sequence[str | Path] = (),
    profile: str = "qvq",
    out_dir: str | Path = ".",
) -> ToolRun:
    """Run one built-in tool exactly as the model would call it.

    Args:
        name: the tool (``crop``, ``calculate``, ...).
        arguments: its arguments, as the model writes them.
        images: image files, in order ``img0``, ``img1``, ...
        profile: the profile whose coordinate frame boxes and points use.
        out_dir: where the images the tool makes are written (``<id>.png``).

    Raises:
        ImageLoadError: an image file that cannot be read.
        UnknownProfileError: no such profile.
        OSError: ``out_dir`` cannot be made or written.
    """
    from qvq_agent.profiles import get_profile

    model_profile = get_profile(profile)
    if name not in BUILTIN_TOOLS:
        return ToolRun(False, f"no tool named {name!r}; tools: {', '.join(BUILTIN_TOOLS)}")
    from qvq_agent.images import ImageStore
    from qvq_agent.tools.registry import ToolEnv

    store = ImageStore()
    for path in images:
        store.add_file(path)
    result = _builtin(name).run(ToolEnv(store, model_profile), arguments)
    written = []
    if result.images:
        folder = Path(out_dir)
        folder.mkdir(parents=True, exist_ok=True)
        for image_id in result.images:
            path = folder / f"{image_id}.png"
            store.get(image_id).image.save(path)
            written.append(str(path))
    return ToolRun(result.ok, result.text, written)
