"""The ``circular`` check: going round in circles instead of getting new evidence.

It follows the *candidate answers* through the trace — numbers, option letters, and the words the
question offers (its choices, and categories it names or asks about: colours, materials, shapes,
sizes, sides, months, weekdays, yes/no) — and scores what circular reasoning leaves behind:

* **idle re-checks** (1 point each past the first two): a doubt ("wait", "let me check again",
  "再检查"; doubts with nothing between them count once) followed by text that is under 60% new
  (content words, numbers) before the next doubt, with no tool result and no different method
  named. Two such re-checks are free: an honest double-check is not circular;
* **dead ends again** (1 point each): a computed result the model rejected ("= 73, which is too
  high") computed again;
* **repeated computation** (1 point for each time past the second): the same computation
  (``80 - 66 = 14``) written a third time, a fourth, ...;
* **oscillation** (1.5 points each): a concluded candidate word that changes and comes back
  (March → April → March), a quantity whose stated value does ("angle 1 is 105°" → 140° →
  105°), or the model saying its results disagree;
* **self-contradiction** (3 points each: it fires alone): a thing given two exclusive
  attributes ("the large red sphere is of the shape of a cylinder"; X higher than Y and lower
  than Y in one sentence);
* **idle alternatives** (0.5 each): "alternatively" / "或者" with no new number since the last.

A trace that double-checks once or twice, or whose "wait" leads somewhere new, stays below the
threshold. The finding quotes where the circling started; its confidence grows with the score.
Every scan is linear in the text.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from qvq_agent import prompts
from qvq_agent.agent.checks.base import Finding, TraceInput, make_finding, register_check
from qvq_agent.agent.checks.spans import NUMBER, Sentence, sentences
from qvq_agent.answers import find_final_answers

THRESHOLD = 3.0
"""Score at which the check fires (confidence 0.65 there, growing with the score)."""

DOUBT = re.compile(
    r"\b(?:wait|hmm|hold on|but wait|but maybe|on second thought|i(?:'m| am) not sure|look again|"
    r"let me (?:re-?check|check (?:again|that|this)|double[- ]check|verify|re-?examine|reconsider|"
    r"think again|recount|count again|look again|recalculate|re-?calculate|confirm|make sure|"
    r"go (?:through|over) (?:it|this|that|the steps) again)|check again|double[- ]check(?:ing)?|"
    r"to be (?:sure|safe|certain)|(?:that|this) (?:doesn't|does not|can't|cannot) (?:seem )?(?:be )?right|"
    r"that(?:'s| is) (?:incorrect|wrong|not right)|"
    r"maybe i (?:made a mistake|misread|miscounted|have)|did i (?:make|miss))\b|"
    r"等一下|等等|不对|再检查|再确认|再想想|再看看|再查|再算|重新(?:算|计算|检查|考虑)|可能我哪里|"
    r"可能不对|是不是.{0,10}错",
    re.IGNORECASE,
)
NEW_METHOD = re.compile(
    r"\b(?:another (?:way|method|approach)|different (?:way|method|approach)|alternatively, "
    r"(?:using|let's use|we can use)|by (?:substitut|plugging|coordinates)|using (?:the )?\w+ "
    r"(?:formula|theorem|rule|law))\b|换一种方法|另一种方法",
    re.IGNORECASE,
)
ALTERNATIVE = re.compile(
    r"\b(?:alternatively|or maybe|or perhaps|another possibility)\b|或者", re.IGNORECASE
)
DISAGREE = re.compile(
    r"\b(?:different from (?:both |all )?(?:my |the )?(?:previous|earlier|first|other)|"
    r"(?:doesn't|does not|don't|do not) match (?:my |the )?(?:previous|earlier|first)|"
    r"which one is (?:correct|right)|there(?:'s| is) (?:an )?inconsistency|"
    r"i(?:'m| am) confused|but (?:according to|from|based on) (?:my|the) (?:earlier|previous|first) "
    r"(?:calculation|result|answer|reasoning))\b|哪个是对的|哪个正确|不一致",
    re.IGNORECASE,
)
CONCLUDE = re.compile(
    r"\b(?:so|therefore|thus|hence|the answer|answer is|must be|should be|would be|is equal to|"
    r"equals|comes to|gives|i (?:think|believe|get)|total(?:ly)?|result|that(?:'s| is)|"
    r"only|confirm(?:s|ed)?|correct)\b|所以|因此|答案|应该是|就是|等于|得到|结果",
    re.IGNORECASE,
)
_TOOL = re.compile(r"<tool_response>")
_STOP = frozenset(
    [
        "a",
        "an",
        "the",
        "is",
        "are",
        "was",
        "were",
        "be",
        "to",
        "of",
        "and",
        "or",
        "in",
        "on",
        "at",
        "for",
        "it",
        "this",
        "that",
        "so",
        "thus",
        "therefore",
        "hence",
        "i",
        "we",
        "me",
        "my",
        "our",
        "its",
        "than",
        "then",
        "there",
        "here",
        "which",
        "what",
        "with",
        "as",
        "by",
        "but",
        "also",
        "just",
        "only",
        "again",
        "still",
        "now",
        "yes",
        "no",
        "not",
        "very",
    ]
)

CATEGORIES: dict[str, frozenset[str]] = {
    "colour": frozenset(
        [
            "red",
            "blue",
            "green",
            "yellow",
            "purple",
            "cyan",
            "brown",
            "gray",
            "grey",
            "black",
            "white",
            "orange",
            "pink",
            "gold",
            "silver",
        ]
    ),
    "material": frozenset(
        ["metal", "metallic", "rubber", "matte", "shiny", "plastic", "wood", "wooden", "glass"]
    ),
    "shape": frozenset(
        ["cube", "sphere", "cylinder", "cone", "ball", "block", "square", "circle", "triangle"]
    ),
    "size": frozenset(["large", "small", "big", "tiny"]),
    "side": frozenset(["left", "right", "above", "below", "top", "bottom", "front", "behind"]),
    "month": frozenset(
        [
            "january",
            "february",
            "march",
            "april",
            "may",
            "june",
            "july",
            "august",
            "september",
            "october",
            "november",
            "december",
        ]
    ),
    "weekday": frozenset(
        ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
    ),
    "answer": frozenset(["yes", "no"]),
}
_ASKS = {
    "colour": re.compile(r"\bcolou?r\b", re.I),
    "material": re.compile(r"\bmaterial|made of\b", re.I),
    "shape": re.compile(r"\bshape\b", re.I),
    "size": re.compile(r"\bsize\b", re.I),
    "side": re.compile(r"\bwhere|which side|position\b", re.I),
    "month": re.compile(r"\bmonth\b", re.I),
    "weekday": re.compile(r"\bday of the week|weekday\b", re.I),
    "answer": re.compile(r"^\s*(?:is|are|does|do|can|was|were)\b", re.I),
}


@dataclass(frozen=True)
class Evidence:
    """One piece of circular evidence: kind, points, where."""

    kind: str
    points: float
    start: int
    end: int


def vocabulary(trace: TraceInput) -> frozenset[str]:
    """Word candidates: the choices' words and the categories the question names or asks."""
    question = trace.question.lower()
    words: set[str] = set()
    for name, members in CATEGORIES.items():
        mentioned = any(re.search(rf"\b{m}\b", question) for m in members)
        if mentioned or _ASKS[name].search(trace.question):
            words |= members
    for choice in trace.choices:
        text = re.sub(r"^\(?[A-H]\)?[.):：]\s*", "", choice.strip()).lower()
        if text and len(text) <= 30 and not any(ch.isdigit() for ch in text):
            words.add(text)
    return frozenset(words)


def _candidates(sentence: str, words: frozenset[str], letters: bool) -> list[str]:
    """Candidate answers a sentence concludes: numbers, option letters, vocabulary words."""
    lowered = sentence.lower()
    found = [(m.start(), m.group().replace(",", "")) for m in NUMBER.finditer(sentence)]
    if words:
        found += [
            (m.start(), m.group())
            for m in re.finditer(r"[a-z]+(?: [a-z]+)?", lowered)
            if m.group() in words
        ]
        found += [
            (m.start(), m.group())
            for m in re.finditer(r"\b[a-z]+\b", lowered)
            if m.group() in words
        ]
    if letters:
        found += [
            (m.start(), m.group(1).lower())
            for m in re.finditer(r"(?:option|choice|answer is)\s*\(?([A-E])\)?\b", sentence)
        ]
    return [value for _, value in sorted(found)]


NOVELTY = 0.6
"""A stretch after a doubt whose content words are under this share new brings no evidence."""
FREE_RECHECKS = 2
"""Idle re-checks that cost nothing: an honest double-check or two is not circular."""
_CONTENT = re.compile(r"[a-z][a-z\-]{2,}\d*|\d+(?:\.\d+)?|[\u4e00-\u9fff]{2}", re.IGNORECASE)


_RECHECK_WORDS = frozenset(
    [
        "let",
        "check",
        "verify",
        "confirm",
        "recount",
        "count",
        "counting",
        "look",
        "looking",
        "see",
        "once",
        "more",
        "one",
        "time",
        "wait",
        "hmm",
        "hold",
        "maybe",
        "sure",
        "again",
        "still",
        "same",
        "make",
        "double",
        "think",
        "thinking",
        "should",
        "didn",
        "miss",
        "missed",
        "anything",
        "something",
        "mistake",
        "correct",
        "right",
        "really",
        "careful",
    ]
)
"""Words that say "I am checking" and carry no evidence of their own."""


def _stem(word: str) -> str:
    for suffix in ("ing", "ed", "es", "s"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def content(text: str) -> set[str]:
    """Content tokens: stems of words of three letters or more (not stopwords, not re-check
    vocabulary), numbers, CJK pairs."""
    words = (t.lower() for t in _CONTENT.findall(text))
    return {_stem(t) for t in words if t not in _STOP and t not in _RECHECK_WORDS}


def _reverifications(trace: TraceInput, end: int) -> list[Evidence]:
    """Doubts that lead nowhere new: after a "wait" / "let me check again" (doubts close
    together count once) the model goes on while under :data:`NOVELTY` of what it says is new
    (no new number, name or fact), with no tool result and no different method. The first
    :data:`FREE_RECHECKS` such re-checks are free; every one after counts."""
    text = trace.text
    doubts: list[tuple[int, int]] = []
    for match in DOUBT.finditer(text, 0, end):
        if doubts and not content(text[doubts[-1][1] : match.start()]):
            doubts[-1] = (doubts[-1][0], match.end())  # "But wait, let me double-check": one
            continue
        doubts.append((match.start(), match.end()))
    if not doubts:
        return []
    seen = content(trace.question + " " + text[: doubts[0][0]])
    evidence = []
    idle = 0
    bounds = [start for start, _ in doubts[1:]] + [end]
    for (start, doubt_end), stop in zip(doubts, bounds, strict=True):
        segment = text[doubt_end:stop]
        tokens = content(segment)
        novelty = len(tokens - seen) / len(tokens) if tokens else 0.0
        new_evidence = bool(_TOOL.search(segment)) or bool(NEW_METHOD.search(segment))
        if novelty < NOVELTY and not new_evidence:
            idle += 1
            if idle > FREE_RECHECKS:
                evidence.append(Evidence("re-check", 1.0, start, min(stop, doubt_end + 160)))
        seen |= tokens
    return evidence


_COMPUTATION = re.compile(
    r"(?<![\w.])(-?\d+(?:\.\d+)?(?:\s*[-+*/×÷^]\s*\(?-?\d+(?:\.\d+)?\)?)+)\s*(?:=|equals|is)\s*"
    r"(-?\d+(?:\.\d+)?)(?![\d.])",
    re.IGNORECASE,
)


def _repeated_computations(text: str) -> list[Evidence]:
    """The same computation written a third time, and every time after."""
    seen: Counter[str] = Counter()
    evidence = []
    for match in _COMPUTATION.finditer(text):
        key = re.sub(r"\s+", "", match.group(1)) + "=" + match.group(2)
        seen[key] += 1
        if seen[key] >= 3:
            evidence.append(Evidence("repeat", 1.0, match.start(), match.end()))
    return evidence


_RESULT = re.compile(
    r"(?:=|\bequals|\bgives(?: me| us)?|\b(?:i|we) get|\bwhich is|\bthat(?:'s| is)|\bis)\s*"
    r"(-?\d+(?:\.\d+)?)(?!\.?\d|\s*[-+*/×÷^]\s*\d)",
    re.IGNORECASE,
)
_OPERATION = re.compile(
    r"\d\s*[-+*/×÷^]\s*\(?\d|\b(?:add(?:ing)?|subtract(?:ing)?|multiply(?:ing)?|divid(?:e|ing)|"
    r"plus|minus|times)\b",
    re.IGNORECASE,
)
REJECT = re.compile(
    r"\b(?:too (?:high|low|big|small|large|much|many|few)|(?:is|'s) (?:still )?not (?:equal to )?\d|"
    r"still (?:not|doesn't|does not|isn't)|(?:doesn't|does not|won't|didn't) (?:work|match|fit)|"
    r"far from|not (?:close|enough|correct|right)|incorrect|no good)\b|不对|不行",
    re.IGNORECASE,
)


def _rejected_again(parts: list[Sentence], end: int) -> list[Evidence]:
    """A computed result the model rejected ("= 73, which is too high") computed again later —
    the same dead end reached a second time, a third, ... (1 point each)."""
    rejected: set[str] = set()
    evidence = []
    for i, sentence in enumerate(parts):
        if sentence.start >= end:
            break
        if not _OPERATION.search(sentence.text):
            continue
        results = list(_RESULT.finditer(sentence.text))
        if not results:
            continue
        following = parts[i + 1].text if i + 1 < len(parts) else ""
        value = results[-1].group(1)
        if value in rejected:
            start = sentence.start + results[-1].start()
            evidence.append(Evidence("dead-end", 1.0, start, start + len(results[-1].group())))
        if REJECT.search(sentence.text[results[-1].end() :]) or REJECT.search(following[:40]):
            rejected.add(value)
    return evidence


def _oscillations(trace: TraceInput, parts: list[Sentence], end: int) -> list[Evidence]:
    """A concluded candidate that changes and comes back (A -> B -> A), per kind of candidate."""
    words = vocabulary(trace)
    if not words:
        return []
    sequence: list[tuple[str, Sentence]] = []
    for sentence in parts:
        if sentence.start >= end:
            break
        if not CONCLUDE.search(sentence.text):
            continue
        found = [v for v in _candidates(sentence.text, words, False) if v in words]
        if found:
            sequence.append((found[-1], sentence))
    evidence = []
    collapsed: list[tuple[str, Sentence]] = []
    for value, sentence in sequence:
        if collapsed and collapsed[-1][0] == value:
            continue
        if any(v == value for v, _ in collapsed[:-1]):
            evidence.append(Evidence("flip-flop", 1.5, sentence.start, sentence.end))
        collapsed.append((value, sentence))
    return evidence


_STATEMENT = re.compile(
    r"\b((?:angle|side|length|area|total|answer|number|count|result|perimeter|volume|value|speed|"
    r"distance|height|width|radius|measure|sum|x|y|n|(?-i:[A-Z]{2,3})|∠\s?[A-Z0-9]+)"
    r"(?:\s+(?:of\s+)?(?-i:[A-Z0-9]{1,3}))?)\s+(?:is|=|equals|should be|must be|would be)\s+"
    r"(?:about |approximately |equal to )?(-?\d+(?:\.\d+)?)(?!\.?\d|\s*[-+*/^])",
    re.IGNORECASE,
)


def _value_flips(text: str, end: int) -> list[Evidence]:
    """A quantity stated with a value, then another, then the first again ("angle 1 is 105°" ->
    "140°" -> "105°")."""
    history: dict[str, list[str]] = {}
    evidence = []
    for match in _STATEMENT.finditer(text, 0, end):
        values = history.setdefault(re.sub(r"\s+", " ", match.group(1).lower()), [])
        value = match.group(2)
        if values and values[-1] == value:
            continue
        if value in values:
            evidence.append(Evidence("flip-flop", 1.5, match.start(), match.end()))
        values.append(value)
    return evidence


def _disagreements(text: str) -> list[Evidence]:
    return [Evidence("disagree", 1.5, m.start(), m.end()) for m in DISAGREE.finditer(text)]


_ANTONYMS = (
    ("higher", "lower"),
    ("larger", "smaller"),
    ("bigger", "smaller"),
    ("more", "less"),
    ("above", "below"),
    ("longer", "shorter"),
    ("greater", "less"),
    ("left", "right"),
    ("older", "younger"),
)
_COMPARE = re.compile(r"\b(\w+) than ([\w\s]{3,40}?)(?=[,.;]|\s+but\b|$)", re.IGNORECASE)
_ATTRIBUTE = re.compile(
    r"\b((?:(?:large|small|big|tiny|red|blue|green|yellow|purple|cyan|brown|gray|grey|black|"
    r"white|orange|metal(?:lic)?|rubber|matte|shiny)\s+){1,3})(cube|sphere|cylinder|cone|ball|"
    r"block)s?\s+(?:is|are)\s+(?:of\s+the\s+shape\s+of\s+|shaped\s+like\s+|in\s+the\s+shape\s+of\s+)?"
    r"(?:an?\s+)?(cube|sphere|cylinder|cone)\b",
    re.IGNORECASE,
)


def _contradictions(parts: list[Sentence]) -> list[Evidence]:
    """X higher and lower than Y in one sentence; a "sphere" said to be "of the shape of a
    cylinder"."""
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
        for match in _ATTRIBUTE.finditer(sentence.text):
            if match.group(2).lower().rstrip("s") != match.group(3).lower():
                start = sentence.start + match.start()
                evidence.append(Evidence("contradiction", 3.0, start, start + len(match.group())))
    return evidence


def _idle_alternatives(text: str) -> list[Evidence]:
    """Alternatives proposed with no new number since the previous one (or the 300 chars
    before the first)."""
    evidence = []
    seen: set[str] = set()
    first = ALTERNATIVE.search(text)
    if first is not None:
        seen |= {n.replace(",", "") for n in NUMBER.findall(text[: max(0, first.start() - 300)])}
    last: int | None = None
    for match in ALTERNATIVE.finditer(text):
        since = last if last is not None else max(0, match.start() - 300)
        found = {n.replace(",", "") for n in NUMBER.findall(text[since : match.start()])}
        if not found - seen:
            evidence.append(Evidence("alternative", 0.5, match.start(), match.end()))
        seen |= found
        last = match.end()
    return evidence


def circular_evidence(trace: TraceInput) -> list[Evidence]:
    """All circular evidence in the trace (before its final answer), in order."""
    parts = sentences(trace.text)
    answers = find_final_answers(trace.text, trace.answer_markers)
    # Scan up to the first marked answer; "the answer is X" sentences are part of the reasoning.
    marked = [a for a in answers if a.kind != "prose"]
    end = (marked or answers[-1:])[0].start if answers else len(trace.text)
    head = trace.text[:end]
    found = (
        _reverifications(trace, end)
        + _repeated_computations(head)
        + _oscillations(trace, parts, end)
        + _rejected_again(parts, end)
        + _value_flips(trace.text, end)
        + _disagreements(head)
        + _contradictions([p for p in parts if p.start < end])
        + _idle_alternatives(head)
    )
    return sorted(found, key=lambda e: e.start)


def confidence(score: float) -> float:
    """How sure the check is at a score: 0.65 at the threshold, 0.95 at twice it."""
    return min(0.95, 0.35 + 0.1 * score)


@register_check("circular")
def check_circular(trace: TraceInput) -> list[Finding]:
    """Re-verifying without new evidence, repeating computations, oscillating, contradicting."""
    evidence = circular_evidence(trace)
    score = sum(e.points for e in evidence)
    if score < THRESHOLD:
        return []
    kinds: Counter[str] = Counter(e.kind for e in evidence)
    main = max(kinds, key=lambda k: sum(e.points for e in evidence if e.kind == k))
    reason = prompts.CIRCULAR_REASONS[main].format(n=kinds[main] + 1)
    message = prompts.FINDING_CIRCULAR.format(reason=reason)
    first = next(e for e in evidence if e.kind == main)
    return [
        make_finding(
            "circular",
            message,
            trace.text,
            first.start,
            evidence[-1].end,
            confidence=confidence(score),
        )
    ]
