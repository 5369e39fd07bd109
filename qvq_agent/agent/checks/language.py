"""The ``language_mixing`` check: text in another language or script than the question's.

The question's language is read from its script (CJK or Latin), ignoring links, images and
math. Then, outside quotes, math, code and links:

* for a Latin-script (English) question, any run of CJK characters is mixing;
* for a CJK question, English prose is mixing: two or more English words in a row, or one common
  English word (``still``, ``so``, ``but`` ...). Variable names, units, chemical formulas, function
  names and capitalised terms (``Shoelace``) are not.
* a reply written wholly in the other language is reported once as a language mismatch.
"""

from __future__ import annotations

import re

from qvq_agent import prompts
from qvq_agent.agent.checks.base import Finding, TraceInput, make_finding, register_check
from qvq_agent.agent.checks.spans import CJK, CJK_RUN, cjk_share, excluded_spans, inside

COMMON_ENGLISH = frozenset(
    [
        "a",
        "about",
        "above",
        "after",
        "again",
        "all",
        "also",
        "although",
        "am",
        "an",
        "and",
        "answer",
        "any",
        "are",
        "as",
        "at",
        "be",
        "because",
        "been",
        "before",
        "being",
        "below",
        "but",
        "by",
        "can",
        "check",
        "could",
        "did",
        "do",
        "does",
        "doing",
        "done",
        "each",
        "either",
        "else",
        "even",
        "every",
        "first",
        "for",
        "from",
        "get",
        "given",
        "had",
        "has",
        "have",
        "he",
        "her",
        "here",
        "him",
        "his",
        "how",
        "however",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "just",
        "know",
        "let",
        "like",
        "look",
        "maybe",
        "me",
        "might",
        "more",
        "most",
        "must",
        "my",
        "need",
        "no",
        "not",
        "now",
        "of",
        "off",
        "on",
        "once",
        "only",
        "or",
        "other",
        "our",
        "out",
        "over",
        "perhaps",
        "probably",
        "same",
        "see",
        "seems",
        "she",
        "should",
        "since",
        "so",
        "some",
        "still",
        "such",
        "than",
        "that",
        "the",
        "their",
        "them",
        "then",
        "there",
        "therefore",
        "these",
        "they",
        "thing",
        "think",
        "this",
        "those",
        "though",
        "through",
        "thus",
        "to",
        "too",
        "total",
        "try",
        "under",
        "until",
        "up",
        "us",
        "use",
        "using",
        "very",
        "wait",
        "was",
        "way",
        "we",
        "well",
        "were",
        "what",
        "when",
        "where",
        "whether",
        "which",
        "while",
        "who",
        "why",
        "will",
        "with",
        "would",
        "yes",
        "yet",
        "you",
        "your",
    ]
)
"""Common English words: one of them inside Chinese prose is a switch of language."""

_TECHNICAL = frozenset(
    [
        "sin",
        "cos",
        "tan",
        "cot",
        "sec",
        "csc",
        "arcsin",
        "arccos",
        "arctan",
        "log",
        "ln",
        "lg",
        "exp",
        "sqrt",
        "lim",
        "max",
        "min",
        "mod",
        "gcd",
        "lcm",
        "frac",
        "pi",
        "theta",
        "alpha",
        "beta",
        "gamma",
        "delta",
        "mu",
        "sigma",
        "omega",
        "lambda",
        "rad",
        "deg",
        "cm",
        "mm",
        "km",
        "kg",
        "mg",
        "ml",
        "mol",
        "kj",
        "kw",
        "hz",
        "pa",
        "ph",
        "ok",
    ]
)
_LATIN_TOKEN = re.compile(r"[A-Za-z][A-Za-z0-9_']*")
_TAGS = re.compile(r"</?(?:think|answer|tool_call|tool_response)>")
_PROSE_GAP = re.compile(r"^[\s,;:'\-]*$")


def question_language(question: str) -> str:
    """``zh`` for a question mostly in CJK script, else ``en``."""
    stripped = question
    for start, end in reversed(excluded_spans(question)):
        stripped = stripped[:start] + " " + stripped[end:]
    return "zh" if cjk_share(stripped) >= 0.3 else "en"


def _english_words(text: str, skip: list[tuple[int, int]]) -> list[tuple[int, int, str]]:
    words = []
    for match in _LATIN_TOKEN.finditer(text):
        word = match.group()
        if inside(match.start(), skip) or any(ch.isdigit() for ch in word):
            continue
        if len(word) == 1 or word.isupper() or word.lower() in _TECHNICAL:
            continue
        if any(ch.isupper() for ch in word[1:]):  # CuFeS, NaCl, camelCase: formulas and names
            continue
        words.append((match.start(), match.end(), word))
    return words


def _english_in_chinese(text: str, skip: list[tuple[int, int]]) -> list[tuple[int, int]]:
    words = _english_words(text, skip)
    spans: list[tuple[int, int]] = []
    i = 0
    while i < len(words):
        j = i
        while j + 1 < len(words) and _PROSE_GAP.match(text[words[j][1] : words[j + 1][0]]):
            j += 1
        run = words[i : j + 1]
        if len(run) >= 2 or run[0][2].lower() in COMMON_ENGLISH:
            spans.append((run[0][0], run[-1][1]))
        i = j + 1
    return spans


def _chinese_in_english(text: str, skip: list[tuple[int, int]]) -> list[tuple[int, int]]:
    return [
        m.span()
        for m in CJK_RUN.finditer(text)
        if CJK.search(m.group()) and not inside(m.start(), skip)
    ]


@register_check("language_mixing")
def check_language_mixing(trace: TraceInput) -> list[Finding]:
    """Text in another language or script than the question's."""
    text = trace.text
    if not text.strip():
        return []
    language = question_language(trace.question) if trace.question.strip() else None
    skip = excluded_spans(text) + [m.span() for m in _TAGS.finditer(text)]
    prose = _TAGS.sub(" ", text)
    if language is None:
        language = "zh" if cjk_share(prose) >= 0.5 else "en"
    reply_language = "zh" if cjk_share(prose) >= 0.5 else "en"
    if reply_language != language:
        want = "Chinese" if language == "zh" else "English"
        return [
            make_finding(
                "language_mixing",
                prompts.FINDING_LANGUAGE_REPLY.format(want=want),
                text,
                0,
                min(len(text), 200),
            )
        ]
    spans = _english_in_chinese(text, skip) if language == "zh" else _chinese_in_english(text, skip)
    if not spans:
        return []
    want = "Chinese" if language == "zh" else "English"
    other = "English" if language == "zh" else "Chinese"
    findings = []
    for start, end in spans[:5]:
        quoted = text[start:end][:40]
        findings.append(
            make_finding(
                "language_mixing",
                prompts.FINDING_LANGUAGE_SWITCH.format(other=other, quoted=quoted, want=want),
                text,
                start,
                end,
            )
        )
    return findings
