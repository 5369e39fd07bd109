"""Final answers: find where the model marks its answer, read it out, and compare answers.

QVQ writes ``**Final Answer**`` and then the answer (often ``\\boxed{...}``); other models use
``\\boxed{}`` alone or ``<answer>...</answer>``.

:func:`equivalent` grades: option letters and choice texts, prose, and plain numbers (with the
precision policy, percent and degree signs) are decided here, in the agent's own process;
everything else (LaTeX, sets, intervals, equations, matrices, units) goes to math-verify and
pint in the math worker process (:mod:`qvq_agent.tools.math_compare`), bounded by its time
limit in any thread.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from qvq_agent.profiles import DEFAULT_MARKERS
from qvq_agent.tools import notation


@dataclass(frozen=True)
class FinalAnswer:
    """A final answer found in a trace."""

    text: str
    """The answer, stripped of markers, ``\\boxed{}`` and surrounding math delimiters."""
    start: int
    """Offset of the marker in the trace."""
    end: int
    """Offset just past the answer."""
    kind: str = field(default="", compare=False)
    """``boxed`` for a bare ``\\boxed{}``, ``prose`` for "the answer is X"; empty for the other
    formats."""


class _Braces:
    """Where each ``{`` of a text closes, found in one pass (so many unclosed ``\\boxed{``
    cost linear time, not quadratic)."""

    def __init__(self, text: str) -> None:
        self.close: dict[int, int] = {}
        stack: list[int] = []
        for i, ch in enumerate(text):
            if ch == "{":
                stack.append(i)
            elif ch == "}" and stack:
                self.close[stack.pop()] = i


def _boxed_contents(text: str, start: int, braces: _Braces | None = None) -> tuple[str, int] | None:
    """Contents of ``\\boxed{...}`` starting at ``start`` (balanced braces) and the end offset."""
    opening = text.find("{", start)
    if opening == -1:
        return None
    closing = (braces or _Braces(text)).close.get(opening)
    if closing is None:
        return None
    return text[opening + 1 : closing], closing + 1


_MATH_WRAP = re.compile(r"^(?:\\\[|\\\(|\$\$|\$)\s*(.*?)\s*(?:\\\]|\\\)|\$\$|\$)$", re.DOTALL)


def clean_answer(text: str) -> str:
    """Strip math delimiters, ``\\boxed{}`` (several boxes: their contents joined by commas),
    bold markers and trailing periods."""
    answer = text.strip()
    boxes: list[str] = []
    start = 0
    braces = _Braces(answer) if "\\boxed{" in answer else None
    while len(boxes) < 16 and (box := answer.find("\\boxed{", start)) != -1:
        inner = _boxed_contents(answer, box, braces)
        if inner is None:
            break
        boxes.append(inner[0])
        start = inner[1]
    if boxes:
        answer = ", ".join(boxes)
    match = _MATH_WRAP.match(answer)
    if match:
        answer = match.group(1)
    answer = answer.strip().strip("*").strip()
    answer = answer.rstrip("。")
    if answer.endswith(".") and not answer[:-1].rstrip().endswith((".",)):
        answer = answer[:-1].rstrip()
    return answer


PROSE_ANSWER_TAIL = 400
"""A prose answer ("the answer is X") counts only within this many characters of the end."""
MAX_ANSWER_SCAN = 4000
"""A final answer is read from at most this many characters after its marker."""


UNIVERSAL_MARKERS = (
    "**Final Answer**",
    "**Final answer**",
    "**最终答案**",
    "**答案**",
    "最终答案",
    "Final Answer:",
    "Final answer:",
    "\\boxed{",
)
"""Markers read in every trace besides the profile's own: the formats models commonly use."""
_TAGS = re.compile(r"<(answer|solution)>", re.IGNORECASE)
_BOX_JOIN = re.compile(
    r"[\s$,;]*(?:and|or|和|或|、|,|;|\\quad|\\text\{\s*(?:and|or)\s*\})?[\s$,;]*"
)
_ANSWER_LINE = re.compile(r"(?m)^[ \t#>*]*(?:\*\*)?(?:Answer|答案)(?:\*\*)?\s*[:：](?:\*\*)?")
_PROSE_ANSWER = re.compile(
    r"(?:\bthe\s+(?:final\s+|correct\s+)?answer\s+(?:is|would be|should be)|答案(?:是|为|[:：]))\s*"
    r"[:：]?\s*"
    r"(?P<answer>[^\n。]{1,160}?)(?=\s*(?:[.。](?:\s|$)|\n|$))",
    re.IGNORECASE,
)


def find_final_answers(text: str, markers: Sequence[str] = DEFAULT_MARKERS) -> list[FinalAnswer]:
    """Every final answer the trace states, in order (a boxed answer right after a marker is one).

    Read: the profile's ``markers`` first, then the common formats — ``**Final Answer**``,
    ``Final Answer:``, ``\\boxed{}``, ``<answer>`` and ``<SOLUTION>`` tags, a line starting
    ``Answer:`` or ``答案：``; only when none of those is there, a sentence "the answer is X" /
    "答案是X".
    """
    found: list[FinalAnswer] = []
    covered_until = -1
    braces: _Braces | None = None
    events: list[tuple[int, int, str]] = []  # (position, marker length, kind)
    for marker in dict.fromkeys((*markers, *UNIVERSAL_MARKERS)):
        tag = re.fullmatch(r"<(\w+)>", marker)
        kind = (
            "boxed" if marker == "\\boxed{" else f"tag:{tag.group(1).lower()}" if tag else "marker"
        )
        start = 0
        while (pos := text.find(marker, start)) != -1:
            events.append((pos, len(marker), kind))
            start = pos + len(marker)
    events += [
        (m.start(), len(m.group()), "tag:" + m.group(1).lower()) for m in _TAGS.finditer(text)
    ]
    events += [(m.start(), len(m.group()), "marker") for m in _ANSWER_LINE.finditer(text)]
    for pos, length, kind in sorted(set(events)):
        if pos < covered_until:
            continue
        if kind == "boxed":
            braces = braces or _Braces(text)
            inner = _boxed_contents(text, pos, braces)
            if inner is None:
                continue
            answer, end = inner
            if (
                found
                and found[-1].kind == "boxed"
                and _BOX_JOIN.fullmatch(text[found[-1].end : pos])
            ):
                # "\boxed{2} and \boxed{3}": one answer with two parts
                previous = found.pop()
                joined = clean_answer(text[previous.start : end])
                found.append(FinalAnswer(joined, previous.start, end, "boxed"))
                covered_until = end
                continue
        elif kind.startswith("tag:"):
            closing = f"</{kind[4:]}>"
            limit = min(len(text), pos + MAX_ANSWER_SCAN)
            lowered = text[pos:limit].lower()
            close_at = lowered.find(closing)
            close = pos + close_at if close_at != -1 else -1
            end = close + len(closing) if close != -1 else limit
            answer = text[pos + length : close if close != -1 else limit]
        else:
            body_start = pos + length
            window_end = min(len(text), body_start + MAX_ANSWER_SCAN)
            body = text[body_start:window_end].lstrip(" :*：\n#")
            lead = window_end - body_start - len(body)
            paragraph = re.split(r"\n\s*\n", body.strip(), maxsplit=1)[0] if body.strip() else ""
            # "**Final Answer**\n\n\[ \boxed{6} \]": the answer is the next paragraph.
            answer = paragraph
            end = body_start + lead + len(paragraph)
        cleaned = clean_answer(answer)
        if cleaned:
            found.append(FinalAnswer(cleaned, pos, end, "boxed" if kind == "boxed" else ""))
            covered_until = end
    if not found:
        # A sentence "the answer is X" is a final answer only near the end: one the model
        # goes on to doubt for pages (and never finishes) is not.
        tail_from = max(0, len(text.rstrip()) - PROSE_ANSWER_TAIL)
        for match in _PROSE_ANSWER.finditer(text, tail_from):
            cleaned = clean_answer(match.group("answer"))
            if cleaned:
                found.append(FinalAnswer(cleaned, match.start(), match.end("answer"), "prose"))
    return found


def extract_final_answer(text: str, markers: Sequence[str] = DEFAULT_MARKERS) -> str | None:
    """The last final answer in ``text``, or ``None`` when there is none."""
    answers = find_final_answers(text, markers)
    return answers[-1].text if answers else None


# ---------------------------------------------------------------- comparing answers

Precision = Literal["strict", "stated"]
"""``strict``: only float noise is forgiven (``1/3`` is not ``0.333``). ``stated``: a rounded
decimal with at least three significant digits also matches an exact value within half a unit
of its last digit (``5\\sqrt{3}`` is ``8.660``; ``0.5`` is not ``0.46``)."""
Kind = Literal["number", "expression", "choice", "text"]
COMPARE_TIME_LIMIT_S = 1.5
"""A comparison the math worker cannot finish in this time is given up (and says so)."""

_OPTION = re.compile(r"^\(?([A-Za-z])\)(?:\s+(.*))?$|^([A-Za-z])[.)](?:\s*(.*))?$|^([A-Za-z])$")
_OPTION_PREFIX = re.compile(r"^\s*\(?[A-Za-z]\)?[.)]\s*|^\s*\([A-Za-z]\)\s*")


@dataclass(frozen=True)
class Verdict:
    """Whether two answers are equivalent, and why."""

    equivalent: bool
    reason: str
    gave_up: bool = False
    """True when the comparison could not be finished (time limit, unreadable): not equivalent."""

    def __bool__(self) -> bool:
        return self.equivalent


def option_letter(answer: str, choices: Sequence[str]) -> str | None:
    """The choice letter an answer names by letter (``B``, ``(B)``, ``B.``, ``B) 13``), if it
    is one of the ``choices``; ``A:B=1`` or a letter past the last choice names none."""
    match = _OPTION.match(notation.unwrap_latex(clean_answer(answer)).strip())
    if not match:
        return None
    letter = next(g for g in (match.group(1), match.group(3), match.group(5)) if g).upper()
    return letter if 0 <= ord(letter) - ord("A") < len(choices) else None


def choice_text(choice: str) -> str:
    """A choice without its letter: ``B) 13`` -> ``13``."""
    return _OPTION_PREFIX.sub("", choice, count=1).strip()


def parse_answer(text: str, choices: Sequence[str] = ()) -> ParsedAnswer:
    """What kind of answer this is (an option letter, a number, an expression, or text), read
    without evaluating anything; a number keeps its unit, signs and stated decimals."""
    answer = clean_answer(text)
    letter = option_letter(answer, choices) if choices else None
    if letter is not None:
        return ParsedAnswer(answer, "choice", letter=letter)
    number = notation.read_number(answer)
    if number is not None and number.label is None:
        return ParsedAnswer(
            answer,
            "number",
            value=float(number.value),
            unit=number.unit,
            degrees=number.degrees,
            percent=number.percent,
            decimals=number.decimals if number.decimals > 0 else None,
        )
    if notation.is_prose(answer) or notation.lone_letter(answer) or not answer:
        return ParsedAnswer(answer, "text")
    return ParsedAnswer(answer, "expression")


@dataclass(frozen=True)
class ParsedAnswer:
    """An answer read into a kind, without evaluating it."""

    text: str
    """The answer as given, cleaned."""
    kind: Kind
    value: float | None = None
    """The value of a plain ``number``."""
    unit: str | None = None
    """A unit written after a number (``m/s``), as written."""
    degrees: bool = False
    percent: bool = False
    decimals: int | None = None
    """Decimals of a plain decimal literal (the precision it states)."""
    letter: str | None = None
    """The choice letter, for a ``choice``."""


def equivalent(
    a: str,
    b: str,
    *,
    precision: Precision = "strict",
    choices: Sequence[str] = (),
    time_limit_s: float = COMPARE_TIME_LIMIT_S,
) -> Verdict:
    """Are two answers the same?

    Option letters through ``choices`` (a letter means nothing without them); prose as text
    (case and spacing folded, never punctuation); numbers under the ``precision`` policy, with
    percent and degree signs optional on one side; LaTeX, expressions, sets, tuples,
    intervals, inequalities, equations (up to sign and labels) and matrices with math-verify;
    quantities with pint (``2.5 m/s`` = ``250 cm/s``). A lone letter or a ratio label is never
    guessed at. Bounded in any thread: a comparison past ``time_limit_s`` is given up
    (``Verdict.gave_up``) and is not equivalent.
    """
    ca, cb = clean_answer(a), clean_answer(b)
    if choices:
        la, lb = option_letter(ca, choices), option_letter(cb, choices)
        if la and lb:
            return Verdict(la == lb, f"choice {la} {'=' if la == lb else '≠'} choice {lb}")
        if la or lb:
            letter, other = (la, cb) if la else (lb, ca)
            assert letter is not None
            text = choice_text(choices[ord(letter) - ord("A")])
            inner = equivalent(text, other, precision=precision, time_limit_s=time_limit_s)
            return Verdict(
                inner.equivalent, f"choice {letter} is {text}; {inner.reason}", inner.gave_up
            )
    na, nb = notation.read_number(ca), notation.read_number(cb)
    if na is not None and nb is not None:
        if na.unit is None and nb.unit is None:
            return _plain_numbers(na, nb, precision)
        return _ask_worker(ca, cb, precision, time_limit_s)
    if (
        max(len(ca), len(cb)) > notation.MAX_ANSWER_CHARS
        or notation.is_prose(ca)
        or notation.is_prose(cb)
        or notation.lone_letter(ca)
        or notation.lone_letter(cb)
    ):
        same = notation.normalise_text(ca) == notation.normalise_text(cb)
        return Verdict(same, "same text" if same else "different text")
    return _ask_worker(ca, cb, precision, time_limit_s)


def _plain_numbers(na: notation.Number, nb: notation.Number, precision: Precision) -> Verdict:
    """Two plain numbers (no unit), decided here."""
    if na.label and nb.label and na.label != nb.label:
        return Verdict(False, f"different things counted ({na.label} vs {nb.label})")
    same, reason = notation.compare_numbers(na.value, nb.value, na, nb, precision)
    return Verdict(same, reason)


def _ask_worker(a: str, b: str, precision: Precision, time_limit_s: float) -> Verdict:
    from qvq_agent.tools.math_worker import MathTimeout, MathWorkerError, worker

    request = {"kind": "compare", "a": a, "b": b, "precision": precision}
    try:
        answer = worker().ask(request, time_limit_s)
    except MathTimeout:
        return Verdict(False, f"gave up: the comparison took over {time_limit_s:g} s", True)
    except MathWorkerError as exc:
        return Verdict(False, f"gave up: {exc}", True)
    return Verdict(bool(answer["equivalent"]), str(answer["reason"]))
