"""Final answers: find where the model marks its answer and read it out.

QVQ writes ``**Final Answer**`` and then the answer (often ``\\boxed{...}``); other models use
``\\boxed{}`` alone or ``<answer>...</answer>``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

DEFAULT_MARKERS = ("**Final Answer**", "**答案**", "\\boxed{", "<answer>")


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
