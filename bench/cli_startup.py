"""Benchmark the command line's start-up: how long until a user sees something.

    python bench/cli_startup.py [--runs 7]

Each command runs ``--runs`` times, interleaved with ``python -c pass`` (the interpreter's own
start-up, the baseline) so that both see the same machine load. Reported: the median wall time
of each, and the command's time over the baseline.
Goals (issue 16): ``qvq-agent --help`` <= 0.5 s; ``qvq-agent tool calculate`` <= 1.5 s (it starts
the math worker process, which imports sympy).
A report, not a test: the numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

GOALS = {"--help": 0.5, "tool calculate": 1.5}


def cli() -> str:
    beside = Path(sys.executable).with_name("qvq-agent")
    found = str(beside) if beside.exists() else shutil.which("qvq-agent")
    if found is None:
        sys.exit("qvq-agent is not installed: pip install -e '.[dev]' first")
    return found


def wall(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    exe = cli()
    commands = {
        "--help": [exe, "--help"],
        "tool calculate": [exe, "tool", "calculate", '{"expression": "2+2"}'],
    }
    baseline = [sys.executable, "-c", "pass"]
    wall(commands["--help"])  # warm the file cache once
    print(
        f"{'command':<16} {'median s':>9} {'python -c pass':>15} {'over baseline':>14} {'goal':>6}"
    )
    for name, command in commands.items():
        times, base = [], []
        for _ in range(args.runs):
            base.append(wall(baseline))
            times.append(wall(command))
        median, base_median = statistics.median(times), statistics.median(base)
        verdict = "ok" if median <= GOALS[name] else "MISSED"
        print(
            f"{name:<16} {median:>9.3f} {base_median:>15.3f} {median - base_median:>14.3f} "
            f"{GOALS[name]:>5.1f}s {verdict}"
        )


if __name__ == "__main__":
    main()
