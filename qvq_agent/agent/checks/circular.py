"""The ``circular`` check: re-checking without new evidence, flip-flopping, restating.

Three kinds of evidence are collected and scored; the check fires at :data:`THRESHOLD`:

* **idle re-checks** (1 point each): the same conclusion (the final answer, or the value a
  sentence concludes) stated again after a doubt marker ("wait", "let me check again",
  "再检查") with no new evidence since the last statement: no number that was not already in
  the trace, no tool result;
* **flip-flops** (2 points each): a conclusion that changes and comes back (105, 140, 105), or
  the model saying its results disagree ("different from my previous calculation");
* **idle alternatives** (0.5 each): "alternatively" / "or maybe" / "或者" with no new number
  since the previous one.

A trace that double-checks once or twice and confirms scores below the threshold: each honest
re-check brings new numbers (another method, the table's other rows) or is counted once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from qvq_agent import prompts
from qvq_agent.agent.checks.base import Finding, TraceInput, make_finding, register_check
from qvq_agent.agent.checks.spans import NUMBER, Sentence, sentences
from qvq_agent.answers import find_final_answers

THRESHOLD = 3.0

DOUBT = re.compile(
    r"\b(?:wait|hmm|hold on|but wait|on second thought|i(?:'m| am) not sure|"
    r"let me (?:re-?check|check (?:again|that)|double-check|verify|re-?examine|reconsider|"
    r"think again|recount|count again|look again|recalculate|re-?calculate)|"
    r"(?:that|this) (?:doesn't|does not|can't|cannot) (?:seem )?(?:be )?right|"
    r"maybe i (?:made a mistake|misread|miscounted))\b|"
    r"等一下|等等|不对|再检查|再确认|再想想|再看看|再查|再算|重新(?:算|计算|检查|考虑)|可能我哪里|"
    r"可能不对|是不是.{0,10}错",
    re.IGNORECASE,
)
ALTERNATIVE = re.compile(
    r"\b(?:alternatively|or maybe|or perhaps|another possibility)\b|或者", re.I
)
DISAGREE = re.compile(
    r"\b(?:different from (?:both |all )?(?:my |the )?(?:previous|earlier|first|other)|"
    r"(?:doesn't|does not|don't|do not) match (?:my |the )?(?:previous|earlier|first)|"
    r"which one is (?:correct|right)|there(?:'s| is) (?:an )?inconsistency|contradict(?:s|ion)|"
    r"i(?:'m| am) confused)\b|哪个是对的|哪个正确|矛盾|不一致",
    re.IGNORECASE,
)
CONCLUDE = re.compile(
    r"\b(?:so|therefore|thus|hence|the answer|answer is|must be|should be|would be|is equal to|"
    r"equals|comes to|gives|i (?:think|believe|get)|total(?:ly)?|result)\b|所以|因此|答案|应该是|"
    r"就是|等于|得到|结果",
    re.IGNORECASE,
)
_TOOL = re.compile(r"<tool_response>")


@dataclass(frozen=True)
class Evidence:
    """One piece of circular evidence: kind, points, where."""

    kind: str
    points: float
    start: int
    end: int


def _answer_key(trace: TraceInput) -> tuple[str, int] | None:
    """What the trace finally concludes, and where its final answer starts."""
    answers = find_final_answers(trace.text, trace.answer_markers)
    if not answers:
        return None
    final = answers[0]
    digits = NUMBER.findall(final.text)
    if digits:
        return digits[-1].replace(",", ""), final.start
    core = final.text.strip()
    for piece in re.findall(r"[\u4e00-\u9fff]+", trace.question):
        core = core.replace(piece, " ") if len(piece) >= 2 else core
    parts = [p for p in re.split(r"\s+|[，。、,.:：]", core) if len(p) >= 2]
    return (max(parts, key=len), final.start) if parts else None


def _concluded(sentence: Sentence, key: str) -> bool:
    if not CONCLUDE.search(sentence.text):
        return False
    if key[0].isdigit() or key[0] == "-":
        return key in {n.replace(",", "") for n in NUMBER.findall(sentence.text)}
    return key in sentence.text


def _new_numbers(text: str, seen: set[str]) -> bool:
    found = {n.replace(",", "") for n in NUMBER.findall(text)}
    fresh = bool(found - seen)
    seen |= found
    return fresh


def _idle_rechecks(trace: TraceInput, parts: list[Sentence]) -> list[Evidence]:
    key = _answer_key(trace)
    if key is None:
        return []
    value, answer_at = key
    evidence = []
    seen: set[str] = set()
    last_end = 0
    statements = 0
    doubted = False
    for sentence in parts:
        if sentence.start >= answer_at:
            break
        gap = trace.text[last_end : sentence.start]
        if DOUBT.search(gap) or DOUBT.search(sentence.text):
            doubted = True
        if not _concluded(sentence, value):
            continue
        fresh = _new_numbers(trace.text[: sentence.start], seen) or bool(_TOOL.search(gap))
        statements += 1
        if statements > 1 and doubted and not fresh:
            evidence.append(Evidence("re-check", 1.0, sentence.start, sentence.end))
        last_end = sentence.end
        doubted = False
        # Numbers up to and including this statement are known from here on.
        _new_numbers(trace.text[: sentence.end], seen)
    return evidence


_VALUE_CLAIM = re.compile(
    r"(?P<subject>\bit\b|angle\s*\w+|∠\s*\w+|the answer|answer|volume|area|total|probability|"
    r"(?:the )?(?:sequence|order|number|count|length|result)|答案|结果)"
    r"(?:,[^,.]{0,40},)?\s*(?:is|=|would (?:also )?be|should (?:also )?be|must be|是|为|应该是)"
    r"\s*(?:approximately\s*)?(?P<value>[A-E](?![a-z])|-?\d[\d,]*(?:\.\d+)?|"
    r"(?:first|second|third|fourth)[^.;]{0,80})",
    re.IGNORECASE,
)
_ANTONYMS = (
    ("higher", "lower"),
    ("larger", "smaller"),
    ("bigger", "smaller"),
    ("more", "less"),
    ("above", "below"),
    ("longer", "shorter"),
    ("greater", "less"),
    ("left", "right"),
)
_COMPARE = re.compile(r"\b(\w+) than ([\w\s]{3,40}?)(?=[,.;]|\s+but\b|$)", re.IGNORECASE)
_AGAIN = re.compile(
    r"(?:^|[.!?。]\s+)(?:again|once again|once more)\b,?|(?:^|[。，])又", re.IGNORECASE
)


def _flip_flops(text: str) -> list[Evidence]:
    evidence = [Evidence("disagree", 2.0, m.start(), m.end()) for m in DISAGREE.finditer(text)]
    history: dict[str, list[tuple[str, int, int]]] = {}
    last_subject = None
    for match in _VALUE_CLAIM.finditer(text):
        subject = re.sub(r"\s+", " ", match.group("subject").lower().replace("the ", ""))
        if subject == "it":
            if last_subject is None:
                continue
            subject = last_subject
        last_subject = subject
        value = re.sub(r"\s+", " ", match.group("value").replace(",", "").lower()).strip()
        history.setdefault(subject, []).append((value, match.start(), match.end()))
    for claims in history.values():
        values = [v for v, _, _ in claims]
        for i in range(1, len(values)):
            if values[i] == values[i - 1]:
                continue
            if values[i] in values[: i - 1]:
                evidence.append(Evidence("flip-flop", 2.0, claims[i][1], claims[i][2]))
            elif HEDGED.search(text[claims[i - 1][2] : claims[i][1]]):
                evidence.append(Evidence("changed", 1.0, claims[i][1], claims[i][2]))
    return evidence


HEDGED = re.compile(r"\b(?:alternatively|perhaps|maybe|wait|if)\b|或者|也许", re.IGNORECASE)


def _contradictions(parts: list[Sentence]) -> list[Evidence]:
    """One sentence says X is higher than Y and lower than Y (incoherent self-reflection)."""
    evidence = []
    for sentence in parts:
        found = [
            (m.group(1).lower(), m.group(2).strip().lower())
            for m in _COMPARE.finditer(sentence.text)
        ]
        for a, b in _ANTONYMS:
            objects_a = {obj for word, obj in found if word == a}
            objects_b = {obj for word, obj in found if word == b}
            if objects_a & objects_b:
                evidence.append(Evidence("contradiction", 3.0, sentence.start, sentence.end))
    return evidence


def _restated_again(text: str) -> list[Evidence]:
    return [Evidence("again", 1.0, m.start(), m.end()) for m in _AGAIN.finditer(text)]


def _idle_alternatives(text: str) -> list[Evidence]:
    """Alternatives proposed with no new number since the previous one (or in the 300 chars before)."""
    evidence = []
    seen: set[str] = set()
    first = ALTERNATIVE.search(text)
    if first is not None:
        _new_numbers(text[: max(0, first.start() - 300)], seen)
    last: int | None = None
    for match in ALTERNATIVE.finditer(text):
        since = last if last is not None else max(0, match.start() - 300)
        if not _new_numbers(text[since : match.start()], seen):
            evidence.append(Evidence("alternative", 0.5, match.start(), match.end()))
        last = match.end()
    return evidence


def circular_evidence(trace: TraceInput) -> list[Evidence]:
    """All circular evidence in the trace, in order."""
    parts = sentences(trace.text)
    found = (
        _idle_rechecks(trace, parts)
        + _flip_flops(trace.text)
        + _idle_alternatives(trace.text)
        + _contradictions(parts)
        + _restated_again(trace.text)
    )
    return sorted(found, key=lambda e: e.start)


@register_check("circular")
def check_circular(trace: TraceInput) -> list[Finding]:
    """Re-checking without new evidence, flip-flopping, restating the same conclusion."""
    evidence = circular_evidence(trace)
    score = sum(e.points for e in evidence)
    if score < THRESHOLD:
        return []
    kinds = {e.kind: sum(1 for x in evidence if x.kind == e.kind) for e in evidence}
    main = max(kinds, key=lambda k: sum(e.points for e in evidence if e.kind == k))
    reason = prompts.CIRCULAR_REASONS[main].format(
        n=kinds[main] + 1 if main == "re-check" else kinds[main]
    )
    message = prompts.FINDING_CIRCULAR.format(reason=reason)
    return [make_finding("circular", message, trace.text, evidence[0].start, evidence[-1].end)]
