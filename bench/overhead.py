"""The framework's own CPU cost per model call: a 3-request solve run (crop, calculate, answer)
against a raw ``openai`` loop sending the same request bodies, byte for byte.

    python bench/overhead.py [--reps 30]

The loopback server runs in its own process (its CPU is not counted). Each repetition runs the
agent (``qvq_agent.solve``, as a user calls it: one event loop and one HTTP client per run) and
then the raw loop (``asyncio.run`` of an ``openai.AsyncOpenAI`` sending the three recorded bodies,
streaming, one client per run, no certificate bundle loaded for http://), interleaved; CPU time of this process (``time.process_time``)
is compared, since wall time is noisy here. Reported: median CPU per run of each, and the
agent's extra CPU per model request.
Goal (issue 15): <= 5 ms of CPU per model request over the raw loop.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import openai
from loopback import ServerProcess, serve
from PIL import Image, ImageDraw

from qvq_agent import Settings, solve
from qvq_agent.testing import ReplayServer

CROP = '<tool_call>\n{"name": "crop", "arguments": {"image": "img0", "bbox": [0, 0, 500, 1000]}}\n</tool_call>'
CALC = '<tool_call>\n{"name": "calculate", "arguments": {"expression": "4 + 3"}}\n</tool_call>'
FINAL = "So 7.\n\n**Final Answer**\n\n7"
GOAL_MS = 5.0


def reply(body: dict[str, Any]) -> str:
    turns = sum(1 for m in body["messages"] if m.get("role") == "assistant")
    return (CROP, CALC, FINAL)[min(turns, 2)]


def scene(path: Path) -> Path:
    image = Image.new("RGB", (1200, 800), "white")
    draw = ImageDraw.Draw(image)
    for i in range(7):
        draw.ellipse([60 + 150 * i, 300, 160 + 150 * i, 400], fill=(220, 30, 30))
    image.save(path)
    return path


async def raw_run(base_url: str, bodies: list[dict[str, Any]]) -> None:
    # http:// needs no certificates: the raw loop skips loading them too, as the agent does.
    http = openai.DefaultAsyncHttpxClient(verify=False)
    client = openai.AsyncOpenAI(base_url=base_url, api_key="EMPTY", max_retries=0, http_client=http)
    for body in bodies:
        stream = await client.chat.completions.create(**{**body, "stream": True})
        async for _ in stream:
            pass
    await client.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=30)
    parser.add_argument("--serve", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(reply, *args.serve)
        return 0
    work = Path(tempfile.mkdtemp(prefix="qvq-overhead-"))
    image = scene(work / "scene.png")
    question = "How many red circles?"
    with ReplayServer([reply], repeat_last=True) as recorder:  # the bodies the raw loop sends
        first = solve(image, question, settings=Settings(base_url=recorder.base_url, retries=0))
        bodies = [r.body for r in recorder.requests]
    assert first.answer == "7" and len(bodies) == 3, (first.answer, len(bodies))
    server = ServerProcess(__file__, work, "server")
    settings = Settings(base_url=server.base_url, retries=0)
    agent_cpu, raw_cpu = [], []
    try:
        for _ in range(3):  # warm both paths
            solve(image, question, settings=settings)
            asyncio.run(raw_run(server.base_url, bodies))
        for _ in range(args.reps):
            start = time.process_time()
            result = solve(image, question, settings=settings)
            agent_cpu.append(time.process_time() - start)
            assert result.answer == "7" and result.usage["requests"] == 3
            start = time.process_time()
            asyncio.run(raw_run(server.base_url, bodies))
            raw_cpu.append(time.process_time() - start)
    finally:
        server.stop()
    agent_ms = statistics.median(agent_cpu) * 1000
    raw_ms = statistics.median(raw_cpu) * 1000
    extra = (agent_ms - raw_ms) / 3
    print(f"{args.reps} interleaved repetitions of a 3-request run (crop, calculate, answer)")
    print(f"agent: {agent_ms:.1f} ms CPU per run · raw loop: {raw_ms:.1f} ms CPU per run")
    print(f"ratio {agent_ms / raw_ms:.2f} · extra CPU per model request: {extra:.1f} ms")
    print(f"goal <= {GOAL_MS:g} ms per request: {'ok' if extra <= GOAL_MS else 'MISSED'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
