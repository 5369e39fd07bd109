"""Where things are in a trace: sentences, numbers, quoted text, math, CJK and Latin runs.

Small pure helpers shared by the checks; every span is ``(start, end)`` into the trace.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

_SENTENCE_END = re.compile(r"(?<=[.!?。！？；;])\s*|\n+")
NUMBER = re.compile(r"(?<![\w.])-?\d+(?:,\d{3})*(?:\.\d+)?(?![\w])")
CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
CJK_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3000-\u303f\uff00-\uffef]+")
LATIN_WORD = re.compile(r"[A-Za-z][A-Za-z']*")
_QUOTED = re.compile(
    r"\"[^\"\n]{1,80}\"|“[^”\n]{1,80}”|「[^」\n]{1,80}」|『[^』\n]{1,80}』|‘[^’\n]{1,80}’|'[^'\n]{1,40}'"
)
_MATH = re.compile(
    r"\$\$.*?\$\$|\$[^$\n]+\$|\\\[.*?\\\]|\\\(.*?\\\)|`[^`\n]+`|https?://\S+|!\[[^\]]*\]\([^)]*\)",
    re.DOTALL,
)


@dataclass(frozen=True)
class Sentence:
    """A sentence (or line) of the trace."""

    text: str
    start: int
    end: int


def sentences(text: str) -> list[Sentence]:
    """Sentences and lines, with offsets; empty ones are dropped."""
    out = []
    pos = 0
    for match in _SENTENCE_END.finditer(text):
        if match.start() > pos:
            chunk = text[pos : match.start()]
            if chunk.strip():
                lead = len(chunk) - len(chunk.lstrip())
                out.append(Sentence(chunk.strip(), pos + lead, pos + lead + len(chunk.strip())))
        pos = max(pos, match.end())
    if pos < len(text) and text[pos:].strip():
        chunk = text[pos:]
        lead = len(chunk) - len(chunk.lstrip())
        out.append(Sentence(chunk.strip(), pos + lead, pos + lead + len(chunk.strip())))
    return out


def numbers(text: str) -> Iterator[tuple[str, int]]:
    """Numbers written in the text (thousands separators removed) with their offsets."""
    for match in NUMBER.finditer(text):
        yield match.group().replace(",", ""), match.start()


def excluded_spans(text: str) -> list[tuple[int, int]]:
    """Spans that are not prose: quoted text, math, code, links and images."""
    spans = [m.span() for m in _QUOTED.finditer(text)]
    spans += [m.span() for m in _MATH.finditer(text)]
    return sorted(spans)


class SpanSet:
    """Spans merged into disjoint sorted ones: membership and blanking in log / linear time."""

    def __init__(self, spans: Iterable[tuple[int, int]]) -> None:
        merged: list[tuple[int, int]] = []
        for start, end in sorted(spans):
            if merged and start <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], end))
            else:
                merged.append((start, end))
        self.spans = merged
        self._starts = [start for start, _ in merged]

    def __contains__(self, position: int) -> bool:
        i = bisect.bisect_right(self._starts, position) - 1
        return i >= 0 and position < self.spans[i][1]

    def blank(self, text: str) -> str:
        """``text`` with every span replaced by one space."""
        pieces, pos = [], 0
        for start, end in self.spans:
            pieces += [text[pos:start], " "]
            pos = max(pos, end)
        pieces.append(text[pos:])
        return "".join(pieces)


def inside(position: int, spans: SpanSet) -> bool:
    """True when ``position`` lies in one of ``spans``."""
    return position in spans


def cjk_share(text: str) -> float:
    """Share of CJK characters among the letters of ``text`` (0 for no letters)."""
    cjk = len(CJK.findall(text))
    latin = sum(len(w) for w in LATIN_WORD.findall(text))
    return cjk / (cjk + latin / 2) if cjk + latin else 0.0
