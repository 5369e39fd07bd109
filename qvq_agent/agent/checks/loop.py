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
from dataclasses import dataclass, field

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


@dataclass
class LoopDetector:
    """Feed text as it streams; :meth:`feed` returns a :class:`LoopHit` once a loop starts.

    Work per call is bounded: sentence periodicity is checked only when a sentence completes
    (at most ``MAX_PERIOD**2`` comparisons) and compression only every ``CHECK_EVERY_CHARS``
    characters, on a window of fixed size.
    """

    text: str = ""
    segments: list[_Segment] = field(default_factory=list)
    _segment_from: int = 0
    _last_compress_at: int = 0
    hit: LoopHit | None = None

    def feed(self, delta: str) -> LoopHit | None:
        """Add streamed text; returns the first loop found (and keeps returning it)."""
        if self.hit is not None or not delta:
            return self.hit
        self.text += delta
        self._split_segments()
        hit = self._periodic()
        if hit is None and len(self.text) - self._last_compress_at >= CHECK_EVERY_CHARS:
            self._last_compress_at = len(self.text)
            hit = self._compressed()
        self.hit = hit
        return hit

    def finish(self) -> LoopHit | None:
        """Call at the end of the text: closes the last sentence and checks once more."""
        if self.hit is None:
            self.feed("\n")
        if self.hit is None and len(self.text) >= WINDOW_CHARS:
            self.hit = self._compressed()
        return self.hit

    def _split_segments(self) -> None:
        # Only the unfinished tail is searched again; finished sentences are never re-read.
        for match in _SEGMENT_END.finditer(self.text, self._segment_from):
            raw = self.text[self._segment_from : match.start()]
            key = _NORMALISE.sub(" ", raw.lower()).strip()
            if len(key) >= MIN_SEGMENT_CHARS:
                self.segments.append(_Segment(key, self._segment_from, match.start()))
            self._segment_from = match.end()

    def _periodic(self) -> LoopHit | None:
        segs = self.segments
        for period in range(1, min(MAX_PERIOD, len(segs) // 2) + 1):
            matched = 0
            while (
                matched + period < len(segs)
                and segs[-1 - matched].key == segs[-1 - matched - period].key
            ):
                matched += 1
            if matched < period:
                continue
            copies = 1 + matched / period
            first_repeat = segs[len(segs) - matched]
            repeated_chars = segs[-1].end - first_repeat.start
            needed = 3 if period == 1 else 2
            if copies >= needed and repeated_chars >= MIN_REPEATED_CHARS:
                unit = " ".join(
                    s.key for s in segs[len(segs) - matched - period : len(segs) - matched]
                )
                return LoopHit(first_repeat.start, len(self.text), unit, "periodic")
        return None

    def _compressed(self) -> LoopHit | None:
        if len(self.text) < WINDOW_CHARS:
            return None
        tail = self.text[-WINDOW_CHARS:]
        window = tail.encode("utf-8")
        ratio = len(zlib.compress(window, 6)) / len(window)
        if ratio >= MIN_COMPRESSION or _enumerating(tail):
            return None
        onset = _repeated_run_start(self.text)
        tail = self.text[onset : onset + 120]
        return LoopHit(onset, len(self.text), tail, f"compression {ratio:.2f}")


def _enumerating(window: str) -> bool:
    """True when a repetitive window keeps bringing new numbers (a table, a count, a list).

    A loop re-states the same numbers; an enumeration repeats its template with new values.
    """
    numbers = _NUMBER.findall(window)
    return len(numbers) >= MIN_NUMBERS and len(set(numbers)) / len(numbers) >= NEW_NUMBER_SHARE


def _repeated_run_start(text: str, lookback: int = 4 * WINDOW_CHARS) -> int:
    """Start of the tail run in which most word 4-grams were already said before."""
    base = max(0, len(text) - lookback)
    words = [(m.start() + base, m.group().lower()) for m in _WORD.finditer(text[base:])]
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
    )


@register_check("loop")
def check_loop(trace: TraceInput) -> list[Finding]:
    """Degenerate repetition anywhere in the trace."""
    hit = detect_loop(trace.text)
    return [loop_finding(trace.text, hit)] if hit else []
