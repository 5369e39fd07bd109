"""Physics checks: the answer comes from sympy, fits the asked unit, satisfies the equations, and
names exactly one choice. Registered as ``tool_agreement``, ``units``, ``substitution`` and
``choice``; the physics graph runs them after the general checks.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypedDict

from qvq_agent import prompts
from qvq_agent.agent.checks.base import Finding, TraceInput, make_finding, register_check
from qvq_agent.answers import choice_text, equivalent, find_final_answers, parse_answer
from qvq_agent.tools import safe_math


class Given(TypedDict):
    """A quantity read off the figure or the text."""

    name: str
    value: float
    unit: str
    where: str


@dataclass(frozen=True)
class PhysicsTrace(TraceInput):
    """A trace of the physics graph: also the givens and equations the model wrote."""

    givens: Sequence[Given] = ()
    """Quantities the model read off the figure."""
    equations: Sequence[str] = ()
    """Equations the model wrote down."""


_ASKED_UNIT = re.compile(
    r"\b(?:in|into|as)\s+(m/s\^?2|m/s²|m/s|km/h|cm|mm|km|kg|m|s|N|J|W|V|A|Pa|Hz|ohms?|Ω|"
    r"meters?|metres?|seconds?|newtons?|joules?|watts?|volts?|amperes?|amps?|degrees?)\b",
    re.IGNORECASE,
)
_UNIT_NAMES = {
    "meter": "m",
    "meters": "m",
    "metre": "m",
    "metres": "m",
    "second": "s",
    "seconds": "s",
    "newton": "N",
    "newtons": "N",
    "joule": "J",
    "joules": "J",
    "watt": "W",
    "watts": "W",
    "volt": "V",
    "volts": "V",
    "ampere": "A",
    "amperes": "A",
    "amp": "A",
    "amps": "A",
    "ohms": "ohm",
    "Ω": "ohm",
}


def _final(trace: TraceInput) -> tuple[str, int, int] | None:
    answers = find_final_answers(trace.text, trace.answer_markers)
    return (answers[-1].text, answers[-1].start, answers[-1].end) if answers else None


def not_checked(check: str, text: str, final: tuple[str, int, int]) -> Finding:
    """A note (not a critique) for a check that ran out of time on model-written math."""
    return make_finding(
        check,
        prompts.FINDING_NOT_CHECKED.format(check=check),
        text,
        final[1],
        final[2],
        severity="warning",
    )


@register_check("tool_agreement")
def check_tool_agreement(trace: TraceInput) -> list[Finding]:
    """A numeric final answer must equal a result that `solve` or `calculate` gave."""
    final = _final(trace)
    results = [
        t for t in trace.tool_results if t.ok and t.name in ("calculate", "solve") and t.value
    ]
    if final is None or not results or parse_answer(final[0]).kind != "number":
        return []
    candidates = []
    gave_up = False
    for result in results:
        for piece in re.split(r";\s*or\s*|,\s*(?=[A-Za-z]\w*\s*=)", result.value or "")[:16]:
            value = piece.split("=", 1)[-1].split("≈")[-1].strip()
            value = re.sub(r"\*(?=[a-z])", " ", value)  # sympy's 19.6*meter/second
            candidates.append(value)
            verdict = equivalent(final[0], value, precision="stated")
            if verdict:
                return []
            gave_up = gave_up or verdict.gave_up
    if gave_up:
        return [not_checked("tool_agreement", trace.text, final)]
    shown = ", ".join(candidates[-3:])
    return [
        make_finding(
            "tool_agreement",
            prompts.FINDING_NOT_FROM_TOOLS.format(answer=final[0], results=shown),
            trace.text,
            final[1],
            final[2],
        )
    ]


def asked_unit(question: str) -> str | None:
    """The unit the question asks for ("... in m/s?"), if it names one."""
    match = _ASKED_UNIT.search(question)
    if not match:
        return None
    unit = match.group(1)
    return _UNIT_NAMES.get(unit.lower(), _UNIT_NAMES.get(unit, unit))


@register_check("units")
def check_units(trace: TraceInput) -> list[Finding]:
    """The answer's unit must measure what the question asks for."""
    final = _final(trace)
    unit = asked_unit(trace.question)
    if final is None or unit is None or unit.lower().startswith("degree"):
        return []
    answer = parse_answer(final[0])
    if answer.unit is None or answer.kind != "number":
        return []
    verdict = equivalent(f"1 {unit}", f"1 {answer.unit}")
    if verdict.gave_up:
        return [not_checked("units", trace.text, final)]
    if "different quantities" in verdict.reason:
        return [
            make_finding(
                "units",
                prompts.FINDING_WRONG_UNIT.format(answer=final[0], unit=unit),
                trace.text,
                final[1],
                final[2],
            )
        ]
    return []


def _to_si(quantities: list[tuple[float, str]]) -> list[float | None]:
    """Values in SI base units, through pint in the math worker (``None``: unreadable unit)."""
    from qvq_agent.tools.math_worker import MathWorkerError, worker

    with_units = [(i, v, u) for i, (v, u) in enumerate(quantities) if u]
    out: list[float | None] = [v for v, _ in quantities]
    if not with_units:
        return out
    try:
        converted = worker().ask(
            {"kind": "to_si", "quantities": [[v, u] for _, v, u in with_units]}
        )
    except MathWorkerError:
        return [None if u else v for v, u in quantities]
    for (i, _, _), (value, _) in zip(with_units, converted, strict=True):
        out[i] = value
    return out


_NO_UNIT = ("", "1", "none", "rad", "radian", "radians")
_DEGREE_UNITS = ("deg", "degree", "degrees", "°")


@register_check("substitution")
def check_substitution(trace: TraceInput) -> list[Finding]:
    """Put the givens and the answer back into the equations: each must hold."""
    final = _final(trace)
    if not isinstance(trace, PhysicsTrace) or final is None:
        return []
    if not trace.equations or not trace.givens:
        return []
    answer = parse_answer(final[0])
    if answer.kind != "number" or answer.value is None:
        return []
    quantities: list[tuple[float, str]] = [(answer.value, answer.unit or "")]
    for given in trace.givens:
        unit = (given.get("unit") or "").strip()
        value = float(given["value"])
        if unit.lower() in _DEGREE_UNITS:
            value, unit = math.radians(value), ""
        elif unit.lower() in _NO_UNIT:
            unit = ""
        quantities.append((value, unit))
    answer_value, *given_values = _to_si(quantities)
    if answer_value is None:
        return []
    known = {g["name"]: v for g, v in zip(trace.givens, given_values, strict=True) if v is not None}
    for equation in trace.equations:
        if equation.count("=") != 1:
            continue
        try:
            sides = [safe_math.parse(side) for side in equation.split("=")]
        except safe_math.MathError:
            continue
        unknowns = (safe_math.names_in(sides[0]) | safe_math.names_in(sides[1])) - set(known)
        unknowns -= set(safe_math.CONSTANT_NAMES)
        if len(unknowns) != 1:
            continue
        values = {**known, unknowns.pop(): answer_value}
        try:
            left, right = (safe_math.evaluate_float(side, values) for side in sides)
        except safe_math.MathError:
            continue
        scale = max(abs(left), abs(right), 1e-9)
        tolerance = (
            0.01 * scale if answer.decimals is None else max(0.01 * scale, 10**-answer.decimals)
        )
        if abs(left - right) > tolerance:
            return [
                make_finding(
                    "substitution",
                    prompts.FINDING_SUBSTITUTION.format(
                        answer=final[0], equation=equation, left=f"{left:.4g}", right=f"{right:.4g}"
                    ),
                    trace.text,
                    final[1],
                    final[2],
                )
            ]
    return []


@register_check("choice")
def check_choice(trace: TraceInput) -> list[Finding]:
    """With choices, the answer must name exactly one of them."""
    final = _final(trace)
    if final is None or not trace.choices:
        return []
    matches = matching_choices(final[0], trace.choices)
    if len(matches) == 1:
        return []
    return [
        make_finding(
            "choice",
            prompts.FINDING_CHOICE.format(
                answer=final[0],
                n=len(matches),
                letters=", ".join(sorted(matches)) or "none",
            ),
            trace.text,
            final[1],
            final[2],
        )
    ]


def matching_choices(answer: str, choices: Sequence[str]) -> set[str]:
    """Letters of the choices the answer is equivalent to (by letter, text or value)."""
    return {
        chr(ord("A") + i)
        for i, choice in enumerate(choices)
        if equivalent(answer, choice_text(choice), choices=choices, precision="stated")
    }


def choice_letter(answer: str | None, choices: list[str]) -> str | None:
    """The one choice letter the answer names, if exactly one."""
    if answer is None or not choices:
        return None
    matches = matching_choices(answer, choices)
    return matches.pop() if len(matches) == 1 else None
