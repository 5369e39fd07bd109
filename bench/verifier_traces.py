"""Score the verifier's checks on labelled traces: per-check precision and recall, and the clean
traces sent to revise.

    python bench/verifier_traces.py [TRACES.jsonl ...] [--threshold 0.65] [--verbose]

Default input: both trace sets in ../shared/data/traces (public_traces.jsonl and
real_traces_dev.jsonl; one JSON object per line with id, question, tags, trace). A check
"fires" on a trace when it reports an error at or above the confidence threshold (what sends
the model back). A trace tagged ``loop`` counts as caught when ``loop`` or ``circular`` fires;
every other tag needs the check of the same name. Precision counts a firing as right when the
trace carries the check's tag (``circular`` on a ``loop`` trace too).
Goals (issue 9): clean traces sent to revise <= 5%; recall >= 0.9 for loop, arithmetic and
no_final_answer, >= 0.8 for circular, language_mixing and answer_mismatch.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from qvq_agent.agent.checks import DEFAULT_CHECKS, TraceInput, run_checks
from qvq_agent.agent.checks.base import DEFAULT_REVISE_CONFIDENCE, blocks

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "traces"
DEFAULT = [DATA / "public_traces.jsonl", DATA / "real_traces_dev.jsonl"]
SCORED = ("loop", "circular", "language_mixing", "arithmetic", "no_final_answer", "answer_mismatch")
ACCEPTS = {"loop": {"loop", "circular"}}
RIGHT_WHEN = {"circular": {"circular", "loop"}}
GOALS = {
    "loop": 0.9,
    "arithmetic": 0.9,
    "no_final_answer": 0.9,
    "circular": 0.8,
    "language_mixing": 0.8,
    "answer_mismatch": 0.8,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("traces", nargs="*", type=Path, default=DEFAULT)
    parser.add_argument("--threshold", type=float, default=DEFAULT_REVISE_CONFIDENCE)
    parser.add_argument("--verbose", action="store_true", help="print every trace's findings")
    args = parser.parse_args()
    rows = []
    for path in args.traces:
        if not path.exists():
            print(f"no such file: {path}", file=sys.stderr)
            return 2
        rows += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    tagged: dict[str, set[str]] = defaultdict(set)
    caught: dict[str, set[str]] = defaultdict(set)
    fired: dict[str, set[str]] = defaultdict(set)
    clean, clean_revised = [], []
    for row in rows:
        trace = TraceInput(row["trace"], question=row.get("question", ""))
        findings = run_checks(DEFAULT_CHECKS, trace)
        names = {f["check"] for f in findings if blocks(f, args.threshold)}
        tags = set(row.get("tags", []))
        for name in names:
            fired[name].add(row["id"])
        for tag in tags & set(SCORED):
            tagged[tag].add(row["id"])
            if names & ACCEPTS.get(tag, {tag}):
                caught[tag].add(row["id"])
        if "clean" in tags:
            clean.append(row["id"])
            if names:
                clean_revised.append(row["id"])
        if args.verbose:
            print(f"{row['id']:40} tags={sorted(tags)} fired={sorted(names)}")
            for f in findings:
                print(f"    {f['check']:16} {f['confidence']:.2f} {f['message'][:100]}")
    print(
        f"{len(rows)} traces from {', '.join(p.name for p in args.traces)}; "
        f"threshold {args.threshold}"
    )
    print(f"\n{'check':18} {'recall':>9} {'precision':>10}  goal  missed / wrongly fired")
    ok = True
    for check in SCORED:
        truth = tagged[check]
        right_tags = RIGHT_WHEN.get(check, {check})
        right = {i for i in fired[check] if any(i in tagged[t] for t in right_tags)}
        recall = len(caught[check]) / len(truth) if truth else 1.0
        len(right) / len(fired[check]) if fired[check] else 1.0
        met = recall >= GOALS[check]
        ok &= met
        missed = sorted(truth - caught[check])
        wrong = sorted(fired[check] - right)
        print(
            f"{check:18} {len(caught[check]):>3}/{len(truth):<3}  {len(right):>3}/{len(fired[check]):<3}"
            f"   {'ok' if met else 'MISS':4}  {', '.join(missed) or '-'}"
            + (f"  | wrongly: {', '.join(wrong)}" if wrong else "")
        )
    share = len(clean_revised) / len(clean) if clean else 0.0
    ok &= share <= 0.05
    print(
        f"\nclean traces sent to revise: {len(clean_revised)}/{len(clean)} ({share:.0%}; goal <= 5%)"
        f"  {', '.join(clean_revised)}"
    )
    print(f"goals: {'all met' if ok else 'NOT all met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
