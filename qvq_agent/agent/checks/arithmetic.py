"""The ``arithmetic`` check: explicit computations in the trace, recomputed.

Chains like ``12 × 7 = 74``, ``sqrt(3^2 + 4^2) = sqrt(25) = 6`` or ``2.50 + 3.75 + 4.25 =
11.50`` are found line by line: the parts between ``=`` / ``≈`` signs that are purely numeric
(after unicode operators, LaTeX, thousands separators, percentages, degrees and units are
normalised) are parsed with :mod:`qvq_agent.tools.safe_math` and evaluated in floats (never
``eval`` or ``sympify``; a checked tree of bounded size, so every evaluation is bounded), and
each step is compared with the next. A step written with ``≈``, or with a rounded decimal,
is allowed the rounding its decimals state. Text that is not a computation is left alone.
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from qvq_agent import prompts
from qvq_agent.agent.checks.base import Finding, TraceInput, make_finding, register_check
from qvq_agent.tools import safe_math

ARITHMETIC_FUNCTIONS = ("sqrt", "cbrt", "sin", "cos", "tan", "log", "ln", "exp", "abs")

_UNITS = (
    r"(?:square|cubic|sq\.?)?\s*(?:cm|mm|km|m|kg|g|mg|s|ms|min|h|hours?|minutes?|seconds?|"
    r"meters?|metres?|degrees?|deg|N|J|W|V|A|Hz|Pa|kPa|L|ml|mL|kWh|m/s|km/h|units?|cm\^?[23²³]|"
    r"m\^?[23²³]|dollars?|yuan|元|个|米|厘米|度)\b"
)
_LATEX_NOISE = [
    (re.compile(r"\\(?:left|right)"), ""),
    (re.compile(r"\\[,;!: ]|\\text\{[^}]*\}|\\mathrm\{[^}]*\}|\^\{?\\circ\}?"), " "),
]
_SEPARATOR = re.compile(r"(≈|=)")
_EXPR_CHARS = r"[\d\s.+\-*/()^%]"
_NUMERIC = re.compile(rf"^(?:{_EXPR_CHARS}|sqrt|cbrt|sin|cos|tan|log|ln|exp|abs|pi)+$")
_REMAINDER = re.compile(
    r"^[\s$]*[\d.]+[\s$]*(?:with (?:a )?remainder|remainder|r\.?\s*\d|余)", re.IGNORECASE
)
_HAS_DIGIT = re.compile(r"\d")
_OPERATOR = re.compile(r"[+*/^]|(?<=[\d)])\s*-|sqrt|sin|cos|tan|log|ln|exp")


@dataclass(frozen=True)
class Part:
    """One side of an ``=``: its text, its value, how many decimals it states, where it is."""

    text: str
    value: float | None
    decimals: int | None
    computed: bool
    start: int
    end: int
    degrees_value: float | None = None
    """The value with trigonometric arguments read as degrees (``sin(30)`` = 0.5), if any."""


_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_UNITS_RE = re.compile(_UNITS)
_TIMES = re.compile(r"(?<=[\d)\s])\s*[x×·∙⋅]\s*(?=[\d(√])")
_PERCENT = re.compile(r"(\d(?:\.\d+)?)\s*%")
_ROOT_SIGN = re.compile(r"√\s*(\d+(?:\.\d+)?)")
_PLAIN = str.maketrans({"÷": "/", "−": "-", "–": "-", "°": " "})


@lru_cache(maxsize=16384)
def normalise(text: str, *, strip_units: bool = True) -> str:
    """Rewrite a written computation into the calculator's syntax (or leave junk for the parser).

    Unit words are dropped from numeric computations; algebra keeps every letter (``W`` is a
    variable there, not watts).
    """
    out = text
    if "\\" in out:
        for pattern, replacement in _LATEX_NOISE:  # spacing, \left, units in \text{}, degrees
            out = pattern.sub(replacement, out)
    out = safe_math.latex_to_math(out)
    if "," in out:
        out = _THOUSANDS.sub("", out)
    if strip_units and any(ch.isalpha() for ch in out):
        out = _UNITS_RE.sub(" ", out)
    out = _TIMES.sub("*", out).translate(_PLAIN).replace("^", "**")
    out = out.replace("²", "**2").replace("³", "**3").replace("π", "pi")
    if "%" in out:
        out = _PERCENT.sub(r"(\1/100)", out)
    if "√" in out:
        out = _ROOT_SIGN.sub(r"sqrt(\1)", out).replace("√", "sqrt")
    return out.strip().rstrip(".,;:").strip()


_TRIG = re.compile(r"\b(?:sin|cos|tan)\b")


@lru_cache(maxsize=16384)
def _evaluate(expression: str, degrees: bool = False) -> float | None:
    try:
        tree = safe_math.parse(expression, functions=ARITHMETIC_FUNCTIONS)
        return safe_math.evaluate_float(tree, degrees=degrees)
    except safe_math.MathError:
        return None


_LETTERS = re.compile(r"[A-Za-zα-ωΑ-Ω]+")
_ASCII_WORD = re.compile(r"[A-Za-z]+")
_SYMBOLIC = re.compile(r"^[\dA-Za-zα-ωΑ-Ω\s.+\-*/()^]+$")
MAX_SYMBOLIC_CHARS = 80


@dataclass(frozen=True)
class Symbolic:
    """A short algebraic expression: its checked tree and its variable names."""

    tree: ast.expr
    names: frozenset[str]


@lru_cache(maxsize=16384)
def _symbolic(raw: str) -> Symbolic | None:
    """A short algebraic expression in single-letter variables, or ``None``."""
    expression = normalise(raw, strip_units=False)
    if len(expression) > MAX_SYMBOLIC_CHARS or not _SYMBOLIC.match(expression):
        return None
    if not _LETTERS.search(expression) or not _OPERATOR.search(expression):
        return None
    for run in _ASCII_WORD.finditer(expression):
        word = run.group()
        called = expression[run.end() : run.end() + 1] == "("
        if word in ARITHMETIC_FUNCTIONS and called:
            continue
        # A word (adjacent, tan without parentheses) or a name of points (DE, AB) is no
        # product of variables; written algebra glues at most three lower-case letters (8ab).
        if len(word) > 3 or (len(word) > 1 and not word.islower()) or word in ARITHMETIC_FUNCTIONS:
            return None
    spaced = safe_math.split_letter_products(expression)
    greek = {ch: f"g{ord(ch)}" for ch in set(re.findall(r"[α-ωΑ-Ω]", spaced))}
    for ch, name in greek.items():
        spaced = spaced.replace(ch, name)
    try:
        tree = safe_math.parse(spaced, functions=ARITHMETIC_FUNCTIONS)
    except safe_math.MathError:
        return None
    names = frozenset(safe_math.names_in(tree) - safe_math.CONSTANT_NAMES)
    return Symbolic(tree, names) if names else None


_POINTS = ((0.37, 1.91, 2.63, 0.59, 1.27, 3.11), (1.73, 0.41, 1.19, 2.07, 0.83, 1.61))


def _at(expression: Symbolic | ast.expr, names: list[str], point: tuple[float, ...]) -> float:
    tree = expression.tree if isinstance(expression, Symbolic) else expression
    values = {name: point[i % len(point)] + i for i, name in enumerate(names)}
    return safe_math.evaluate_float(tree, values)


def _same_expression(
    a: Symbolic, b: Symbolic, difference_of: ast.expr | None = None, factor: float = 1.0
) -> bool | None:
    """``a`` = ``b`` at random points (``None`` when it cannot be told). With
    ``difference_of``: ``a - b`` = ``factor * difference_of`` instead."""
    names = sorted(a.names | b.names)
    for point in _POINTS:
        try:
            va, vb = _at(a, names, point), _at(b, names, point)
            target = factor * _at(difference_of, names, point) if difference_of else 0.0
        except safe_math.MathError:
            return None
        if abs((va - vb) - target) > 1e-6 * max(1.0, abs(va), abs(vb)):
            return False
    return True


def _decimals(expression: str) -> int | None:
    """Decimals stated by a plain literal (``11.50`` -> 2); ``None`` for a computation."""
    match = re.fullmatch(r"\(?-?\d+(?:\.(\d+))?\)?(?:\*\*\d)?", expression.replace(" ", ""))
    if not match or "**" in expression:
        return None
    return len(match.group(1) or "")


_SUBSCRIPT = re.compile(r"[₀-₉]|_\{?\w")
_UNIT_WORD = re.compile(_UNITS)


def _part(raw: str, offset: int) -> Part | None:
    if _SUBSCRIPT.search(raw):
        return None  # x₂, x_2: a variable with a subscript, not a number
    units = {m.group().strip().lower().rstrip("s") for m in _UNIT_WORD.finditer(raw)}
    if len(units - {""}) > 1:
        return None  # "1 hour + 6 minutes": mixed units are no plain arithmetic
    expression = normalise(raw)
    if not expression or not _HAS_DIGIT.search(expression) or not _NUMERIC.match(expression):
        return None
    value = _evaluate(expression)
    if value is None:
        return None
    in_degrees = _evaluate(expression, degrees=True) if _TRIG.search(expression) else None
    decimals = _decimals(expression)
    computed = decimals is None and bool(_OPERATOR.search(expression))
    core = raw.rstrip().rstrip(".,;:，。").rstrip()
    lead = len(core) - len(core.lstrip())
    return Part(
        core.strip(), value, decimals, computed, offset + lead, offset + len(core), in_degrees
    )


_OPERATOR_CHARS = set("+-*/×·÷^−(=≈√.,}")
_BINARY_START = re.compile(r"^\s*[+*/×·÷^=]")
_LATEX_COMMAND_END = re.compile(r"\\[A-Za-z]+\s*$")
_APPROX_WORDS = re.compile(
    r"^\s*(?:approximately|approx\.?|about|roughly|around|约|大约|约为)\s*", re.I
)


EDGE_CHARS = 120
"""How far into a long part the edge of a computation is looked for."""

_TOKEN = re.compile(r"\\[A-Za-z]+|[A-Za-zα-ωΑ-Ω]+|\d+|\s+|.", re.DOTALL)
_MATH_WORDS = frozenset(
    {
        *ARITHMETIC_FUNCTIONS,
        "pi",
        "text",
        "mathrm",
        "frac",
        "dfrac",
        "tfrac",
        "cfrac",
        "sqrt",
        "times",
        "cdot",
        "div",
        "left",
        "right",
        "circ",
        "approx",
        "quad",
        "qquad",
    }
)
_UNIT_TOKENS = frozenset(
    {
        "square",
        "cubic",
        "sq",
        "cm",
        "mm",
        "km",
        "m",
        "kg",
        "g",
        "mg",
        "s",
        "ms",
        "min",
        "h",
        "hour",
        "hours",
        "minute",
        "minutes",
        "second",
        "seconds",
        "meter",
        "meters",
        "metre",
        "metres",
        "degree",
        "degrees",
        "deg",
        "n",
        "j",
        "w",
        "v",
        "a",
        "hz",
        "pa",
        "kpa",
        "l",
        "ml",
        "kwh",
        "unit",
        "units",
        "dollar",
        "dollars",
        "yuan",
    }
)
"""Unit words: part of a computation only right after a number (``5 cm``; ``A = 26`` has none)."""
_SYMBOLS = frozenset("0123456789.,+-*/×÷·∙⋅−–^()[]{}%$=≈√π²³°_!;:")


def _numeric_run(text: str, *, from_end: bool) -> int:
    """Where the run of number-like tokens at the end (or start) of ``text`` begins (or ends):
    digits, operators, math and unit words; prose stops it. Edges are only tried inside it."""
    tokens = [(m.start(), m.group()) for m in _TOKEN.finditer(text)]
    bound = len(text) if from_end else 0
    order = range(len(tokens) - 1, -1, -1) if from_end else range(len(tokens))
    for index in order:
        pos, token = tokens[index]
        word = token.lstrip("\\").lower()
        allowed = (
            token.isspace()
            or token.isdigit()
            or token in _SYMBOLS
            or (word.isalpha() and word in _MATH_WORDS)
            or (word in _UNIT_TOKENS and _after_number(tokens, index))
            or CJK_WORD.fullmatch(token) is not None
        )
        if not allowed:
            break
        bound = pos if from_end else pos + len(token)
    return bound


def _after_number(tokens: list[tuple[int, str]], index: int) -> bool:
    """The token before ``index`` (spaces skipped) is a number, a closing bracket or a unit."""
    for _, token in reversed(tokens[:index]):
        if token.isspace():
            continue
        return token.isdigit() or token in ")]}" or token.lower() in _UNIT_TOKENS
    return False


def _edge(raw: str, offset: int, *, take_end: bool) -> Part | None:
    """The longest numeric end (suffix) or start (prefix) of a chain's outer part.

    The cut must fall at a word boundary, never inside an expression: a suffix right after an
    operator (``1.8 * BC / 1.5`` has no numeric suffix) is no computation of its own.
    """
    text = raw.rstrip() if take_end else raw
    if len(text) > EDGE_CHARS:  # a computation at the edge of a part is short: look there only
        if take_end:
            offset += len(text) - EDGE_CHARS
            text = text[-EDGE_CHARS:]
        else:
            text = text[:EDGE_CHARS]
    if take_end:
        for i in range(_numeric_run(text, from_end=True), len(text)):
            before = text[:i].rstrip()
            if before and (before[-1] in _OPERATOR_CHARS - {"("} or before[-1].isdigit()):
                continue  # (an opening bracket starts a parenthetical: "was 50 (2012 - 1961 = 50)")
            if (
                i and (text[i - 1].isalnum() or text[i - 1] in "'_′)]")
            ) or _LATEX_COMMAND_END.search(before):
                continue  # inside a word ("4x"), or right after a TeX command ("\pi (2)")
            if _BINARY_START.match(text[i:]):
                continue
            part = _part(text[i:], offset + i)
            if part is not None:
                return part
        return None
    stripped = text.lstrip()
    lead = len(text) - len(stripped)
    for j in range(_numeric_run(stripped, from_end=False), 0, -1):
        after = stripped[j:].lstrip()
        if after and (after[0] in _OPERATOR_CHARS - {".", ",", "}"} or after[0].isdigit()):
            continue
        if j < len(stripped) and stripped[j].isalnum() and stripped[j - 1].isalnum():
            continue  # "5x": the number belongs to a term with a variable
        part = _part(stripped[:j], offset + lead)
        if part is not None:
            return part
    return None


def _tolerance(a: Part, b: Part, approximate: bool) -> float:
    assert a.value is not None and b.value is not None
    scale = max(abs(a.value), abs(b.value), 1e-12)
    tol = 1e-9 * scale
    for side in (a, b):
        if side.decimals is not None and (approximate or side.decimals > 0):
            tol = max(tol, 0.5 * 10 ** (-side.decimals) * 1.001)
    if approximate:
        tol = max(tol, 0.005 * scale)
    return tol


def _fmt(value: float) -> str:
    if abs(value - round(value)) < 1e-9:
        return str(round(value))
    return f"{value:.6g}"


def symbolic_slips(line: str, offset: int) -> list[tuple[int, int, str, str]]:
    """Steps inside a chain ``y = A = B`` whose algebra does not hold (``A`` and ``B`` differ).

    Only steps after the first ``=`` count: the first one may define a name or state an
    equation to solve; the later ones are simplifications that must be identities.
    """
    pieces = _SEPARATOR.split(line)
    texts, seps = pieces[0::2], pieces[1::2]
    slips = []
    pos = offset + len(texts[0]) + (len(seps[0]) if seps else 0)
    for i in range(1, len(texts) - 1):
        left_raw, right_raw = texts[i], texts[i + 1]
        if seps[i] == "=":
            a, b = _symbolic(left_raw), _symbolic(right_raw)
            # Only a rewriting (the same variables on both sides) must be an identity; a step
            # that substitutes values (sqrt(2h/g) = sqrt(40/9.8)) is not checked here.
            if (
                a is not None
                and b is not None
                and a.names == b.names
                and _same_expression(a, b) is False
            ):
                slips.append(
                    (
                        pos,
                        pos + len(left_raw) + 1 + len(right_raw),
                        left_raw.strip(),
                        right_raw.strip(),
                    )
                )
        pos += len(left_raw) + len(seps[i])
    return slips


_BULLET = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+")


def chains(line: str, offset: int) -> list[tuple[Part, Part, bool]]:
    """Consecutive numeric steps ``(left, right, approximate)`` in one line (a list bullet such
    as ``- 1947 - 1932 = 15`` is not a minus sign)."""
    bullet = _BULLET.match(line)
    if bullet:
        line, offset = line[bullet.end() :], offset + bullet.end()
    pieces = _SEPARATOR.split(line)
    texts = pieces[0::2]
    seps = pieces[1::2]
    positions = []
    pos = offset
    for i, text in enumerate(texts):
        positions.append(pos)
        pos += len(text) + (len(seps[i]) if i < len(seps) else 0)
    steps = []
    for i in range(len(seps)):
        left_raw, right_raw = texts[i], texts[i + 1]
        approximate = seps[i] == "≈"
        words = _APPROX_WORDS.match(right_raw)
        right_offset = positions[i + 1]
        if words:
            approximate = True
            right_raw, right_offset = right_raw[words.end() :], right_offset + words.end()
        left = _part(left_raw, positions[i]) or _edge(left_raw, positions[i], take_end=True)
        right = _part(right_raw, right_offset) or _edge(right_raw, right_offset, take_end=False)
        if left is None or right is None or not (left.computed or right.computed):
            continue
        if _REMAINDER.match(right_raw) and left.value is not None:
            # "2019 ÷ 5 = 403 with a remainder of 4": integer division.
            left = Part(
                left.text, float(math.floor(left.value)), left.decimals, True, left.start, left.end
            )
        steps.append((left, right, approximate))
    return steps


MAX_STEPS_PER_LINE = 48
"""At most this many ``=`` steps of one line are checked (a 200 kB line of equations is not a
computation to redo)."""
MAX_LINES = 4000
"""At most this many lines with a computation are checked per trace."""


@register_check("arithmetic")
def check_arithmetic(trace: TraceInput) -> list[Finding]:
    """Wrong explicit computations, each with the correct value."""
    findings: list[Finding] = []
    said: set[str] = set()
    text = trace.text
    lines = [
        (_first_steps(line), start)
        for line, start in logical_lines(text)
        if "=" in line or "≈" in line
    ][:MAX_LINES]
    for line, line_start in lines:
        for start, end, left_text, right_text in symbolic_slips(line, line_start):
            message = prompts.FINDING_ALGEBRA.format(left=left_text, right=right_text)
            if message not in said:
                said.add(message)
                findings.append(
                    make_finding("arithmetic", message, text, start, end, confidence=0.7)
                )
        if "=" in line or "≈" in line:
            for left, right, approximate in chains(line, line_start):
                assert left.value is not None and right.value is not None
                if _holds(left, right, approximate) or _quoted(left, right, trace.question):
                    continue
                wrong, right_value = (right, left.value) if left.computed else (left, right.value)
                shown = left.text if left.computed else right.text
                message = prompts.FINDING_ARITHMETIC.format(
                    shown=shown, correct=_fmt(right_value), wrong=wrong.text.rstrip(".")
                )
                if message not in said:  # a loop repeats its slip; report it once
                    said.add(message)
                    findings.append(
                        make_finding(
                            "arithmetic", message, text, left.start, right.end, confidence=0.9
                        )
                    )
    findings.extend(_sum_of_listed_counts(text))
    findings.extend(_sign_flips(text))
    findings.extend(f for f in _verbal(text) if f["message"] not in said)
    return findings


_NUM = r"(?<![\d.,])(-?\d+(?:,\d{3})*(?:\.\d+)?)"
"""A number that starts here (never inside another: the scan stays linear on long digit runs)."""
_RESULT = r"[,]?\s*(?:(?:I|we|you) (?:get|got|have)|(?:that |this |it )?(?:gives|makes|equals|is|'s|comes to|results in)|=)\s*"
_VERBAL: list[tuple[re.Pattern[str], Callable[[float, float], float], str]] = [
    (
        re.compile(
            rf"\b(?:add(?:ing)?|sum(?:ming)?) {_NUM} (?:and|to) {_NUM}{_RESULT}{_NUM}", re.I
        ),
        lambda a, b: a + b,
        "{a} + {b}",
    ),
    (
        re.compile(rf"\bsubtract(?:ing)? {_NUM} from {_NUM}{_RESULT}{_NUM}", re.I),
        lambda a, b: b - a,
        "{b} - {a}",
    ),
    (
        re.compile(rf"\bmultiply(?:ing)? {_NUM} (?:by|and) {_NUM}{_RESULT}{_NUM}", re.I),
        lambda a, b: a * b,
        "{a} × {b}",
    ),
    (
        re.compile(rf"\bdivid(?:e|ing) {_NUM} by {_NUM}{_RESULT}{_NUM}", re.I),
        lambda a, b: a / b if b else math.nan,
        "{a} / {b}",
    ),
    (re.compile(rf"{_NUM} (?:plus) {_NUM}{_RESULT}{_NUM}", re.I), lambda a, b: a + b, "{a} + {b}"),
    (re.compile(rf"{_NUM} (?:minus) {_NUM}{_RESULT}{_NUM}", re.I), lambda a, b: a - b, "{a} - {b}"),
    (
        re.compile(rf"{_NUM} (?:times|multiplied by) {_NUM}{_RESULT}{_NUM}", re.I),
        lambda a, b: a * b,
        "{a} × {b}",
    ),
    (
        re.compile(rf"{_NUM} divided by {_NUM}{_RESULT}{_NUM}", re.I),
        lambda a, b: a / b if b else math.nan,
        "{a} / {b}",
    ),
]
"""Computations written in words ("subtract 57 from 63, I get 7")."""


def _verbal(text: str) -> list[Finding]:
    findings = []
    for pattern, compute, shown in _VERBAL:
        for match in pattern.finditer(text):
            a, b, stated = (float(g.replace(",", "")) for g in match.groups())
            correct = compute(a, b)
            if not math.isfinite(correct) or abs(correct - stated) <= 1e-9 * max(1.0, abs(correct)):
                continue
            decimals = len(match.group(3).split(".")[1]) if "." in match.group(3) else 0
            if decimals and abs(correct - stated) <= 0.5 * 10**-decimals * 1.001:
                continue  # rounded as stated
            expression = shown.format(a=match.group(1), b=match.group(2))
            message = prompts.FINDING_ARITHMETIC.format(
                shown=expression, correct=_fmt(correct), wrong=match.group(3)
            )
            findings.append(
                make_finding(
                    "arithmetic", message, text, match.start(), match.end(), confidence=0.8
                )
            )
    return findings


def _holds(left: Part, right: Part, approximate: bool) -> bool:
    """The step is right, with trigonometric arguments read as radians or as degrees."""
    tolerance = _tolerance(left, right, approximate)
    lefts = [v for v in (left.value, left.degrees_value) if v is not None]
    rights = [v for v in (right.value, right.degrees_value) if v is not None]
    return any(abs(a - b) <= tolerance for a in lefts for b in rights)


_SPACE = re.compile(r"\s+")


def _quoted(left: Part, right: Part, question: str) -> bool:
    """The step is the question's own (wrong) statement, quoted ("... = 479, make it true")."""
    if not question:
        return False
    said = _SPACE.sub("", f"{left.text}={right.text}")
    return said in _SPACE.sub("", question)


def _first_steps(line: str) -> str:
    """The line up to its :data:`MAX_STEPS_PER_LINE`-th ``=`` or ``≈`` (and a little after)."""
    for seen, match in enumerate(_SEPARATOR.finditer(line), start=1):
        if seen > MAX_STEPS_PER_LINE:
            return line[: match.start()]
    return line


CJK_WORD = re.compile(r"[元个米厘度]+")
_DEFINED = re.compile(r"([A-Za-zΔ][A-Za-z0-9_]*[\u4e00-\u9fff]*)\s*$")
_FORMULA_END = re.compile(r"[，。；;]|\s(?:where|with|which|or|and)\s|或|其中")
_CJK_WORD = re.compile(r"[\u4e00-\u9fff]+")
_ALTERNATIVES = re.compile(r"±|\bor\b|或")


def _terms(tree: ast.expr) -> list[ast.expr]:
    """The top-level terms of a sum (``a + b - c`` -> ``a``, ``b``, ``-c``)."""
    if isinstance(tree, ast.BinOp) and isinstance(tree.op, ast.Add | ast.Sub):
        right = tree.right
        if isinstance(tree.op, ast.Sub):
            right = ast.UnaryOp(op=ast.USub(), operand=right)
        return [*_terms(tree.left), right]
    return [tree]


def _sign_flips(text: str) -> list[Finding]:
    """The same quantity defined twice with one term's sign flipped (``E2 = E1 + W``, later
    ``E2 = E1 - W``): one of the two is a slip."""
    names: dict[str, str] = {}
    seen: dict[str, tuple[Symbolic, str]] = {}
    findings = []
    for line, start in logical_lines(text):
        if "=" not in line or _ALTERNATIVES.search(line):
            continue
        left, right = line.split("=", 2)[:2]
        defined = _DEFINED.search(left.replace("$", " "))
        if defined is None:
            continue
        formula = _FORMULA_END.split(right, maxsplit=1)[0]
        placeholder = _CJK_WORD.sub(
            lambda m: names.setdefault(m.group(), chr(0x3B1 + len(names) % 24)), formula
        )
        expr = _symbolic(placeholder)
        if expr is None:
            continue
        name = defined.group(1)
        shown = f"{name} = {formula.strip()}"
        if name in seen:
            first, first_text = seen[name]
            if _same_expression(first, expr) is False and any(
                _same_expression(first, expr, difference_of=term, factor=2.0)
                for term in _terms(first.tree)
            ):
                message = prompts.FINDING_SIGN_FLIP.format(first=first_text, second=shown)
                findings.append(
                    make_finding(
                        "arithmetic", message, text, start, start + len(line), confidence=0.7
                    )
                )
        seen[name] = (expr, shown)
    return findings


def logical_lines(text: str) -> list[tuple[str, int]]:
    """Lines with their offsets; a line that starts with ``=`` continues the chain above it.

    Offsets inside a joined line are approximate by the blank lines skipped.
    """
    out: list[tuple[str, int]] = []
    start = 0
    for raw in text.split("\n"):
        if raw.lstrip().startswith(("=", "≈")) and out:
            previous, at = out[-1]
            out[-1] = (previous + " " + raw.strip(), at)
        elif raw.strip():
            out.append((raw, start))
        start += len(raw) + 1
    return out


_LISTED_LINE = re.compile(
    r"^\s*[-*•]\s*(?:\*\*[^*]+\*\*:?\s*)?(?:there (?:is|are)\s+)?\d+\s+[A-Za-z][^\n]*$",
    re.IGNORECASE | re.MULTILINE,
)
_ADDING = re.compile(
    r"(?:adding (?:these|them|those|all)(?: up| together)?|in total|altogether|sum(?:ming)?(?: up)?)[^=\n]{0,160}?((?:\d+\s*\+\s*){1,40}\d+)\s*=\s*(\d+)",
    re.IGNORECASE,
)


def _sum_of_listed_counts(text: str) -> list[Finding]:
    """ "Adding these together: 1 + 2 + 1 = 4" after a list whose counts are 2, 1, 1, 1."""
    findings = []
    for match in _ADDING.finditer(text):
        window = text[max(0, match.start() - 800) : match.start()]
        listed = [
            int(n) for line in _LISTED_LINE.findall(window) for n in re.findall(r"\b\d+\b", line)
        ]
        addends = [int(n) for n in re.findall(r"\d+", match.group(1))]
        if (
            len(listed) >= 2
            and sorted(listed) != sorted(addends)
            and sum(listed) != int(match.group(2))
        ):
            shown = " + ".join(str(n) for n in listed)
            findings.append(
                make_finding(
                    "arithmetic",
                    prompts.FINDING_LISTED_SUM.format(
                        listed=shown, total=sum(listed), added=match.group(1), stated=match.group(2)
                    ),
                    text,
                    match.start(1),
                    match.end(2),
                    confidence=0.75,
                )
            )
    return findings
