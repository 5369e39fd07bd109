"""Verifier checks, one module each; importing this package registers them by name."""

from __future__ import annotations

from qvq_agent.agent.checks import answer, arithmetic, circular, language, loop, physics
from qvq_agent.agent.checks.base import (
    Check,
    Finding,
    ToolOutcome,
    TraceInput,
    check_names,
    get_check,
    register_check,
    run_checks,
)

DEFAULT_CHECKS: tuple[str, ...] = (
    "loop",
    "circular",
    "language_mixing",
    "arithmetic",
    "no_final_answer",
    "answer_mismatch",
)
"""Checks the verifier runs unless told otherwise (``ungrounded`` needs the model: opt in)."""

PHYSICS_CHECKS: tuple[str, ...] = ("tool_agreement", "units", "substitution", "choice")
"""Extra checks of the physics graph."""

__all__ = [
    "DEFAULT_CHECKS",
    "PHYSICS_CHECKS",
    "Check",
    "Finding",
    "ToolOutcome",
    "TraceInput",
    "answer",
    "arithmetic",
    "check_names",
    "circular",
    "get_check",
    "language",
    "loop",
    "physics",
    "register_check",
    "run_checks",
]
