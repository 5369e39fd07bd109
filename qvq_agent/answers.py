"""Final answers: find where the model marks its answer, read it out, and compare answers.

QVQ writes ``**Final Answer**`` and then the answer (often ``\\boxed{...}``); other models use
``\\boxed{}`` alone or ``<answer>...</answer>``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from qvq_agent.profiles import DEFAULT_MARKERS


@dataclass(frozen=True)
class FinalAnswer:
    """A final answer found in a trace."""

    text: str
    """The answer, stripped of markers, ``\\boxed{}`` and surrounding math delimiters."""
    start: int
    """Offset of the marker in the trace."""
    end: int
    """Offset just past the answer."""


def _boxed_contents(text: str, start: int) -> tuple[str, int] | None:
    """Contents of ``\\boxed{...}`` starting at ``start`` (balanced braces) and the end offset."""
    opening = text.find("{", start)
    if opening == -1:
        return None
    depth = 0
    for i in range(opening, len(text)):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return text[opening + 1 : i], i + 1
    return None


_MATH_WRAP = re.compile(r"^(?:\\\[|\\\(|\$\$|\$)\s*(.*?)\s*(?:\\\]|\\\)|\$\$|\$)$", re.DOTALL)


def clean_answer(text: str) -> str:
    """Strip math delimiters, a single ``\\boxed{}``, bold markers and trailing periods."""
    answer = text.strip()
    box = answer.find("\\boxed{")
    if box != -1:
        inner = _boxed_contents(answer, box)
        if inner is not None:
            answer = inner[0]
    match = _MATH_WRAP.match(answer)
    if match:
        answer = match.group(1)
    answer = answer.strip().strip("*").strip()
    answer = answer.rstrip("。")
    if answer.endswith(".") and not answer[:-1].rstrip().endswith((".",)):
        answer = answer[:-1].rstrip()
    return answer


def find_final_answers(text: str, markers: Sequence[str] = DEFAULT_MARKERS) -> list[FinalAnswer]:
    """Every final answer the trace states, in order (a boxed answer right after a marker is one)."""
    found: list[FinalAnswer] = []
    covered_until = -1
    events: list[tuple[int, str]] = []
    for marker in markers:
        start = 0
        while (pos := text.find(marker, start)) != -1:
            events.append((pos, marker))
            start = pos + len(marker)
    for pos, marker in sorted(events):
        if pos < covered_until:
            continue
        if marker == "\\boxed{":
            inner = _boxed_contents(text, pos)
            if inner is None:
                continue
            answer, end = inner
        elif marker == "<answer>":
            close = text.find("</answer>", pos)
            end = close + len("</answer>") if close != -1 else len(text)
            answer = text[pos + len(marker) : close if close != -1 else len(text)]
        else:
            body_start = pos + len(marker)
            body = text[body_start:].lstrip(" :*\n")
            lead = len(text) - body_start - len(body)
            paragraph = re.split(r"\n\s*\n", body.strip(), maxsplit=1)[0] if body.strip() else ""
            # "**Final Answer**\n\n\[ \boxed{6} \]": the answer is the next paragraph.
            answer = paragraph
            end = body_start + lead + len(paragraph)
        cleaned = clean_answer(answer)
        if cleaned:
            found.append(FinalAnswer(cleaned, pos, end))
            covered_until = end
    return found


def extract_final_answer(text: str, markers: Sequence[str] = DEFAULT_MARKERS) -> str | None:
    """The last final answer in ``text``, or ``None`` when there is none."""
    answers = find_final_answers(text, markers)
    return answers[-1].text if answers else None


# ---------------------------------------------------------------- comparing answers

Kind = Literal["number", "expression", "choice", "text"]

_LATEX_WRAPPERS = re.compile(r"\\(?:text|mathrm|textbf|mathbf|operatorname)\s*\{([^{}]*)\}")
_DEGREE = re.compile(r"\s*(?:\^\s*\{?\s*\\circ\s*\}?|°|\\degree|\s+degrees?\b|\s*deg\b)")
_PERCENT = re.compile(r"\s*(?:\\%|%|\s+percent\b)")
_ASSIGNMENT = re.compile(r"^\s*(?:[A-Za-z]\w*(?:\s*\([^)]*\))?|\\?[a-z]+\s*[A-Za-z]?)\s*=\s*(?=\S)")
_CHOICE = re.compile(r"^\(?([A-Ha-h])\)?(?:[.):：]\s*(.*))?$")
_UNIT_WORDS = {
    "m": "meter",
    "meter": "meter",
    "meters": "meter",
    "metre": "meter",
    "cm": "centimeter",
    "mm": "millimeter",
    "km": "kilometer",
    "s": "second",
    "sec": "second",
    "seconds": "second",
    "ms": "millisecond",
    "min": "minute",
    "h": "hour",
    "hours": "hour",
    "kg": "kilogram",
    "g": "gram",
    "N": "newton",
    "J": "joule",
    "W": "watt",
    "V": "volt",
    "A": "ampere",
    "ohm": "ohm",
    "Ω": "ohm",
    "Pa": "pascal",
    "Hz": "hertz",
    "m/s": "meter/second",
    "m/s^2": "meter/second**2",
    "m/s²": "meter/second**2",
    "km/h": "kilometer/hour",
}
_UNIT_WORDS.update(  # the names sympy prints (a `calculate` result: 19.6*meter/second)
    {
        name: name
        for name in (
            "meter/second**2",
            "meter/second",
            "second",
            "kilogram",
            "newton",
            "joule",
            "watt",
            "volt",
            "ampere",
        )
    }
)
_UNIT_SUFFIX = re.compile(
    r"\s*(meter/second\*\*2|meter/second|kilogram|newton|joule|watt|volt|ampere|second|"
    r"m/s\^?2|m/s²|m/s|km/h|cm|mm|km|kg|ms|min|sec|seconds|hours|meters?|metres?|ohm|Ω|Pa|Hz|"
    r"[mgsNJWVAh])\s*$"
)


@dataclass(frozen=True)
class ParsedAnswer:
    """An answer read into a comparable form."""

    text: str
    """The answer as given, cleaned."""
    kind: Kind
    value: Any = None
    """A sympy number or expression (``number`` / ``expression``)."""
    unit: str | None = None
    """A sympy.physics.units expression in words (``meter/second``), if one was written."""
    degrees: bool = False
    percent: bool = False
    decimals: int | None = None
    """Decimals of a plain decimal literal (its stated precision)."""
    letter: str | None = None
    """The choice letter, for a ``choice``."""


@dataclass(frozen=True)
class Verdict:
    """Whether two answers are equivalent, and why."""

    equivalent: bool
    reason: str

    def __bool__(self) -> bool:
        return self.equivalent


def _strip(text: str) -> str:
    answer = clean_answer(text)
    answer = _LATEX_WRAPPERS.sub(r"\1", answer)
    answer = (
        answer.replace("\\left", "").replace("\\right", "").replace("\\!", "").replace("\\,", "")
    )
    answer = answer.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    return answer.strip().rstrip(".")


def parse_answer(text: str, choices: Sequence[str] = ()) -> ParsedAnswer:
    """Read an answer: a choice letter, a number (with unit, %, °), an expression, or text."""
    from qvq_agent.tools import safe_math, sympy_build

    answer = _strip(text)
    choice = _CHOICE.match(answer)
    if (
        choice
        and (choices or choice.group(2) is not None)
        and len(answer) <= 3 + len(choice.group(2) or "")
    ):
        letter = choice.group(1).upper()
        if not choices or ord(letter) - ord("A") < len(choices):
            return ParsedAnswer(answer, "choice", letter=letter)
    body = _ASSIGNMENT.sub("", answer)
    degrees = bool(_DEGREE.search(body))
    body = _DEGREE.sub("", body)
    percent = bool(_PERCENT.search(body))
    body = _PERCENT.sub("", body)
    unit = None
    suffix = _UNIT_SUFFIX.search(body)
    if suffix and re.search(r"[\d)}]\s*$", body[: suffix.start()]):
        unit = _UNIT_WORDS.get(suffix.group(1))
        body = body[: suffix.start()]
    expression = safe_math.latex_to_math(body)
    expression = re.sub(r"\\([a-z]+)", r"\1", expression)  # any other command: its name
    if re.search(r"\d,\d{3}", body):
        expression = expression.replace(",", "")
    expression = (
        expression.replace("^", "**").replace("×", "*").replace("−", "-").replace("√", "sqrt")
    )
    if re.search(r"[\d+\-*/^()=]", expression):  # written math: x(x+2), 2ab are products
        expression = safe_math.split_letter_products(expression)
        expression = re.sub(r"(?<![A-Za-z_])([a-zA-Z])\s*\(", r"\1*(", expression)
    try:
        tree = safe_math.parse(expression)
        value = sympy_build.build(tree, sympy_build.Namespace(units=False))
    except (safe_math.MathError, TypeError, ValueError, ZeroDivisionError):
        return ParsedAnswer(answer, "text")
    literal = re.fullmatch(r"\s*-?\d+(?:\.(\d+))?\s*", body.replace(",", ""))
    decimals = len(literal.group(1) or "") if literal else None
    kind: Kind = "number" if getattr(value, "is_number", False) else "expression"
    return ParsedAnswer(answer, kind, value, unit, degrees, percent, decimals)


def _resolve_choice(parsed: ParsedAnswer, choices: Sequence[str]) -> ParsedAnswer | None:
    if parsed.kind != "choice" or parsed.letter is None:
        return None
    index = ord(parsed.letter) - ord("A")
    if not 0 <= index < len(choices):
        return None
    text = re.sub(r"^\(?[A-H]\)?[.):：]\s*", "", choices[index].strip())
    return parse_answer(text)


def numeric_value(value: Any) -> float | None:
    import sympy as sp

    try:
        number = complex(sp.N(value, 30))
    except (TypeError, ValueError):
        return None
    return number.real if abs(number.imag) < 1e-12 else None


def si_value(parsed: ParsedAnswer) -> tuple[float, Any] | None:
    """The value in SI base units and its dimension, for answers with a unit."""
    import sympy as sp
    from sympy.physics import units as u
    from sympy.physics.units.systems.si import SI

    if parsed.unit is None or parsed.value is None:
        return None
    quantity = parsed.value * sp.sympify(
        parsed.unit, locals={n: getattr(u, n) for n in dir(u) if not n.startswith("_")}
    )
    base = u.convert_to(quantity, [u.meter, u.kilogram, u.second, u.ampere])
    factor, dimension = SI._collect_factor_and_dimension(base)
    return numeric_value(factor) or 0.0, dimension


def equivalent(
    a: str, b: str, tolerance: float | None = None, choices: Sequence[str] = ()
) -> Verdict:
    """Are two answers the same? Numbers within the stated precision (or ``tolerance``, relative),
    expressions symbolically, choice letters through ``choices``, units through
    ``sympy.physics.units``, degrees and percent signs optional, text case- and space-insensitive.
    """
    pa, pb = parse_answer(a, choices), parse_answer(b, choices)
    if pa.kind == "choice" and pb.kind == "choice":
        same = pa.letter == pb.letter
        return Verdict(same, f"choice {pa.letter} {'=' if same else '≠'} choice {pb.letter}")
    for one, other in ((pa, pb), (pb, pa)):
        if one.kind == "choice":
            if not choices:
                return Verdict(False, f"choice {one.letter} given without the choices to read it")
            text = _resolve_choice(one, choices)
            if text is None:
                return Verdict(False, f"{one.letter} is not one of the {len(choices)} choices")
            inner = equivalent(text.text, other.text, tolerance)
            return Verdict(inner.equivalent, f"choice {one.letter} is {text.text}; {inner.reason}")
    if "text" in (pa.kind, pb.kind):
        norm = [re.sub(r"[\s.,;:!]+", " ", x.text).strip().lower() for x in (pa, pb)]
        same = norm[0] == norm[1]
        return Verdict(same, "same text" if same else "different text")
    return _compare_math(pa, pb, tolerance)


def _compare_math(pa: ParsedAnswer, pb: ParsedAnswer, tolerance: float | None) -> Verdict:
    import math

    import sympy as sp

    notes = []
    va, vb = pa.value, pb.value
    if pa.unit and pb.unit:
        sa, sb = si_value(pa), si_value(pb)
        if sa is None or sb is None:
            return Verdict(False, "units could not be read")
        if sa[1] != sb[1]:
            return Verdict(False, f"different quantities ({pa.unit} vs {pb.unit})")
        va, vb = sa[0], sb[0]
        notes.append("units converted")
    elif pa.unit or pb.unit:
        notes.append("unit omitted on one side")
    if pa.kind == "expression" or pb.kind == "expression":
        if pa.kind != pb.kind:
            return Verdict(False, "a number and an expression with unknowns")
        difference = sp.simplify(sp.sympify(va) - sp.sympify(vb))
        same = difference == 0
        return Verdict(same, "symbolically equal" if same else "different expressions")
    xa, xb = numeric_value(va), numeric_value(vb)
    if xa is None or xb is None:
        return Verdict(False, "not a real number")
    candidates = [(xa, xb, "")]
    if pa.percent != pb.percent:
        candidates += [
            (xa / 100 if pa.percent else xa, xb / 100 if pb.percent else xb, "as a fraction")
        ]
        notes.append("percent sign on one side")
    if pa.degrees != pb.degrees:
        candidates += [
            (
                math.radians(xa) if pa.degrees else xa,
                math.radians(xb) if pb.degrees else xb,
                "degrees as radians",
            )
        ]
        notes.append("degree sign on one side")
    for x, y, how in candidates:
        tol = _tolerance(pa, pb, x, y, tolerance)
        if abs(x - y) <= tol:
            reason = f"{x:.6g} = {y:.6g} within {tol:.2g}"
            extra = ", ".join(n for n in [*notes, how] if n)
            return Verdict(True, reason + (f" ({extra})" if extra else ""))
    return Verdict(False, f"{xa:.6g} ≠ {xb:.6g}")


def _tolerance(
    pa: ParsedAnswer, pb: ParsedAnswer, x: float, y: float, relative: float | None
) -> float:
    scale = max(abs(x), abs(y), 1e-12)
    if relative is not None:
        return relative * scale
    tol = 1e-9 * scale
    for side in (pa, pb):
        if side.decimals is not None and side.decimals > 0:
            tol = max(tol, 0.5 * 10 ** (-side.decimals) * 1.0001)
    return tol
