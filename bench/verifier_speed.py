"""Benchmark the verifier's speed: ``verify_trace`` on traces of 2k to 128k tokens.

    python bench/verifier_speed.py [TRACES.jsonl]

Traces are made by joining real reasoning traces (``../shared/data/traces``, or a built-in
text when they are missing) until they reach each size (about 4 characters per token). Reported
per size: the median time of ``verify_trace`` (all default checks) and of each check alone, and
the growth exponent between sizes (1.0 = linear).
Goals (issue 15): <= 300 ms at 32k tokens; exponent <= 1.1 from 8k to 128k.
A report, not a test: the numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from qvq_agent.agent.checks import DEFAULT_CHECKS, TraceInput, get_check
from qvq_agent.verification import TraceRecord, verify_trace

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "traces"
SIZES = (2_000, 8_000, 32_000, 128_000)
CHARS_PER_TOKEN = 4
FALLBACK = (
    "Let me look at the figure. The triangle has sides 3 and 4, so the hypotenuse is "
    "sqrt(3^2 + 4^2) = sqrt(25) = 5. Wait, let me check the labels again: the left side reads 3 "
    "and the bottom reads 4. 3 × 4 = 12, and 12 / 2 = 6 is the area. "
)


def corpus(path: Path | None) -> str:
    files = [path] if path else sorted(DATA.glob("*.jsonl"))
    texts = []
    for file in files:
        if file.exists():
            for line in file.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    texts.append(json.loads(line)["trace"])
    return "\n\n".join(texts) or FALLBACK * 50


def sized(text: str, tokens: int) -> str:
    chars = tokens * CHARS_PER_TOKEN
    return (text * (chars // max(1, len(text)) + 1))[:chars]


def timed(fn: object, repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()  # type: ignore[operator]
        runs.append(time.perf_counter() - t0)
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("traces", nargs="?", type=Path)
    args = parser.parse_args()
    text = corpus(args.traces)
    rows: list[tuple[int, float, dict[str, float]]] = []
    for tokens in SIZES:
        trace = sized(text, tokens)
        repeat = 5 if tokens <= 8_000 else 3 if tokens <= 32_000 else 1
        total = timed(lambda t=trace: verify_trace(TraceRecord("bench", "", t)), repeat)
        per_check = {
            name: timed(lambda t=trace, n=name: get_check(n)(TraceInput(t)), 1)
            for name in DEFAULT_CHECKS
        }
        rows.append((tokens, total, per_check))
    names = list(DEFAULT_CHECKS)
    print(f"{'tokens':>7} {'verify ms':>10} " + " ".join(f"{n[:12]:>12}" for n in names))
    for tokens, total, per_check in rows:
        print(
            f"{tokens:>7} {total * 1000:>10.1f} "
            + " ".join(f"{per_check[n] * 1000:>12.1f}" for n in names)
        )
    (t8, v8, c8), (t128, v128, c128) = rows[1], rows[-1]
    exponent = math.log(v128 / v8) / math.log(t128 / t8)
    print(f"growth exponent 8k -> 128k: {exponent:.2f} (1.0 = linear)")
    for name in names:
        e = math.log(max(c128[name], 1e-6) / max(c8[name], 1e-6)) / math.log(t128 / t8)
        print(f"  {name:<16} exponent {e:.2f}")
    at32 = rows[2][1]
    print(
        f"goals: 32k tokens {at32 * 1000:.0f} ms <= 300 ms {'ok' if at32 <= 0.3 else 'MISSED'}; "
        f"exponent {exponent:.2f} <= 1.1 {'ok' if exponent <= 1.1 else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
