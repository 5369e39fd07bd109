"""The ``loop`` check: degenerate repetition, offline on a whole trace and online on a stream.

Two signals, both cheap per token:

* a periodic tail of sentences: the last ``q`` sentences (normalised) repeat the ``q`` before
  them, ``copies`` times in a row, for some period ``q`` up to :data:`MAX_PERIOD`;
* a collapsing compression ratio: the last :data:`WINDOW_CHARS` characters compress to under
  :data:`MIN_COMPRESSION` of their size (real reasoning stays above 0.4; a loop falls below 0.3),
  unless the window keeps bringing new numbers (a table or a count is not a loop).

The onset reported is the first character that repeats earlier text: the start of the second
copy of the repeated sentences, or for the compression signal, the start of the run of word
4-grams already seen.
"""

from __future__ import annotations

import re
import zlib
from collections import deque
from dataclasses import dataclass

from qvq_agent import prompts
from qvq_agent.agent.checks.base import Finding, TraceInput, make_finding, register_check

WINDOW_CHARS = 600
MIN_COMPRESSION = 0.30
CHECK_EVERY_CHARS = 40
MAX_PERIOD = 12
MIN_REPEATED_CHARS = 160
MIN_SEGMENT_CHARS = 12

_SEGMENT_END = re.compile(r"(?<=[.!?。！？])\s+|\n+")
_NORMALISE = re.compile(r"[^\w]+")
_WORD = re.compile(r"\w+")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
MIN_NUMBERS = 6
NEW_NUMBER_SHARE = 0.5


@dataclass(frozen=True)
class LoopHit:
    """Where a loop was seen: its onset, how far the text had got, and the repeated unit."""

    onset: int
    detected_at: int
    unit: str
    signal: str


@dataclass
class _Segment:
    key: str
    start: int
    end: int


TAIL_CHARS = 4 * WINDOW_CHARS
"""The detector keeps only this much of the text (the compression window and its lookback)."""
MAX_SEGMENTS = 256
"""Sentences kept for the periodicity check (a period is at most MAX_PERIOD sentences)."""


class LoopDetector:
    """Feed text as it streams; :meth:`feed` returns a :class:`LoopHit` once a loop starts.

    Amortised O(1) work per character: each character is split into a sentence once (the
    unfinished sentence is kept as a list of pieces, never re-scanned), sentence periodicity is
    checked only when a sentence completes (bounded comparisons over the last sentences), and
    compression only every ``CHECK_EVERY_CHARS`` characters, on a window of fixed size. The
    detector keeps the last :data:`TAIL_CHARS` characters, not the whole text.
    """

    def __init__(self) -> None:
        self.length = 0
        """Characters fed so far."""
        self.segments: deque[_Segment] = deque(maxlen=MAX_SEGMENTS)
        self.hit: LoopHit | None = None
        self._tail = ""
        self._pending: list[str] = []
        self._pending_start = 0
        self._last_char = ""
        self._last_compress_at = 0

    def feed(self, delta: str) -> LoopHit | None:
        """Add streamed text; returns the first loop found (and keeps returning it)."""
        if self.hit is not None or not delta:
            return self.hit
        start = self.length
        self.length += len(delta)
        self._tail = (self._tail + delta)[-TAIL_CHARS:]
        completed = self._split_segments(delta, start)
        hit = self._periodic() if completed else None
        if hit is None and self.length - self._last_compress_at >= CHECK_EVERY_CHARS:
            self._last_compress_at = self.length
            hit = self._compressed()
        self.hit = hit
        return hit

    def finish(self) -> LoopHit | None:
        """Call at the end of the text: closes the last sentence and checks once more."""
        if self.hit is None:
            self.feed("\n")
        if self.hit is None and self.length >= WINDOW_CHARS:
            self.hit = self._compressed()
        return self.hit

    def _split_segments(self, delta: str, start: int) -> bool:
        """Close the sentences that end in ``delta``; True when at least one did."""
        # The previous character goes along so a break right after "." at a boundary is seen.
        joined = self._last_char + delta
        shift = len(self._last_char)
        self._last_char = delta[-1]
        completed = False
        taken = 0  # how much of delta is already in a finished sentence
        for match in _SEGMENT_END.finditer(joined, shift if shift else 0):
            if match.end() <= shift:
                continue
            cut = max(0, match.start() - shift)
            raw = "".join(self._pending) + delta[taken:cut]
            key = _NORMALISE.sub(" ", raw.lower()).strip()
            if len(key) >= MIN_SEGMENT_CHARS:
                self.segments.append(_Segment(key, self._pending_start, start + cut))
                completed = True
            taken = match.end() - shift
            self._pending = []
            self._pending_start = start + taken
        if taken < len(delta):
            self._pending.append(delta[taken:])
        return completed

    def _periodic(self) -> LoopHit | None:
        segs = self.segments
        count = len(segs)
        for period in range(1, min(MAX_PERIOD, count // 2) + 1):
            matched = 0
            limit = min(count - period, 4 * period + MIN_REPEATED_CHARS // MIN_SEGMENT_CHARS)
            while matched < limit and segs[-1 - matched].key == segs[-1 - matched - period].key:
                matched += 1
            if matched < period:
                continue
            copies = 1 + matched / period
            first_repeat = segs[count - matched]
            repeated_chars = segs[-1].end - first_repeat.start
            needed = 3 if period == 1 else 2
            if copies >= needed and repeated_chars >= MIN_REPEATED_CHARS:
                unit = " ".join(
                    segs[i].key for i in range(count - matched - period, count - matched)
                )
                return LoopHit(first_repeat.start, self.length, unit, "periodic")
        return None

    def _compressed(self) -> LoopHit | None:
        if self.length < WINDOW_CHARS:
            return None
        tail = self._tail[-WINDOW_CHARS:]
        window = tail.encode("utf-8")
        ratio = len(zlib.compress(window, 6)) / len(window)
        if ratio >= MIN_COMPRESSION or _enumerating(tail):
            return None
        base = self.length - len(self._tail)
        onset = base + _repeated_run_start(self._tail)
        shown = self._tail[onset - base : onset - base + 120]
        return LoopHit(onset, self.length, shown, f"compression {ratio:.2f}")


def _enumerating(window: str) -> bool:
    """True when a repetitive window keeps bringing new numbers (a table, a count, a list).

    A loop re-states the same numbers; an enumeration repeats its template with new values.
    """
    numbers = _NUMBER.findall(window)
    return len(numbers) >= MIN_NUMBERS and len(set(numbers)) / len(numbers) >= NEW_NUMBER_SHARE


def _repeated_run_start(text: str) -> int:
    """Start (an offset into ``text``) of the tail run in which most word 4-grams were already
    said before."""
    words = [(m.start(), m.group().lower()) for m in _WORD.finditer(text)]
    grams = [tuple(w for _, w in words[i : i + 4]) for i in range(len(words) - 3)]
    first_seen: dict[tuple[str, ...], int] = {}
    repeated = []
    for i, gram in enumerate(grams):
        repeated.append(gram in first_seen)
        first_seen.setdefault(gram, i)
    # Walk back from the end while at least half of the last 12 grams are repeats.
    start = len(grams)
    window = 12
    for i in range(len(grams) - 1, -1, -1):
        recent = repeated[i : i + window]
        if sum(recent) * 2 < len(recent):
            break
        start = i
    while start < len(grams) and not repeated[start]:
        start += 1
    return words[start][0] if start < len(grams) else max(0, len(text) - WINDOW_CHARS)


def detect_loop(text: str) -> LoopHit | None:
    """Run the online detector over a whole text (the offline check uses the same code)."""
    detector = LoopDetector()
    step = 16
    for i in range(0, len(text), step):
        if detector.feed(text[i : i + step]) is not None:
            return detector.hit
    return detector.finish()


def loop_finding(text: str, hit: LoopHit) -> Finding:
    """The finding for a loop hit in ``text``."""
    unit = hit.unit if len(hit.unit) <= 80 else hit.unit[:79] + "…"
    return make_finding(
        "loop",
        prompts.FINDING_LOOP.format(unit=unit),
        text,
        hit.onset,
        min(len(text), hit.detected_at),
        confidence=0.95,
    )


@register_check("loop")
def check_loop(trace: TraceInput) -> list[Finding]:
    """Degenerate repetition anywhere in the trace."""
    hit = detect_loop(trace.text)
    return [loop_finding(trace.text, hit)] if hit else []
