"""What a run returns: :class:`SolveResult`, :class:`PhysicsResult` and :class:`CountResult`,
each built from its graph's final state and printed by ``--json``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from qvq_agent.agent.checks import Finding
from qvq_agent.agent.checks.physics import Given
from qvq_agent.agent.state import Status, ToolCallRecord, Usage


def _no_usage() -> Usage:
    return Usage(prompt_tokens=0, completion_tokens=0, requests=0)


def finished_status(values: dict[str, Any], error: str | None) -> Status:
    """The status a run ended with: ``error`` when the server failed, never ``running``."""
    if error:
        return "error"
    status: Status = values.get("status", "unverified")
    return "unverified" if status == "running" else status


def findings_json(findings: list[Finding]) -> list[dict[str, Any]]:
    """Findings as ``--json`` prints them."""
    return [
        {
            "check": f["check"],
            "message": f["message"],
            "severity": f["severity"],
            "start": f["start"],
            "end": f["end"],
            "confidence": f["confidence"],
        }
        for f in findings
    ]


@dataclass
class SolveResult:
    """The outcome of one run of the solve graph."""

    answer: str | None
    status: Status
    steps: int = 0
    revisions: int = 0
    tool_calls: list[ToolCallRecord] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    """What the verifier found last and acted on (sent back, or gave up over)."""
    notes: list[Finding] = field(default_factory=list)
    """What it found last and did not act on: warnings and low-confidence findings."""
    usage: Usage = field(default_factory=_no_usage)
    error: str | None = None

    @classmethod
    def from_state(cls, values: dict[str, Any], error: str | None = None) -> SolveResult:
        """The result from the graph's last state (and the server error that ended it)."""
        return cls(**_solve_fields(values, error))

    def to_json(self) -> dict[str, Any]:
        """The ``solve --json`` object."""
        return {
            "answer": self.answer,
            "status": self.status,
            "steps": self.steps,
            "revisions": self.revisions,
            "tool_calls": [
                {"name": c["name"], "arguments": c["arguments"], "ok": c["ok"]}
                for c in self.tool_calls
            ],
            "findings": findings_json(self.findings),
            "notes": findings_json(self.notes),
            "usage": dict(self.usage),
            "error": self.error,
        }


def _solve_fields(values: dict[str, Any], error: str | None) -> dict[str, Any]:
    return {
        "answer": values.get("answer"),
        "status": finished_status(values, error),
        "steps": values.get("steps", 0),
        "revisions": values.get("revisions", 0),
        "tool_calls": list(values.get("tool_calls", [])),
        "findings": list(values.get("findings", [])),
        "notes": list(values.get("notes", [])),
        "usage": values.get("usage") or _no_usage(),
        "error": error,
    }


@dataclass
class PhysicsResult(SolveResult):
    """The outcome of the physics graph: also the givens, the equations and the choice letter."""

    givens: list[Given] = field(default_factory=list)
    equations: list[str] = field(default_factory=list)
    choice: str | None = None

    @classmethod
    def from_state(cls, values: dict[str, Any], error: str | None = None) -> PhysicsResult:
        """The result from the graph's last state (and the server error that ended it)."""
        return cls(
            **_solve_fields(values, error),
            givens=list(values.get("givens", [])),
            equations=list(values.get("equations", [])),
            choice=values.get("choice"),
        )

    def to_json(self) -> dict[str, Any]:
        """The ``solve --graph physics --json`` object."""
        return {
            "choice": self.choice,
            "givens": self.givens,
            "equations": self.equations,
            **super().to_json(),
        }


@dataclass
class CountResult:
    """The outcome of a count."""

    answer: int | None
    points: list[list[float]]
    tiles: int
    requests: int
    status: Status
    findings: list[Finding] = field(default_factory=list)
    error: str | None = None
    usage: Usage = field(default_factory=_no_usage)

    @classmethod
    def from_state(cls, values: dict[str, Any], error: str | None = None) -> CountResult:
        """The result from the graph's last state (and the server error that ended it)."""
        usage = values.get("usage") or _no_usage()
        return cls(
            answer=values.get("answer"),
            points=[list(p) for p in values.get("points", [])],
            tiles=int(values.get("tiles") or 0),
            requests=int(usage.get("requests", 0)),
            status=finished_status(values, error),
            findings=list(values.get("findings", [])),
            error=error,
            usage=usage,
        )

    def to_json(self) -> dict[str, Any]:
        """The ``count --json`` object; points in original-image pixels."""
        return {
            "answer": self.answer,
            "points": [[round(x, 1), round(y, 1)] for x, y in self.points],
            "tiles": self.tiles,
            "requests": self.requests,
            "status": self.status,
            "findings": [{"check": f["check"], "message": f["message"]} for f in self.findings],
            "usage": dict(self.usage),
            "error": self.error,
        }
