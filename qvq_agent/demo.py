"""``qvq-agent demo``: what a run looks like, in a minute, with no GPU and no model.

The real solve graph and count graph run on pictures drawn here, against the package's replay
server: a scripted "model" whose answers are fixed in advance (a replay, and said so everywhere
the demo prints). The solve run crops, zooms into the crop, makes a mistake with a tool and gets
the error back, uses the calculator, starts looping (the loop guard cancels the stream and the
verifier sends it back), and answers; the count run tiles the picture, counts each tile,
merges across the overlap and checks every count with numbered marks. Both leave a run record
and a trace page.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw

from qvq_agent.settings import RunSettings
from qvq_agent.solver import count, solve
from qvq_agent.testing import ReplayServer
from qvq_agent.testing.oracle import BLUE, RED, oracle

RED_CIRCLE = (220, 40, 40)


def _call(name: str, **arguments: object) -> str:
    payload = json.dumps({"name": name, "arguments": arguments})
    return f"<tool_call>\n{payload}\n</tool_call>"


SOLVE_QUESTION = "How many red circles are in the picture?"
SOLVE_SCRIPT = [
    "The picture has circles on both sides of a divider. Let me look at the left half first.\n"
    + _call("crop", image="img0", bbox=[0, 0, 500, 1000]),
    "The left half has circles at the top and bottom; the top ones are small. Let me zoom in.\n"
    + _call("zoom", image="img1", bbox=[0, 0, 1000, 500], factor=2),
    "Two small circles at the top. Now the right half.\n"
    + _call("crop", image="img0", bbox=[1000, 0, 500, 1000]),
    "I swapped the corners. The right half again, with x1 < x2.\n"
    + _call("crop", image="img0", bbox=[500, 0, 1000, 1000]),
    "Left: 2 small at the top and 2 large below, so 4. Right: 3. Adding them.\n"
    + _call("calculate", expression="2 + 2 + 3"),
    "That gives 7. " + "Let me count the circles again to be sure they are all there. " * 30,
    "The crops answer it: 2 + 2 = 4 circles on the left (img1, img2) and 3 on the right (img3), "
    "and the calculator gives 2 + 2 + 3 = 7.\n\n**Final Answer**\n\n7",
]


def solve_picture() -> Image.Image:
    """Seven red circles: two small and two large on the left, three on the right."""
    image = Image.new("RGB", (1200, 800), "white")
    draw = ImageDraw.Draw(image)
    draw.line([(600, 40), (600, 760)], fill=(120, 120, 120), width=4)
    for x, y, r in [(150, 150, 28), (420, 170, 24), (170, 520, 70), (430, 560, 80)]:
        draw.ellipse([x - r, y - r, x + r, y + r], fill=RED_CIRCLE)
    for x, y, r in [(760, 220, 60), (1020, 300, 55), (880, 600, 75)]:
        draw.ellipse([x - r, y - r, x + r, y + r], fill=RED_CIRCLE)
    draw.rectangle([960, 560, 1120, 700], fill=(40, 90, 220))  # not a circle
    return image


def count_picture(seed: int = 7) -> Image.Image:
    """Twenty-one blue discs among red distractors."""
    rng = random.Random(seed)
    image = Image.new("RGB", (1600, 900), "white")
    draw = ImageDraw.Draw(image)
    centres: list[tuple[int, int]] = []
    while len(centres) < 21:
        c = (rng.randint(40, 1560), rng.randint(40, 860))
        if all((c[0] - o[0]) ** 2 + (c[1] - o[1]) ** 2 > 70**2 for o in centres):
            centres.append(c)
    for _ in range(8):
        x, y = rng.randint(30, 1570), rng.randint(30, 870)
        draw.ellipse([x - 14, y - 14, x + 14, y + 14], fill=RED)
    for x, y in centres:
        draw.ellipse([x - 18, y - 18, x + 18, y + 18], fill=BLUE)
    return image


@dataclass(frozen=True)
class DemoOutput:
    """Where the demo wrote its runs."""

    solve_record: Path
    solve_page: Path
    count_record: Path
    count_page: Path
    solve_answer: str | None
    count_answer: int | None


def run_demo(folder: Path) -> DemoOutput:
    """Run both demos into ``folder`` (pictures, records, trace pages)."""
    folder.mkdir(parents=True, exist_ok=True)
    solve_image = folder / "circles.png"
    solve_picture().save(solve_image)
    with ReplayServer(list(SOLVE_SCRIPT)) as server:
        settings = RunSettings(base_url=server.base_url, retries=0)
        solved = solve(
            solve_image,
            SOLVE_QUESTION,
            settings=settings,
            record=folder / "solve" / "run.json",
            trace=folder / "solve.html",
        )
    _mark_replay(folder / "solve" / "run.json", folder / "solve.html")
    count_image = folder / "discs.png"
    count_picture().save(count_image)
    with ReplayServer([oracle()], repeat_last=True) as server:
        settings = RunSettings(base_url=server.base_url, retries=0)
        counted = count(
            count_image,
            "How many blue discs are there?",
            settings=settings,
            tiles=(1, 2),
            record=folder / "count" / "run.json",
            trace=folder / "count.html",
        )
    _mark_replay(folder / "count" / "run.json", folder / "count.html")
    return DemoOutput(
        folder / "solve" / "run.json",
        folder / "solve.html",
        folder / "count" / "run.json",
        folder / "count.html",
        solved.answer,
        counted.answer,
    )


def _mark_replay(record_path: Path, page: Path) -> None:
    """Label a demo run as a replay, in its record and on its page."""
    from qvq_agent.records import read_record, write_record
    from qvq_agent.trace_page import render_html

    record = read_record(record_path)
    record["replay"] = True
    record["model"] = f"replay of scripted answers (not {record['model']})"
    write_record(record, record_path)
    page.write_text(render_html(record, record_path.parent), encoding="utf-8")
