"""What every check shares: the finding record, the check's input, and the check registry.

A check is a pure function from a :class:`TraceInput` to a list of :class:`Finding`; checks are
registered by name, and the verifier runs the ones its context names.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal, TypedDict

from qvq_agent.profiles import DEFAULT_MARKERS
from qvq_agent.settings import REVISE_CONFIDENCE

Severity = Literal["error", "warning"]


class Finding(TypedDict):
    """One problem found in a trace; offsets index the trace text."""

    check: str
    """Name of the check (public contract: ``loop``, ``no_final_answer``, ...)."""
    severity: Severity
    """``error`` sends the model back with a critique; ``warning`` is only reported."""
    message: str
    """What is wrong and how to fix it, addressed to the model."""
    start: int
    """Offset where the problem starts."""
    end: int
    """Offset where it ends."""
    evidence: str
    """The span quoted (clipped)."""
    confidence: float
    """How sure the check is, 0 to 1: only ``error`` findings at or above the run's
    ``revise_confidence`` send the model back; the rest are reported as notes."""


@dataclass(frozen=True)
class ToolOutcome:
    """A tool call made during the run, as the checks see it."""

    name: str
    ok: bool
    text: str
    value: str | None = None


@dataclass(frozen=True)
class TraceInput:
    """What a check reads: the trace, the question, what the tools returned, how answers look."""

    text: str
    question: str = ""
    tool_results: Sequence[ToolOutcome] = ()
    answer_markers: Sequence[str] = DEFAULT_MARKERS
    choices: Sequence[str] = field(default_factory=tuple)
    cut_by_guard: bool = False
    """True when the online loop guard cancelled this reply (the text is incomplete)."""


Check = Callable[[TraceInput], list[Finding]]

EVIDENCE_CHARS = 160


def make_finding(
    check: str,
    message: str,
    text: str,
    start: int,
    end: int,
    severity: Severity = "error",
    *,
    confidence: float = 1.0,
) -> Finding:
    """A finding with its evidence clipped from ``text[start:end]``."""
    span = text[start:end].strip()
    if len(span) > EVIDENCE_CHARS:
        span = span[: EVIDENCE_CHARS - 1] + "…"
    return Finding(
        check=check,
        severity=severity,
        message=message,
        start=start,
        end=end,
        evidence=span,
        confidence=round(min(1.0, max(0.0, confidence)), 3),
    )


DEFAULT_REVISE_CONFIDENCE = REVISE_CONFIDENCE
"""Findings at or above this confidence send the model back (``RunSettings.revise_confidence``)."""


def blocks(finding: Finding, threshold: float = DEFAULT_REVISE_CONFIDENCE) -> bool:
    """True for a finding that sends the model back: an error at or above ``threshold``."""
    return finding["severity"] == "error" and finding.get("confidence", 1.0) >= threshold


def split_findings(
    findings: Sequence[Finding], threshold: float = DEFAULT_REVISE_CONFIDENCE
) -> tuple[list[Finding], list[Finding]]:
    """The findings that send the model back, and the rest (warnings, low confidence): notes."""
    blocking = [f for f in findings if blocks(f, threshold)]
    return blocking, [f for f in findings if not blocks(f, threshold)]


_REGISTRY: dict[str, Check] = {}


def register_check(name: str) -> Callable[[Check], Check]:
    """Register a check under ``name``; names are unique."""

    def wrap(fn: Check) -> Check:
        if name in _REGISTRY:
            raise ValueError(f"a check named {name!r} is already registered")
        _REGISTRY[name] = fn
        return fn

    return wrap


def get_check(name: str) -> Check:
    """The check registered as ``name``.

    Raises:
        KeyError: no such check; the message lists the known ones.
    """
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown check {name!r}; known: {', '.join(sorted(_REGISTRY))}") from None


def check_names() -> list[str]:
    """Names of all registered checks."""
    return sorted(_REGISTRY)


def run_checks(names: Sequence[str], trace: TraceInput) -> list[Finding]:
    """Run the named checks in order and collect their findings, sorted by position."""
    findings: list[Finding] = []
    for name in names:
        findings.extend(get_check(name)(trace))
    return sorted(findings, key=lambda f: (f["start"], f["check"]))
