"""The count graph against an oracle server (it answers with the exact centres of the target
discs in whatever image it receives); CLEVR through an oracle built from the scene files."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageDraw
from typer.testing import CliRunner

from qvq_agent import Settings
from qvq_agent.cli import app
from qvq_agent.counting import count_discs_cv, plan_tiles
from qvq_agent.profiles import get_profile
from qvq_agent.solver import CountResult, count
from qvq_agent.testing import ReplayServer
from qvq_agent.testing.oracle import BLUE, RED, last_image, oracle
from tests.support.data import require


def scene(
    size: tuple[int, int],
    centres: list[tuple[int, int]],
    radius: int,
    seed: int = 0,
    distractors: int = 15,
) -> Image.Image:
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    rng = random.Random(seed)
    for _ in range(distractors):
        x, y = rng.randint(radius, size[0] - radius), rng.randint(radius, size[1] - radius)
        if all(math.dist((x, y), c) > 3 * radius for c in centres):
            draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=RED)
    for x, y in centres:
        draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=BLUE)
    return image


def spread(
    size: tuple[int, int], n: int, spacing: float, seed: int, fixed: list[tuple[int, int]] = ()
) -> list[tuple[int, int]]:  # type: ignore[assignment]
    rng = random.Random(seed)
    centres = list(fixed)
    while len(centres) < n:
        c = (rng.randint(30, size[0] - 30), rng.randint(30, size[1] - 30))
        if all(math.dist(c, o) >= spacing for o in centres):
            centres.append(c)
    return centres


def run_count(path: Path, **kw: Any) -> CountResult:
    with ReplayServer([oracle()], repeat_last=True) as server:
        return count(
            path,
            "How many blue discs are there?",
            settings=Settings(base_url=server.base_url, retries=0),
            **kw,
        )


def assert_exact(result: CountResult, truth: list[tuple[int, int]], radius: float) -> None:
    assert result.answer == len(truth), (result.answer, len(truth))
    for centre in truth:  # no misses and no double counts: each object has exactly one point
        near = [p for p in result.points if math.dist(p, centre) <= radius]
        assert len(near) == 1, (centre, near)


def test_objects_on_tile_borders_and_corners(tmp_path: Path) -> None:
    size = (2400, 1600)
    plan = plan_tiles(*size, get_profile("qvq"))
    assert plan.rows * plan.cols > 1
    xs = sorted({b[0] for b in plan.boxes} | {b[2] for b in plan.boxes})[1:-1]
    ys = sorted({b[1] for b in plan.boxes} | {b[3] for b in plan.boxes})[1:-1]
    on_lines = (
        [(x, 300) for x in xs] + [(700, y) for y in ys] + [(x, y) for x in xs[:2] for y in ys[:2]]
    )
    truth = spread(size, 45, 70, seed=3, fixed=on_lines)
    path = tmp_path / "borders.png"
    scene(size, truth, 16).save(path)
    result = run_count(path)
    assert_exact(result, truth, 16)
    assert result.status == "verified" and result.tiles == plan.rows * plan.cols
    assert result.requests == 1 + 2 * result.tiles  # overview, one per tile, one check per tile


def test_forced_tiles_and_a_partly_visible_object(tmp_path: Path) -> None:
    size = (1000, 700)
    truth = [(500, 350), (2, 200), (997, 650), (250, 120), (760, 520)]  # two cut by the image edge
    path = tmp_path / "edge.png"
    scene(size, truth, 18, distractors=5).save(path)
    result = run_count(path, tiles=(2, 2))
    assert result.tiles == 4
    assert_exact(result, truth, 18)


def test_6000x4000_with_150_small_objects(tmp_path: Path) -> None:
    size = (6000, 4000)
    truth = spread(size, 150, 120, seed=7)
    path = tmp_path / "big.png"
    scene(size, truth, 10, distractors=60).save(path)
    result = run_count(path)
    assert_exact(result, truth, 10)
    assert result.status == "verified"


@pytest.mark.parametrize(
    "name",
    [
        "train/CLEVR_train_000000",
        "train/CLEVR_train_000001",
        "train/CLEVR_train_000002",
        "train/CLEVR_train_000003",
        "val/CLEVR_val_000000",
    ],
)
def test_clevr_with_a_scene_file_oracle(name: str) -> None:
    clevr = require("clevr")
    split, stem = name.split("/")
    scenes = json.loads((clevr / "scenes" / f"CLEVR_{split}_scenes.json").read_text())["scenes"]
    objects = next(s["objects"] for s in scenes if s["image_filename"] == f"{stem}.png")
    path = clevr / "images" / split / f"{stem}.png"
    width, height = Image.open(path).size

    def scene_oracle(body: dict[str, Any]) -> str:
        seen = last_image(body)
        assert abs(seen.width / seen.height - width / height) < 0.06  # one tile: the whole image
        points = [
            [
                round(o["pixel_coords"][0] * 1000 / width),
                round(o["pixel_coords"][1] * 1000 / height),
            ]
            for o in objects
        ]
        return f"Objects: shapes on a grey floor.\n\n**Final Answer**\n\n{json.dumps(points)}"

    with ReplayServer([scene_oracle], repeat_last=True) as server:
        result = count(
            path,
            "How many objects are there?",
            settings=Settings(base_url=server.base_url, retries=0),
        )
    assert result.answer == len(objects) and result.status == "verified"


def test_cv_method_counts_drawn_discs(tmp_path: Path) -> None:
    size = (1600, 1200)
    truth = spread(size, 37, 50, seed=11)
    path = tmp_path / "discs.png"
    scene(size, truth, 12, distractors=0).save(path)
    assert len(count_discs_cv(Image.open(path))) == 37
    result = count(path, "How many discs?", method="cv")
    assert result.answer == 37 and result.requests == 0
    # Nothing verified an OpenCV count: it says so.
    assert result.status == "unverified"
    assert [f["check"] for f in result.findings] == ["cv_estimate"]
    assert "OpenCV estimate" in result.findings[0]["message"]


def test_solve_graph_count_honours_or_refuses_every_option(tmp_path: Path) -> None:
    truth = [(100, 100), (400, 300), (700, 500)]
    path = tmp_path / "three.png"
    scene((800, 600), truth, 20, distractors=3).save(path)
    runner = CliRunner()
    for flags in (
        ["--image", str(path)],
        ["--choices", "A) 3"],
        ["--max-steps", "3"],
        ["--max-revisions", "1"],
    ):
        refused = runner.invoke(app, ["solve", str(path), "q", "--graph", "count", *flags])
        assert refused.exit_code == 2 and flags[0] in refused.output and "count" in refused.output
    with ReplayServer([oracle()], repeat_last=True) as server:
        quiet = runner.invoke(
            app,
            [
                "solve",
                str(path),
                "How many blue discs?",
                "--graph",
                "count",
                "--base-url",
                server.base_url,
                "--extra-body",
                '{"top_k": 5}',
                "--quiet",
            ],
        )
        bodies = [r.body for r in server.requests]
    assert quiet.exit_code == 0 and quiet.stdout.strip() == "3"
    assert bodies and all(b.get("top_k") == 5 for b in bodies)


def test_count_cli_json(tmp_path: Path) -> None:
    truth = [(100, 100), (400, 300), (700, 500)]
    path = tmp_path / "three.png"
    scene((800, 600), truth, 20, distractors=3).save(path)
    with ReplayServer([oracle()], repeat_last=True) as server:
        result = CliRunner().invoke(
            app,
            ["count", str(path), "How many blue discs?", "--base-url", server.base_url, "--json"],
        )
    payload = json.loads(result.stdout)
    assert payload["answer"] == 3 and payload["tiles"] == 1 and payload["status"] == "verified"
    assert all(min(math.dist(p, t) for t in truth) < 3 for p in payload["points"])
    bad = CliRunner().invoke(app, ["count", str(path), "q", "--tiles", "3by4"])
    assert bad.exit_code == 2 and "RxC" in bad.output
