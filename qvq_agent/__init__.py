"""qvq-agent: a LangGraph agent that makes a visual reasoning model look again and checks its work.

Public API: :func:`solve`, :func:`asolve`, :func:`build_graph`, :class:`Settings`,
:class:`ModelProfile`.
"""

from __future__ import annotations

from qvq_agent.agent.context import Context
from qvq_agent.graphs.solve import build_graph
from qvq_agent.images import ImageLoadError, ImageStore
from qvq_agent.profiles import ModelProfile, get_profile, profile_for_model
from qvq_agent.settings import Settings
from qvq_agent.solver import SolveResult, asolve, solve

__all__ = [
    "Context",
    "ImageLoadError",
    "ImageStore",
    "ModelProfile",
    "Settings",
    "SolveResult",
    "asolve",
    "build_graph",
    "get_profile",
    "profile_for_model",
    "solve",
]
