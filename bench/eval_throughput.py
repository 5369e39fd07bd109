"""Benchmark evaluation throughput: the eval runner against a raw asyncio ``openai`` loop.

    python bench/eval_throughput.py [--items 64] [--concurrency 64] [--wait-ms 200] [--rounds 3]
                                    [--reasoning-words 0,300]

A loopback server in its own process (as a model server would be) waits ``--wait-ms`` before
each reply (a model's time to first token) and answers every item with a crop, then a final
answer (two requests per item). The eval runner (solve graph) runs the items; the server records
the requests it was sent, and a hand-written loop with ``openai.AsyncOpenAI`` sends the same
request bodies, byte for byte, item by item in order, at the same concurrency, to a fresh server.
Rounds alternate, after a warm-up round of each that is not counted (the first run in a process
imports and starts what later runs reuse); the median throughput ratio is reported, with each side's CPU per item (this
process only: the server's is not counted). ``--reasoning-words`` puts that many words of
reasoning before each reply, streamed a word per chunk as vLLM streams a token per chunk: with
none, each request is a few chunks and the framework's cost per request shows; with 300 (QVQ
writes thousands of tokens per reply), the cost per chunk of each client shows too.
Goal (issues 12 and 15): the runner reaches >= 0.9x the raw loop's items per second.
A report, not a test: the numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import openai
from PIL import Image, ImageDraw

from qvq_agent.eval.datasets import load
from qvq_agent.eval.runner import RunConfig, RunFolder, Runner
from qvq_agent.settings import RunSettings
from qvq_agent.testing import Reply

sys.path.insert(0, str(Path(__file__).resolve().parent))
from loopback import ServerProcess, serve

CROP = '<tool_call>\n{"name": "crop", "arguments": {"image": "img0", "bbox": [0, 0, 500, 500]}}\n</tool_call>'
FINAL = "The crop shows 3 squares.\n\n**Final Answer**\n\n3"


def make_dataset(folder: Path, items: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(items):
        image = Image.new("RGB", (640, 480), (255, (i * 37) % 256, 255))
        ImageDraw.Draw(image).text((10, 10), f"item {i}", fill="black")
        image.save(folder / f"{i}.png")
    rows = [
        {
            "id": f"i{i:03d}",
            "image": f"{i}.png",
            "question": f"Item {i:03d}: how many?",
            "answer": "3",
        }
        for i in range(items)
    ]
    (folder / "items.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


WORDS = [
    "the",
    "a",
    "of",
    "square",
    "left",
    "right",
    "edge",
    "corner",
    "side",
    "count",
    "each",
    "row",
    "column",
    "shape",
    "small",
    "large",
    "red",
    "blue",
    "green",
    "mark",
    "next",
    "first",
    "second",
    "third",
    "then",
    "so",
    "we",
    "see",
    "look",
    "at",
    "top",
    "bottom",
    "inside",
    "outside",
    "image",
    "crop",
    "region",
    "shows",
    "two",
    "three",
    "four",
    "five",
    "area",
    "near",
    "far",
    "line",
    "point",
    "centre",
    "half",
]


def reasoning(words: int, seed: int) -> str:
    """``words`` words of plain prose (sentences of twelve words), different for each seed and
    never repeating itself (the loop guard must not fire)."""
    state, out = seed * 7919 + 1, []
    for i in range(words):
        state = (state * 1103515245 + 12345) % 2**31
        out.append(WORDS[state % len(WORDS)] + ("." if i % 12 == 11 else ""))
    return " ".join(out) + ("\n\n" if words else "")


def script(wait_s: float, words: int) -> Any:
    def reply(body: dict[str, Any]) -> Reply:
        turns = sum(1 for m in body["messages"] if m.get("role") == "assistant")
        text = reasoning(words, len(json.dumps(body)) + turns) + (CROP if turns == 0 else FINAL)
        return Reply(text, wait_s=wait_s)

    return reply


async def raw_loop(
    base_url: str, bodies: dict[str, list[dict[str, Any]]], concurrency: int
) -> float:
    client = openai.AsyncOpenAI(base_url=base_url, api_key="EMPTY", max_retries=0)
    semaphore = asyncio.Semaphore(concurrency)

    async def one_item(requests: list[dict[str, Any]]) -> None:
        async with semaphore:
            for body in requests:
                stream = await client.chat.completions.create(**{**body, "stream": True})
                async for _ in stream:
                    pass

    started = time.perf_counter()
    await asyncio.gather(*(one_item(r) for r in bodies.values()))
    spent = time.perf_counter() - started
    await client.close()
    return spent


def measure(args: argparse.Namespace, work: Path, data: Path, words: int) -> float:
    """Alternating rounds of the runner and the raw loop with ``words`` of reasoning per reply;
    prints each round and a summary; the median throughput ratio."""
    ratios, agent_rates, raw_rates = [], [], []
    agent_cpu, raw_cpu = [], []
    server_args = ("--wait-ms", str(args.wait_ms), "--reasoning-words", str(words))
    for round_ in range(-1, args.rounds):  # round 0 warms both sides up and is not counted
        name = f"w{words}r{round_}"
        agent_server = ServerProcess(__file__, work, f"agent-{name}", *server_args)
        try:
            settings = RunSettings(base_url=agent_server.base_url, retries=0, max_revisions=0)
            dataset = load(str(data), None, work / "images")
            folder = RunFolder(work / f"run-{name}")
            folder.prepare(RunConfig.make(dataset, "solve", settings, "qvq"))
            runner = Runner("solve", settings, folder, concurrency=args.concurrency)
            started, cpu = time.perf_counter(), time.process_time()
            progress = asyncio.run(runner.run(dataset.items))
            agent_s = time.perf_counter() - started
            agent_cpu.append((time.process_time() - cpu) / args.items)
        finally:
            sent = agent_server.stop()
        assert progress.correct == args.items, (progress.correct, progress.errors)
        bodies: dict[str, list[dict[str, Any]]] = {}
        for body in sent:
            item = re.search(r"Item (\d{3})", json.dumps(body))
            bodies.setdefault(item.group(1) if item else "?", []).append(body)
        raw_server = ServerProcess(__file__, work, f"raw-{name}", *server_args)
        try:
            cpu = time.process_time()
            raw_s = asyncio.run(raw_loop(raw_server.base_url, bodies, args.concurrency))
            raw_cpu.append((time.process_time() - cpu) / args.items)
        finally:
            raw_server.stop()
        if round_ >= 0:
            agent_rates.append(args.items / agent_s)
            raw_rates.append(args.items / raw_s)
            ratios.append(raw_s / agent_s)
        print(
            f"  {'warm-up' if round_ < 0 else f'round {round_ + 1}'}: runner {args.items / agent_s:.2f} items/s · raw loop "
            f"{args.items / raw_s:.2f} items/s · ratio {raw_s / agent_s:.2f}"
        )
    ratio = statistics.median(ratios)
    print(
        f"{words} words of reasoning per reply: runner {statistics.median(agent_rates):.2f} "
        f"items/s ({statistics.median(agent_cpu) * 1000:.1f} ms CPU per item), raw loop "
        f"{statistics.median(raw_rates):.2f} items/s ({statistics.median(raw_cpu) * 1000:.1f} "
        f"ms CPU per item) · ratio {ratio:.2f} · goal >= 0.9: "
        f"{'ok' if ratio >= 0.9 else 'MISSED'}"
    )
    return ratio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=64)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--wait-ms", type=float, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--reasoning-words",
        default="0,300",
        help="words of reasoning before each reply; several, comma-separated, are run in turn",
    )
    parser.add_argument("--serve", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(script(args.wait_ms / 1000, int(args.reasoning_words)), *args.serve)
        return
    work = Path(tempfile.mkdtemp(prefix="qvq-throughput-"))
    data = make_dataset(work / "data", args.items)
    print(
        f"{args.items} items, concurrency {args.concurrency}, {args.wait_ms:g} ms per request, "
        "2 requests per item (a crop, then the answer)"
    )
    for words in (int(w) for w in str(args.reasoning_words).split(",")):
        measure(args, work, data, words)


if __name__ == "__main__":
    main()
