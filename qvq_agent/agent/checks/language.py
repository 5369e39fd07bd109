"""The ``language_mixing`` check: text in another language or script than the question's.

The question's language is read from its script (CJK or Latin), ignoring links, images and
math. Then, outside quotes, math, code and links:

* for a Latin-script (English) question, any run of CJK characters is mixing;
* for a CJK question, English prose is mixing: two or more English words in a row, or one common
  English word (``still``, ``so``, ``but`` ...). Variable names, units, chemical formulas, function
  names and capitalised terms (``Shoelace``) are not.
* for a Latin-script question, sentences in another Latin-script language (Indonesian, Spanish,
  French, German, Portuguese, Italian — told apart from English by their common words);
* a lone lowercase English word inside Chinese prose ("这句话有点 tricky。") — reported with lower
  confidence, since a lowercase technical term looks the same;
* an English function word glued to Chinese characters, even inside quotes ("Jobber not明确");
* a reply written wholly in another language than the question's is reported once as a language
  mismatch.
"""

from __future__ import annotations

import re

from qvq_agent import prompts
from qvq_agent.agent.checks.base import Finding, TraceInput, make_finding, register_check
from qvq_agent.agent.checks.spans import (
    CJK,
    CJK_RUN,
    SpanSet,
    cjk_share,
    excluded_spans,
    inside,
    sentences,
)

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
FOREIGN_WORDS: dict[str, frozenset[str]] = {
    "Indonesian": frozenset(
        [
            "yang",
            "dan",
            "untuk",
            "dari",
            "dengan",
            "adalah",
            "ini",
            "itu",
            "saya",
            "kita",
            "tidak",
            "akan",
            "pada",
            "dalam",
            "juga",
            "atau",
            "karena",
            "jadi",
            "sudah",
            "bisa",
            "harus",
            "mereka",
            "seperti",
            "oleh",
            "lebih",
            "hingga",
            "kami",
            "sebuah",
            "setiap",
        ]
    ),
    "Spanish": frozenset(
        [
            "de",
            "la",
            "en",
            "el",
            "los",
            "las",
            "del",
            "que",
            "es",
            "por",
            "para",
            "con",
            "una",
            "como",
            "pero",
            "más",
            "esta",
            "este",
            "son",
            "entonces",
            "también",
            "sí",
            "hay",
        ]
    ),
    "French": frozenset(
        [
            "de",
            "la",
            "en",
            "le",
            "les",
            "des",
            "et",
            "est",
            "une",
            "pour",
            "dans",
            "avec",
            "pas",
            "sont",
            "nous",
            "qui",
            "sur",
            "mais",
            "donc",
            "cette",
            "elle",
            "il",
            "ce",
            "du",
        ]
    ),
    "German": frozenset(
        [
            "der",
            "das",
            "und",
            "ist",
            "nicht",
            "mit",
            "ein",
            "eine",
            "auf",
            "für",
            "wir",
            "sich",
            "dem",
            "den",
            "auch",
            "dass",
            "oder",
            "wenn",
            "ich",
            "es",
        ]
    ),
    "Portuguese": frozenset(
        [
            "de",
            "os",
            "do",
            "da",
            "em",
            "um",
            "uma",
            "não",
            "com",
            "são",
            "então",
            "isso",
            "esse",
            "mas",
            "também",
            "que",
        ]
    ),
    "Italian": frozenset(
        [
            "il",
            "di",
            "che",
            "della",
            "delle",
            "sono",
            "questo",
            "quindi",
            "anche",
            "perché",
            "non",
            "una",
            "per",
        ]
    ),
}
"""Common words of other Latin-script languages that are not English words."""
NAMES = {"en": "English", "zh": "Chinese"}
_LATIN_TOKEN = re.compile(r"[A-Za-z][A-Za-z0-9_']*")
_WORDS = re.compile(r"[^\W\d_]+")
_CJK_NEAR = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\u3000-\u303f\uff00-\uffef]")
_GLUED = re.compile(
    r"(?<![A-Za-z])([A-Za-z]+)(?=[\u3400-\u4dbf\u4e00-\u9fff])|"
    r"(?<=[\u3400-\u4dbf\u4e00-\u9fff])([A-Za-z]+)(?![A-Za-z])"
)
_TAGS = re.compile(r"</?(?:think|answer|tool_call|tool_response)>")
_PROSE_GAP = re.compile(r"^[\s,;:'\-]*$")


def latin_language(text: str) -> str:
    """``en``, or the name of another Latin-script language whose common words outnumber
    English ones (three at least)."""
    words = [w.lower() for w in _WORDS.findall(text) if len(w) > 1]  # not "A." or "Y."
    english = sum(1 for w in words if w in COMMON_ENGLISH)
    best, hits = "en", 0
    for name, common in FOREIGN_WORDS.items():
        count = sum(1 for w in words if w in common)
        if count > hits:
            best, hits = name, count
    return best if hits >= 3 and hits > english else "en"


def not_prose(text: str) -> SpanSet:
    """Where ``text`` is not prose: quotes, math, code, links, images, and the think/answer/
    tool tags."""
    return SpanSet(excluded_spans(text) + [m.span() for m in _TAGS.finditer(text)])


def question_language(question: str) -> str:
    """``zh`` for a question mostly in CJK script, else ``en`` or the name of the other
    Latin-script language it is written in."""
    stripped = not_prose(question).blank(question)
    return "zh" if cjk_share(stripped) >= 0.3 else latin_language(stripped)


def reply_language(text: str, skip: SpanSet | None = None) -> str:
    """The language most of a reply is written in (``skip``, quotes and math, left out)."""
    prose = (skip if skip is not None else not_prose(text)).blank(text)
    return "zh" if cjk_share(prose) >= 0.5 else latin_language(prose)


def _english_words(text: str, skip: SpanSet) -> list[tuple[int, int, str]]:
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


def _english_in_chinese(text: str, skip: SpanSet) -> list[tuple[int, int, float]]:
    words = _english_words(text, skip)
    spans: list[tuple[int, int, float]] = []
    i = 0
    while i < len(words):
        j = i
        while j + 1 < len(words) and _PROSE_GAP.match(text[words[j][1] : words[j + 1][0]]):
            j += 1
        run = words[i : j + 1]
        if len(run) >= 2 or run[0][2].lower() in COMMON_ENGLISH:
            spans.append((run[0][0], run[-1][1], 1.0))
        elif _lone_word(text, run[0]):
            spans.append((run[0][0], run[0][1], LONE_WORD_CONFIDENCE))
        i = j + 1
    return spans


LONE_WORD_CONFIDENCE = 0.7
"""Confidence for one lowercase English word in Chinese prose: a technical term looks alike."""


def _lone_word(text: str, word: tuple[int, int, str]) -> bool:
    """A lowercase word of four letters or more with Chinese on both sides ("有点 tricky。")."""
    start, end, value = word
    if len(value) < 4 or not value.islower() or not re.search(r"[aeiouy]", value):
        return False
    before = text[max(0, start - 2) : start].strip()
    after = text[end : end + 2].strip()
    return bool(before and after and _CJK_NEAR.match(before[-1]) and _CJK_NEAR.match(after[0]))


def _glued_function_words(text: str) -> list[tuple[int, int, float]]:
    """An English function word written against Chinese characters ("not明确"), quoted or not."""
    spans = []
    for match in _GLUED.finditer(text):
        word = match.group(1) or match.group(2)
        if word.lower() in COMMON_ENGLISH and len(word) > 1:
            start = max(0, match.start() - 20)
            spans.append((start, min(len(text), match.end() + 4), 1.0))
    return spans


def _foreign_sentences(text: str, skip: SpanSet, want: str) -> list[tuple[int, int, float]]:
    """Sentences written in another Latin-script language than ``want``."""
    spans = []
    for sentence in sentences(text):
        if inside(sentence.start, skip) or len(_WORDS.findall(sentence.text)) < 4:
            continue
        language = latin_language(sentence.text)
        if language != want:
            spans.append((sentence.start, sentence.end, 1.0))
    return spans


def _chinese_in_english(text: str, skip: SpanSet) -> list[tuple[int, int, float]]:
    return [
        (m.start(), m.end(), 1.0)
        for m in CJK_RUN.finditer(text)
        if CJK.search(m.group()) and not inside(m.start(), skip)
    ]


@register_check("language_mixing")
def check_language_mixing(trace: TraceInput) -> list[Finding]:
    """Text in another language or script than the question's."""
    text = trace.text
    if not text.strip():
        return []
    skip = not_prose(text)
    replied = reply_language(text, skip)
    language = question_language(trace.question) if trace.question.strip() else replied
    want = NAMES.get(language, language)
    if replied != language:
        message = prompts.FINDING_LANGUAGE_REPLY.format(want=want)
        return [make_finding("language_mixing", message, text, 0, min(len(text), 200))]
    if language == "zh":
        spans = _english_in_chinese(text, skip)
        other = "English"
    else:
        spans = _chinese_in_english(text, skip) + _glued_function_words(text)
        other = "Chinese"
        foreign = _foreign_sentences(text, skip, language)
        if foreign and not spans:
            other = latin_language(" ".join(text[a:b] for a, b, _ in foreign))
            other = NAMES.get(other, other)
        spans += foreign
    findings = []
    for start, end, confidence in sorted(spans)[:5]:
        quoted = text[start:end][:40]
        findings.append(
            make_finding(
                "language_mixing",
                prompts.FINDING_LANGUAGE_SWITCH.format(other=other, quoted=quoted, want=want),
                text,
                start,
                end,
                confidence=confidence,
            )
        )
    return findings
