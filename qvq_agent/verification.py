"""Verify reasoning traces offline: read a text file or JSONL, run the checks, give verdicts.

Used by ``qvq-agent verify`` and the trace benchmark; the same checks and verdict rule as the
verifier node.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qvq_agent.agent.checks import DEFAULT_CHECKS, Finding, TraceInput, run_checks
from qvq_agent.agent.checks.base import DEFAULT_REVISE_CONFIDENCE, split_findings
from qvq_agent.agent.context import Context
from qvq_agent.agent.judge import judge_findings
from qvq_agent.agent.verifier import decide
from qvq_agent.answers import extract_final_answer
from qvq_agent.results import findings_json
from qvq_agent.untrusted import UntrustedJSONError, load_json


class TraceFileError(ValueError):
    """A trace file that cannot be read; the message names the file (and line)."""


MAX_TRACE_CHARS = 500_000
"""``verify`` checks at most this much of one trace (about 125k tokens); it says so when it cuts."""


@dataclass(frozen=True)
class TraceRecord:
    """One trace to verify."""

    id: str
    question: str
    trace: str
    note: str | None = None
    """Why the trace is not checked whole (it was cut at :data:`MAX_TRACE_CHARS`)."""


@dataclass(frozen=True)
class TraceVerdict:
    """The checks' verdict on one trace."""

    id: str
    verdict: str
    answer: str | None
    findings: list[Finding]
    """Findings that would send the model back."""
    trace: str
    note: str | None = None
    notes: list[Finding] = field(default_factory=list)
    """Findings that would only be reported: warnings and low-confidence ones."""

    def to_json(self) -> dict[str, Any]:
        """The ``verify --json`` line."""
        out: dict[str, Any] = {
            "id": self.id,
            "verdict": self.verdict,
            "answer": self.answer,
            "findings": findings_json(self.findings),
            "notes": findings_json(self.notes),
        }
        if self.note:
            out["note"] = self.note
        return out


def _record(id_: str, question: str, trace: str, total: int | None = None) -> TraceRecord:
    size = len(trace) if total is None else total
    if size <= MAX_TRACE_CHARS:
        return TraceRecord(id_, question, trace)
    note = f"only the first {MAX_TRACE_CHARS:,} of {size:,} characters were checked"
    return TraceRecord(id_, question, trace[:MAX_TRACE_CHARS], note)


def read_traces(path: Path, question: str = "") -> Iterator[TraceRecord | TraceFileError]:
    """Traces in ``path``: a ``.jsonl`` file (``{"id", "question", "trace"}`` per line) or one
    plain-text trace. A bad JSONL line is yielded as an error and reading goes on; a trace
    longer than :data:`MAX_TRACE_CHARS` is cut there, with a note.

    Raises:
        TraceFileError: the file cannot be read at all.
    """
    try:
        handle = path.open(encoding="utf-8", errors="strict", newline="")
    except FileNotFoundError:
        raise TraceFileError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise TraceFileError(f"{path}: cannot read it ({exc})") from None
    with handle:
        try:
            if path.suffix != ".jsonl":
                text = handle.read(MAX_TRACE_CHARS + 1)
                rest = len(handle.read()) if len(text) > MAX_TRACE_CHARS else 0
                yield _record(path.stem, question, text, len(text) + rest)
                return
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    row = load_json(line)
                except UntrustedJSONError as exc:
                    yield TraceFileError(f"{path}:{number}: not valid JSON ({exc})")
                    continue
                if not isinstance(row, dict) or not isinstance(row.get("trace"), str):
                    yield TraceFileError(f'{path}:{number}: needs an object with a "trace" string')
                    continue
                yield _record(
                    str(row.get("id", number)), str(row.get("question") or question), row["trace"]
                )
        except UnicodeDecodeError as exc:
            yield TraceFileError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})")
        except OSError as exc:
            yield TraceFileError(f"{path}: cannot read it ({exc})")


def verify_trace(
    record: TraceRecord,
    checks: Sequence[str] = DEFAULT_CHECKS,
    threshold: float = DEFAULT_REVISE_CONFIDENCE,
) -> TraceVerdict:
    """Run the checks on one trace; ``revise`` when an error at or above ``threshold`` remains
    (the same rule as the verifier node)."""
    findings = run_checks(checks, TraceInput(record.trace, question=record.question))
    return _verdict(record, findings, threshold)


async def averify_trace(record: TraceRecord, checks: Sequence[str], ctx: Context) -> TraceVerdict:
    """:func:`verify_trace` with the context's threshold, and its judge when ``judge`` is on
    (the served model is asked about each circular / answer_mismatch finding that would block)."""
    findings = run_checks(checks, TraceInput(record.trace, question=record.question))
    if ctx.settings.judge:
        findings, _ = await judge_findings(ctx, record.question, record.trace, findings)
    return _verdict(record, findings, ctx.settings.revise_confidence)


def _verdict(record: TraceRecord, findings: list[Finding], threshold: float) -> TraceVerdict:
    verdict = "revise" if decide(findings, True, threshold) == "revise" else "pass"
    blocking, notes = split_findings(findings, threshold)
    return TraceVerdict(
        record.id,
        verdict,
        extract_final_answer(record.trace),
        blocking,
        record.trace,
        record.note,
        notes,
    )
