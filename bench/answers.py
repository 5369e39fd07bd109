"""Benchmark ``answers.equivalent``: time per comparison over the answer table.

    python bench/answers.py [--repeat 3]

Runs every pair of ``tests/data/answer_cases.py`` (both orders), in a fresh process. The very
first comparison (it starts the math worker: sympy, math-verify, pint) is reported on its own;
then the median, p90 and max time per comparison, the share decided in the agent's own process
(plain numbers, letters, text) and the agreement with the table.
Goals (issue 10): median <= 2 ms, none over 1 s (after the first call).
A report, not a test: the numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from qvq_agent.answers import equivalent
from qvq_agent.tools.math_worker import worker
from tests.data.answer_cases import CASES


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    started = time.perf_counter()
    equivalent("\\frac{1}{2}", "0.5")
    first = time.perf_counter() - started
    times: list[float] = []
    first_pass: list[float] = []
    agree = total = 0
    slowest = ("", "", 0.0)
    for round_ in range(args.repeat):
        for a, b, expected, precision, choices in CASES:
            for x, y in ((a, b), (b, a)):
                t0 = time.perf_counter()
                verdict = equivalent(x, y, precision=precision, choices=choices)  # type: ignore[arg-type]
                spent = time.perf_counter() - t0
                times.append(spent)
                if round_ == 0:
                    first_pass.append(spent)
                if spent > slowest[2]:
                    slowest = (x, y, spent)
                total += 1
                agree += bool(verdict) is expected
    times.sort()
    p90 = times[int(0.9 * len(times))]
    print(f"comparisons: {len(times)} ({len(CASES)} pairs, both orders, x{args.repeat})")
    print(f"first call (starts the math worker): {first * 1000:.0f} ms")
    print(
        f"median {statistics.median(times) * 1000:.2f} ms · p90 {p90 * 1000:.2f} ms · "
        f"max {times[-1] * 1000:.1f} ms ({slowest[0]!r} vs {slowest[1]!r})"
    )
    print(
        f"first pass alone (nothing cached yet): median "
        f"{statistics.median(first_pass) * 1000:.2f} ms · max {max(first_pass) * 1000:.1f} ms"
    )
    print(f"agreement with the table: {agree}/{total}")
    median_ok = statistics.median(times) <= 0.002
    max_ok = times[-1] <= 1.0
    print(
        f"goals: median <= 2 ms {'ok' if median_ok else 'MISSED'}; max <= 1 s {'ok' if max_ok else 'MISSED'}"
    )
    worker().close()


if __name__ == "__main__":
    main()
