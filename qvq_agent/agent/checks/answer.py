"""The ``no_final_answer`` and ``answer_mismatch`` checks: is there one answer, and does it fit?

``answer_mismatch`` fires on several different final answers; a final answer that contradicts
the conclusion just before it, the length of the list the model just enumerated (for a counting
question), or the calculator's last result; and a multiple-choice answer that is not a choice.
"""

from __future__ import annotations

import re
from decimal import Decimal

from qvq_agent import prompts
from qvq_agent.agent.checks.base import Finding, TraceInput, make_finding, register_check
from qvq_agent.agent.checks.spans import NUMBER
from qvq_agent.answers import FinalAnswer, equivalent, find_final_answers
from qvq_agent.tools import notation


@register_check("no_final_answer")
def check_no_final_answer(trace: TraceInput) -> list[Finding]:
    """No final answer marked in the trace."""
    if find_final_answers(trace.text, trace.answer_markers) or closing_conclusion(trace.text):
        return []
    start = max(0, len(trace.text) - 200)
    message = prompts.FINDING_CUT if trace.cut_by_guard else prompts.FINDING_NO_ANSWER
    confidence = 1.0 if trace.cut_by_guard else 0.95
    return [
        make_finding(
            "no_final_answer", message, trace.text, start, len(trace.text), confidence=confidence
        )
    ]


_CHOICE_LIST = re.compile(r"(?:^|\s|\()([A-H])[.):：]\s*([^\s][^\n]*?)(?=\s+\(?[A-H][.):：]|\n|$)")
_COUNT_QUESTION = re.compile(r"\bhow many\b|\bnumber of\b|\bcount\b|多少|几个|几", re.IGNORECASE)
_CLOSING_MARK = re.compile(
    r"\b(?:therefore|thus|hence|so|in conclusion|in summary|the answer is)\b|所以|因此|综上",
    re.IGNORECASE,
)
_STATES = re.compile(r"\b(?:is|are|was|equals)\b|=|是|为", re.IGNORECASE)
MAX_CLOSING_CHARS = 250


def closing_conclusion(text: str) -> str | None:
    """A finished last sentence that states the answer in prose ("Therefore, AC is 7."), when
    unmarked: short, marked as a conclusion, stating something. A trace cut off mid-sentence
    (a loop stopped by the token limit) has none."""
    tail = text.rstrip()
    if not tail.endswith((".", "。", "!", "！")):
        return None
    last = [
        p for p in re.split(r"(?<=[.!?。！？])\s+|\n+", tail[-2 * MAX_CLOSING_CHARS :]) if p.strip()
    ]
    sentence = last[-1].strip() if last else ""
    if len(sentence) > MAX_CLOSING_CHARS:
        return None
    if _CLOSING_MARK.search(sentence) and _STATES.search(sentence):
        return sentence
    return None


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


def _mismatch(trace: TraceInput, start: int, end: int, message: str, confidence: float) -> Finding:
    return make_finding("answer_mismatch", message, trace.text, start, end, confidence=confidence)


def _answer_key(text: str) -> Decimal | str:
    """What a final answer says, cheaply: ``15`` and ``15.0`` share a key, as do ``(A)`` and
    ``A``."""
    number = notation.read_number(text)
    if number is not None:
        return number.value
    return re.sub(r"[\s()$.*]+", "", notation.unwrap_latex(text)).lower()


def _same_answer(a: str, b: str) -> bool:
    """Two final answers say the same (see :func:`_answer_key`)."""
    return _answer_key(a) == _answer_key(b)


_CONCLUDING = re.compile(
    r"\b(?:so|thus|therefore|hence|in conclusion|in summary|the answer|the result|overall)\b|"
    r"所以|因此|综上|答案",
    re.IGNORECASE,
)
_MARKUP_TAIL = re.compile(r"(?:\s*(?:</?\w+>|<\w+_\w+>|\*\*|#+|Final [Aa]nswer:?))+\s*$")
_TRAILING_NUMBER = re.compile(
    r"(?<![∠\w.])(-?\d[\d,]*(?:\.\d+)?)(?![\d,.]*\s*°?\s*[-+*/×÷^])(?!\s*=)"
)
_UNSURE = re.compile(
    r"\b(?:(?:does|do|did) not (?:provide|give|show|contain)|not (?:enough|sufficient)|"
    r"insufficient|cannot be determined|can(?:no|')t (?:be )?determine|impossible to (?:tell|determine))\b",
    re.IGNORECASE,
)
_WHAT_QUESTION = re.compile(
    r"\b(?:what|which|who)\b[^?]*\b(?:stand for|stands for|mean|means|depict|depicts|represent|"
    r"represents|name|called|colou?r|shape|material|kind|type|word|written|say|says)\b",
    re.IGNORECASE,
)
_QUOTED_ENTITY = re.compile(r"[\"“]([A-Z][^\"”]{2,60})[\"”]")
_SENTENCE_BREAK = re.compile(r"(?<=[.!?。！？])\s+|\n+")
_YEAR_QUESTION = re.compile(r"\b(?:which|what) year\b|\bin which year\b", re.IGNORECASE)
_YEAR = re.compile(r"\b(1[5-9]\d\d|20\d\d)\b")
_SHORT_ITEM = re.compile(r"^\s*\d+[.)]\s+([^\n=:]{1,60})$", re.MULTILINE)


_WORD_NUMBER = re.compile(
    r"\b(zero|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve)\b", re.IGNORECASE
)


def _last_conclusion(before: str, question: str) -> tuple[float, str, bool] | None:
    """The value the last sentence with a number states just before the final answer: its
    last number (not an operand, not a name like ∠1, not a number the question gives), and
    whether the sentence is marked as a conclusion. ``None`` when the answer ends the sentence
    itself or no sentence within 400 characters states a number."""
    window = _MARKUP_TAIL.sub("", before[-400:])
    if not window.rstrip(" \t").endswith(("\n", ".", "。", "!", "?", "！", "？")):
        return None  # "... is \\(\\boxed{10}": the answer's own sentence
    given = {n.replace(",", "") for n in NUMBER.findall(question)}
    for sentence in reversed([p for p in _SENTENCE_BREAK.split(window) if p.strip()]):
        body = sentence.rstrip(".。 \n")
        found: list[tuple[int, str, float]] = []
        for match in _TRAILING_NUMBER.finditer(body):
            if match.group(1).replace(",", "") not in given:
                found.append(
                    (match.start(), match.group(1), float(match.group(1).replace(",", "")))
                )
        for match in _WORD_NUMBER.finditer(body):
            value = float(notation.NUMBER_WORDS[match.group(1).lower()])
            found.append((match.start(), match.group(1), value))
        if found:
            _, shown, value = max(found)
            return value, shown, bool(_CONCLUDING.search(sentence))
        if _TRAILING_NUMBER.search(body):
            return None  # it states only numbers the question gave
    return None


@register_check("answer_mismatch")
def check_answer_mismatch(trace: TraceInput) -> list[Finding]:
    """Several different final answers, or one that contradicts the trace's own evidence."""
    answers = find_final_answers(trace.text, trace.answer_markers)
    if not answers:
        return []
    final = answers[-1]
    findings = []
    by_key: dict[Decimal | str, str] = {}
    for answer in answers:
        by_key.setdefault(_answer_key(answer.text), answer.text)
    distinct = list(by_key.values())
    if len(distinct) > 1:
        shown = ", ".join(d if len(d) <= 60 else d[:59] + "…" for d in distinct)
        findings.append(
            _mismatch(
                trace,
                answers[0].start,
                final.end,
                prompts.FINDING_SEVERAL_ANSWERS.format(answers=shown),
                0.9,
            )
        )
    value = _number(final.text)
    before = trace.text[: answers[0].start]
    if value is not None:
        concluded = _last_conclusion(before, trace.question)
        if concluded is not None:
            stated, shown, marked = concluded
            if abs(stated - value) > 1e-9 * max(1.0, abs(value)):
                findings.append(
                    _mismatch(
                        trace,
                        final.start,
                        final.end,
                        prompts.FINDING_ANSWER_VS_CONCLUSION.format(
                            answer=final.text, concluded=shown
                        ),
                        0.85 if marked else 0.7,
                    )
                )
        findings += _words_then_number(trace, final, before, value)
        items = [m.group(1) for m in _SHORT_ITEM.finditer(before[-1500:])]
        if (
            _COUNT_QUESTION.search(trace.question)
            and len(items) >= 2
            and value != len(items)
            and value == int(value)
        ):
            findings.append(
                _mismatch(
                    trace,
                    final.start,
                    final.end,
                    prompts.FINDING_ANSWER_VS_LIST.format(n=len(items), answer=final.text),
                    0.6,
                )
            )
        calculated = [t for t in trace.tool_results if t.name == "calculate" and t.ok and t.value]
        if calculated and "=" not in trace.text and concluded is None:
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
                        0.8,
                    )
                )
    findings += _not_a_choice(trace, final)
    findings += _letter_vs_value(trace, final, before)
    return findings


def _letter_vs_value(trace: TraceInput, final: FinalAnswer, before: str) -> list[Finding]:
    """A letter answer whose option value is not the value the last conclusion states, when that
    value is another option's ("angle 1 is 105°, which is option C", C being 140°)."""
    options = choices_of(trace)
    letter = re.fullmatch(r"\(?([A-H])\)?\.?", final.text.strip())
    if letter is None or letter.group(1) not in options:
        return []
    values = {k: v for k, v in ((k, _number(t)) for k, t in options.items()) if v is not None}
    chosen = values.get(letter.group(1))
    if chosen is None:
        return []
    for sentence in reversed(_SENTENCE_BREAK.split(before[-600:].strip())):
        if not _CONCLUDING.search(sentence):
            continue
        said = {float(n.replace(",", "")) for n in NUMBER.findall(sentence)}
        others = [k for k, v in values.items() if v in said and k != letter.group(1)]
        if chosen in said or not others:
            return []
        message = prompts.FINDING_LETTER_VS_VALUE.format(
            answer=letter.group(1),
            chosen=options[letter.group(1)],
            concluded=options[others[-1]],
            other=others[-1],
        )
        return [_mismatch(trace, final.start, final.end, message, 0.8)]
    return []


def _words_then_number(
    trace: TraceInput, final: FinalAnswer, before: str, value: float
) -> list[Finding]:
    """A conclusion in words, then a bare number as the answer: the reasoning said what "T"
    stands for (or that it cannot tell, or which year) and the answer is something else."""
    tail = before[-600:]
    reason = None
    if _UNSURE.search(tail[-300:]):
        reason = "the reasoning just said it cannot be determined"
    elif _WHAT_QUESTION.search(trace.question) and _QUOTED_ENTITY.search(tail[-300:]):
        entity = _QUOTED_ENTITY.findall(tail[-300:])[-1]
        reason = f'the reasoning concluded "{entity}"'
    elif _YEAR_QUESTION.search(trace.question) and not _YEAR.fullmatch(final.text.split()[0]):
        years = _YEAR.findall(tail)
        if years:
            reason = f"the question asks for a year and the reasoning concluded {years[-1]}"
    if reason is None:
        return []
    message = prompts.FINDING_WORDS_VS_NUMBER.format(answer=final.text, reason=reason)
    return [_mismatch(trace, final.start, final.end, message, 0.7)]


def _not_a_choice(trace: TraceInput, final: FinalAnswer) -> list[Finding]:
    """With choices, the answer must name one: by letter, or by the option's text or value."""
    options = choices_of(trace)
    if not options:
        return []
    text = final.text.strip().strip("()").rstrip(".")
    letter = re.fullmatch(r"([A-H])(?:[.):：].*)?", text)
    if letter is not None and letter.group(1) in options:
        return []
    listed = [f"{k}) {v}" for k, v in options.items()]
    for option in options.values():
        if option and _same_answer(option, text):
            return []
    if any(
        equivalent(text, option, choices=listed, time_limit_s=1.0)
        for option in options.values()
        if option
    ):
        return []
    return [
        _mismatch(
            trace,
            final.start,
            final.end,
            prompts.FINDING_NOT_A_CHOICE.format(answer=final.text, letters=", ".join(options)),
            0.75,
        )
    ]
