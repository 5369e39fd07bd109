"""Verify reasoning traces offline: read a text file or JSONL, run the checks, give verdicts.

Used by ``qvq-agent verify`` and the trace benchmark; the same checks and verdict rule as the
verifier node.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qvq_agent.agent.checks import DEFAULT_CHECKS, Finding, TraceInput, run_checks
from qvq_agent.agent.verifier import decide
from qvq_agent.answers import extract_final_answer


class TraceFileError(ValueError):
    """A trace file that cannot be read; the message names the file (and line)."""


@dataclass(frozen=True)
class TraceRecord:
    """One trace to verify."""

    id: str
    question: str
    trace: str


@dataclass(frozen=True)
class TraceVerdict:
    """The checks' verdict on one trace."""

    id: str
    verdict: str
    answer: str | None
    findings: list[Finding]
    trace: str

    def to_json(self) -> dict[str, Any]:
        """The ``verify --json`` line."""
        return {
            "id": self.id,
            "verdict": self.verdict,
            "answer": self.answer,
            "findings": [
                {"check": f["check"], "message": f["message"], "start": f["start"], "end": f["end"]}
                for f in self.findings
            ],
        }


def read_traces(path: Path, question: str = "") -> Iterator[TraceRecord | TraceFileError]:
    """Traces in ``path``: a ``.jsonl`` file (``{"id", "question", "trace"}`` per line) or one
    plain-text trace. A bad JSONL line is yielded as an error and reading goes on.

    Raises:
        TraceFileError: the file cannot be read at all.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TraceFileError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise TraceFileError(f"{path}: cannot read it ({exc})") from None
    if path.suffix != ".jsonl":
        yield TraceRecord(path.stem, question, text)
        return
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            yield TraceFileError(f"{path}:{number}: not valid JSON ({exc.msg})")
            continue
        if not isinstance(row, dict) or not isinstance(row.get("trace"), str):
            yield TraceFileError(f'{path}:{number}: needs an object with a "trace" string')
            continue
        yield TraceRecord(
            str(row.get("id", number)), str(row.get("question") or question), row["trace"]
        )


def verify_trace(record: TraceRecord, checks: Sequence[str] = DEFAULT_CHECKS) -> TraceVerdict:
    """Run the checks on one trace; ``revise`` when any error-level finding remains."""
    findings = run_checks(checks, TraceInput(record.trace, question=record.question))
    verdict = "revise" if decide(findings, can_revise=True) == "revise" else "pass"
    return TraceVerdict(
        record.id, verdict, extract_final_answer(record.trace), findings, record.trace
    )
