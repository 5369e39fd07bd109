"""Benchmark the online loop guard: replay looping traces as token streams, measure the cut.

    python bench/loop_guard.py [TRACES.jsonl] [--delay-ms 1]

Each trace tagged ``loop`` is streamed token by token by the loopback replay server to the
agent's real client (ChatOpenAI, streaming, through the solve graph with one step). The server
counts the tokens it actually sent before the client hung up.

The loop onset is measured independently of the guard: the first word from which at least half
of the rest of the trace's word 4-grams were already said earlier. Reported per trace: tokens
generated after onset, and the share of the loop tail never generated: of the tail as logged
(onset to the end of the trace), and of the tail a live loop would produce (onset to QVQ's
8192 max_new_tokens).
Goal (issue 3): at most 300 tokens after onset and at least 80% of the tail saved.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from PIL import Image

from qvq_agent import Settings, solve
from qvq_agent.testing import ReplayServer, Reply, split_tokens

DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "data" / "traces" / "public_traces.jsonl"
GOAL_TOKENS_AFTER_ONSET = 300
GOAL_TAIL_SAVED = 0.80
MAX_NEW_TOKENS = 8192
_WORD = re.compile(r"\w+")


def loop_onset(text: str, share: float = 0.5) -> int:
    """First offset from which at least ``share`` of the word 4-grams repeat earlier ones."""
    words = [(m.start(), m.group().lower()) for m in _WORD.finditer(text)]
    grams = [tuple(w for _, w in words[i : i + 4]) for i in range(len(words) - 3)]
    seen: set[tuple[str, ...]] = set()
    repeated = []
    for gram in grams:
        repeated.append(gram in seen)
        seen.add(gram)
    suffix_repeats = 0
    best = len(grams)
    for i in range(len(grams) - 1, -1, -1):
        suffix_repeats += repeated[i]
        if repeated[i] and suffix_repeats >= share * (len(grams) - i):
            best = i
    return words[best][0] if best < len(grams) else len(text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("traces", nargs="?", type=Path, default=DEFAULT)
    parser.add_argument("--delay-ms", type=float, default=1.0, help="pause between streamed tokens")
    args = parser.parse_args()
    if not args.traces.exists():
        print(f"no such file: {args.traces}", file=sys.stderr)
        return 2
    rows = [json.loads(line) for line in args.traces.read_text().splitlines() if line.strip()]
    looping = [r for r in rows if "loop" in r.get("tags", [])]
    image = Path("/tmp") / "qvq_agent_loop_guard_bench.png"
    Image.new("RGB", (64, 64), "white").save(image)
    print(
        f"{'trace':38} {'tokens':>6} {'onset':>6} {'sent':>6} {'after onset':>11} "
        f"{'tail saved':>10} {'of 8192':>8}"
    )
    met = True
    for row in looping:
        trace = row["trace"]
        tokens = split_tokens(trace)
        onset_char = loop_onset(trace)
        onset_token = len(split_tokens(trace[:onset_char]))
        with ReplayServer(
            [Reply(trace, delay_s=args.delay_ms / 1000), "**Final Answer**\n\n0"]
        ) as server:
            solve(
                image,
                row.get("question", "?"),
                settings=Settings(
                    base_url=server.base_url, max_steps=1, max_revisions=0, retries=0
                ),
            )
            server.wait_finished()
            sent = server.requests[0].sent_tokens
            cancelled = server.requests[0].cancelled
        after = max(0, sent - onset_token)
        tail = max(1, len(tokens) - onset_token)
        saved = 1 - min(after, tail) / tail
        # The logged traces stop where their logs stop; a live loop runs on to max_new_tokens.
        full_tail = max(tail, MAX_NEW_TOKENS - onset_token)
        saved_full = 1 - after / full_tail
        ok = cancelled and after <= GOAL_TOKENS_AFTER_ONSET and saved >= GOAL_TAIL_SAVED
        met &= ok
        print(
            f"{row['id'][:38]:38} {len(tokens):>6} {onset_token:>6} {sent:>6} {after:>11} "
            f"{saved:>9.0%} {saved_full:>8.1%}{'' if ok else '  (goal missed)'}"
            f"{'' if cancelled else ' (not cancelled)'}"
        )
    print(
        f"\ngoal: <= {GOAL_TOKENS_AFTER_ONSET} tokens after onset, >= {GOAL_TAIL_SAVED:.0%} of the "
        f"tail saved: {'met' if met else 'NOT met'} on {len(looping)} looping traces"
    )
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
