"""Verifier checks, one module each; importing this package registers them by name."""

from __future__ import annotations

from qvq_agent.agent.checks import answer, arithmetic, circular, language, loop
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

__all__ = [
    "DEFAULT_CHECKS",
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
    "register_check",
    "run_checks",
]
