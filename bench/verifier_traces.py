"""Score the verifier's checks on labelled traces: per-check recall, clean traces sent to revise.

    python bench/verifier_traces.py [TRACES.jsonl] [--verbose]

Default input: ../shared/data/traces/public_traces.jsonl (one JSON object per line with id,
question, tags, trace). A trace tagged ``loop`` counts as caught when ``loop`` or ``circular``
fires; every other tag needs the check of the same name.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

from qvq_agent.agent.checks import DEFAULT_CHECKS, TraceInput, run_checks
from qvq_agent.agent.verifier import decide

DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "data" / "traces" / "public_traces.jsonl"
SCORED = ("loop", "circular", "language_mixing", "arithmetic", "no_final_answer", "answer_mismatch")
ACCEPTS = {"loop": {"loop", "circular"}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("traces", nargs="?", type=Path, default=DEFAULT)
    parser.add_argument("--verbose", action="store_true", help="print every trace's findings")
    args = parser.parse_args()
    if not args.traces.exists():
        print(f"no such file: {args.traces}", file=sys.stderr)
        return 2
    tagged: dict[str, list[str]] = defaultdict(list)
    caught: dict[str, list[str]] = defaultdict(list)
    fired: dict[str, list[str]] = defaultdict(list)
    clean_revised: list[str] = []
    clean_total = 0
    for line in args.traces.read_text().splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        findings = run_checks(
            DEFAULT_CHECKS, TraceInput(row["trace"], question=row.get("question", ""))
        )
        names = {f["check"] for f in findings}
        for name in names:
            fired[name].append(row["id"])
        tags = set(row.get("tags", []))
        for tag in tags & set(SCORED):
            tagged[tag].append(row["id"])
            if names & ACCEPTS.get(tag, {tag}):
                caught[tag].append(row["id"])
        if "clean" in tags:
            clean_total += 1
            if decide(findings, can_revise=True) == "revise":
                clean_revised.append(row["id"])
        if args.verbose:
            print(f"{row['id']:40} tags={sorted(tags)} fired={sorted(names)}")
            for f in findings:
                print(f"    {f['check']:16} {f['message'][:110]}")
    print(f"\n{'check':18} {'recall':>8}  missed")
    for tag in SCORED:
        total = len(tagged[tag])
        if total:
            missed = sorted(set(tagged[tag]) - set(caught[tag]))
            print(f"{tag:18} {len(caught[tag]):>3}/{total:<4}  {', '.join(missed) or '-'}")
    print(
        f"\nclean traces sent to revise: {len(clean_revised)}/{clean_total}"
        f"  {', '.join(clean_revised) or ''}"
    )
    print("fired on untagged traces:")
    for name in SCORED:
        extra = sorted(
            set(fired[name])
            - set(tagged[name])
            - (set(tagged["loop"]) if name == "circular" else set())
        )
        if extra:
            print(f"  {name:18} {', '.join(extra)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
