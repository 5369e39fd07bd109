"""Verifier checks, one module each; importing this package registers them by name."""

from __future__ import annotations

from qvq_agent.agent.checks import answer, loop
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

DEFAULT_CHECKS: tuple[str, ...] = ("loop", "no_final_answer")
"""Checks the verifier runs unless told otherwise."""

__all__ = [
    "DEFAULT_CHECKS",
    "Check",
    "Finding",
    "ToolOutcome",
    "TraceInput",
    "answer",
    "check_names",
    "get_check",
    "loop",
    "register_check",
    "run_checks",
]
