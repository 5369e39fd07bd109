"""The ``no_final_answer`` and ``answer_mismatch`` checks: is there one answer, and does it fit?

``answer_mismatch`` fires on several different final answers; a final answer that contradicts
the conclusion just before it, the length of the list the model just enumerated (for a counting
question), or the calculator's last result; and a multiple-choice answer that is not a choice.
"""

from __future__ import annotations

import re

from qvq_agent import prompts
from qvq_agent.agent.checks.base import Finding, TraceInput, make_finding, register_check
from qvq_agent.agent.checks.spans import NUMBER
from qvq_agent.answers import find_final_answers


@register_check("no_final_answer")
def check_no_final_answer(trace: TraceInput) -> list[Finding]:
    """No final answer marked in the trace."""
    if find_final_answers(trace.text, trace.answer_markers) or closing_conclusion(trace.text):
        return []
    start = max(0, len(trace.text) - 200)
    message = prompts.FINDING_CUT if trace.cut_by_guard else prompts.FINDING_NO_ANSWER
    return [make_finding("no_final_answer", message, trace.text, start, len(trace.text))]


_CHOICE_LIST = re.compile(r"(?:^|\s|\()([A-H])[.):：]\s*([^\s][^\n]*?)(?=\s+\(?[A-H][.):：]|\n|$)")
_LIST_ITEM = re.compile(r"^\s*(\d+)[.)]\s+\S", re.MULTILINE)
_COUNT_QUESTION = re.compile(r"\bhow many\b|\bnumber of\b|\bcount\b|多少|几个|几", re.IGNORECASE)
_CONCLUSION = re.compile(
    r"(?:so|therefore|thus|hence|the answer is|total(?: number)?(?: of \w+)? is|所以|因此|答案是)"
    r"[^\n。]*(?:=|\bis\b|\bare\b|\bequals\b|是|为|等于)\s*(-?\d[\d,]*(?:\.\d+)?)(?![\d,.]*\s*°?\s*[-+*/×÷])",
    re.IGNORECASE,
)
_CLOSING = re.compile(
    r"(?:^|\n)[^\n]*\b(?:therefore|thus|hence|so|in conclusion|the answer is)\b[^\n]*"
    r"(?:\bis\b|\bare\b|=)[^\n]*\S[^\n]*\s*$|(?:^|\n)[^\n]*(?:所以|因此|综上)[^\n]*(?:是|为|=)[^\n]+\s*$",
    re.IGNORECASE,
)


def closing_conclusion(text: str) -> str | None:
    """A finished last line that states the answer in prose ("Therefore, AC is 7."), when unmarked.

    A line cut off mid-sentence (a loop stopped by the token limit) is no conclusion.
    """
    tail = text.rstrip()
    if not tail.endswith((".", "。", "!", "！")):
        return None
    match = _CLOSING.search(tail[-400:])
    return match.group().strip() if match else None


def _number(text: str) -> float | None:
    found = NUMBER.findall(text)
    if len(found) != 1:
        return None
    return float(found[0].replace(",", ""))


def choices_of(trace: TraceInput) -> dict[str, str]:
    """Multiple-choice options by letter, given or read from the question."""
    listed = trace.choices or ()
    if not listed:
        return {m.group(1): m.group(2).strip() for m in _CHOICE_LIST.finditer(trace.question)}
    out = {}
    for i, choice in enumerate(listed):
        match = re.match(r"\(?([A-H])[.):：]\s*(.*)", choice.strip())
        letter, text = (match.group(1), match.group(2)) if match else (chr(ord("A") + i), choice)
        out[letter] = text.strip()
    return out


def _mismatch(trace: TraceInput, start: int, end: int, message: str) -> Finding:
    return make_finding("answer_mismatch", message, trace.text, start, end)


@register_check("answer_mismatch")
def check_answer_mismatch(trace: TraceInput) -> list[Finding]:
    """Several different final answers, or one that contradicts the trace's own evidence."""
    answers = find_final_answers(trace.text, trace.answer_markers)
    if not answers:
        return []
    final = answers[-1]
    findings = []
    distinct = {re.sub(r"\s+", "", a.text).rstrip(".") for a in answers}
    if len(distinct) > 1:
        shown = ", ".join(sorted(distinct))
        findings.append(
            _mismatch(
                trace,
                answers[0].start,
                final.end,
                prompts.FINDING_SEVERAL_ANSWERS.format(answers=shown),
            )
        )
    value = _number(final.text)
    before = trace.text[: answers[0].start]
    if value is not None:
        conclusions = list(_CONCLUSION.finditer(before[-600:]))
        if conclusions:
            concluded = float(conclusions[-1].group(1).replace(",", ""))
            if abs(concluded - value) > 1e-9 * max(1.0, abs(value)):
                findings.append(
                    _mismatch(
                        trace,
                        final.start,
                        final.end,
                        prompts.FINDING_ANSWER_VS_CONCLUSION.format(
                            answer=final.text, concluded=conclusions[-1].group(1)
                        ),
                    )
                )
        items = [int(m.group(1)) for m in _LIST_ITEM.finditer(before[-1500:])]
        if (
            _COUNT_QUESTION.search(trace.question)
            and len(items) >= 2
            and items == list(range(1, len(items) + 1))
            and value != len(items)
            and value == int(value)
        ):
            findings.append(
                _mismatch(
                    trace,
                    final.start,
                    final.end,
                    prompts.FINDING_ANSWER_VS_LIST.format(n=len(items), answer=final.text),
                )
            )
        calculated = [t for t in trace.tool_results if t.name == "calculate" and t.ok and t.value]
        if calculated and "=" not in trace.text and not conclusions:
            last = _number(calculated[-1].value or "")
            if last is not None and abs(last - value) > 0.005 * max(1.0, abs(last)):
                findings.append(
                    _mismatch(
                        trace,
                        final.start,
                        final.end,
                        prompts.FINDING_ANSWER_VS_TOOL.format(
                            value=calculated[-1].value, answer=final.text
                        ),
                    )
                )
    options = choices_of(trace)
    if options:
        text = final.text.strip().strip("()").rstrip(".")
        letter = re.fullmatch(r"([A-H])(?:[.):：].*)?", text)
        by_text = [k for k, v in options.items() if v and v.lower() == text.lower()]
        if (letter is None or letter.group(1) not in options) and not by_text:
            listed = ", ".join(options)
            findings.append(
                _mismatch(
                    trace,
                    final.start,
                    final.end,
                    prompts.FINDING_NOT_A_CHOICE.format(answer=final.text, letters=listed),
                )
            )
    return findings
