"""qvq-agent: a LangGraph agent that makes a visual reasoning model look again and checks its work.

Public API: :func:`solve`, :func:`asolve`, :func:`count`, :func:`acount`, :func:`build_graph`,
:func:`run_tool`, :func:`as_tool`, :class:`Settings`, :class:`RunSettings`, :class:`Context`,
:class:`ModelProfile` and the result types. Names are imported on first use, so that light parts of the package
(the math worker process) start without loading LangGraph.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from qvq_agent.agent.context import Context
    from qvq_agent.graphs.solve import build_graph
    from qvq_agent.images import ImageLoadError, ImageStore
    from qvq_agent.integrations import as_tool
    from qvq_agent.profiles import ModelProfile, get_profile, profile_for_model
    from qvq_agent.results import CountResult, PhysicsResult, SolveResult
    from qvq_agent.settings import RunSettings, Settings
    from qvq_agent.solver import acount, asolve, count, solve
    from qvq_agent.tools import run_tool

_EXPORTS = {
    "Context": "qvq_agent.agent.context",
    "build_graph": "qvq_agent.graphs.solve",
    "as_tool": "qvq_agent.integrations",
    "ImageLoadError": "qvq_agent.images",
    "ImageStore": "qvq_agent.images",
    "ModelProfile": "qvq_agent.profiles",
    "get_profile": "qvq_agent.profiles",
    "profile_for_model": "qvq_agent.profiles",
    "RunSettings": "qvq_agent.settings",
    "Settings": "qvq_agent.settings",
    "CountResult": "qvq_agent.results",
    "PhysicsResult": "qvq_agent.results",
    "SolveResult": "qvq_agent.results",
    "acount": "qvq_agent.solver",
    "asolve": "qvq_agent.solver",
    "count": "qvq_agent.solver",
    "solve": "qvq_agent.solver",
    "run_tool": "qvq_agent.tools",
}

__all__ = [
    "Context",
    "CountResult",
    "ImageLoadError",
    "ImageStore",
    "ModelProfile",
    "PhysicsResult",
    "RunSettings",
    "Settings",
    "SolveResult",
    "acount",
    "as_tool",
    "asolve",
    "build_graph",
    "count",
    "get_profile",
    "profile_for_model",
    "run_tool",
    "solve",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'qvq_agent' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
