"""`qvq-agent eval`: a 20-item A/B run with hand-computed numbers, resume after kill -9, the
loaders on fixtures in each benchmark's real schema, and the HTML report."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageDraw
from typer.testing import CliRunner

from qvq_agent.cli import app
from qvq_agent.eval.datasets import DatasetError, load, select
from qvq_agent.eval.report import mcnemar_exact, paired, summarise, wilson
from qvq_agent.eval.runner import EvalError, RunConfig, RunFolder, Runner
from qvq_agent.settings import RunSettings
from qvq_agent.testing import ReplayServer, Reply
from tests.support.data import require

runner = CliRunner()
LOOP = "I will count the squares again to be sure. " * 60
RIGHT = "There are {gold} squares.\n\n**Final Answer**\n\n{gold}"


def draw(path: Path, n: int) -> None:
    image = Image.new("RGB", (320, 240), "white")
    pen = ImageDraw.Draw(image)
    for i in range(n):
        pen.rectangle([10 + 30 * i, 100, 30 + 30 * i, 120], fill="blue")
    image.save(path)


def local_dataset(folder: Path, n: int, gold: str = "84") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    draw(folder / "squares.png", 3)
    rows = [
        {
            "id": f"q{i:02d}",
            "image": "squares.png",
            "question": f"Item {i:02d}: how many?",
            "answer": gold,
            "category": "even" if i % 2 == 0 else "odd",
        }
        for i in range(n)
    ]
    (folder / "items.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


def item_number(body: dict[str, Any]) -> int:
    text = json.dumps(body["messages"])
    match = re.search(r"Item (\d\d)", text)
    assert match, text[:200]
    return int(match.group(1))


def turns(body: dict[str, Any]) -> int:
    return sum(1 for m in body["messages"] if m.get("role") == "assistant")


def scripted(body: dict[str, Any]) -> str | Reply:
    """Items 0-9 and 19 right; 10-13 an arithmetic slip fixed after the critique; 14-15 right
    but with a slip, then "fixed" to a wrong answer; 16 wrong; 17 loops; 18 a server error."""
    i, turn = item_number(body), turns(body)
    if i < 10 or i == 19:
        return RIGHT.format(gold=84)
    if i <= 13:
        if turn == 0:
            return "12 × 7 = 74, so there are 74 squares.\n\n**Final Answer**\n\n74"
        return "Recomputed: 12 × 7 = 84.\n\n**Final Answer**\n\n84"
    if i <= 15:
        if turn == 0:
            return "Rows: 12 × 7 = 74. But I count 84 squares.\n\n**Final Answer**\n\n84"
        return "Then it is 74.\n\n**Final Answer**\n\n74"
    if i == 16:
        return RIGHT.format(gold=60)
    if i == 17:
        return LOOP
    return Reply("the engine died", status=500)


def run(folder: Path, graph: str, server: ReplayServer, data: Path, **kw: Any) -> Any:
    settings = RunSettings(base_url=server.base_url, retries=0, max_revisions=1, max_steps=4)
    dataset = load(str(data), None, folder / "images")
    run_folder = RunFolder(folder)
    run_folder.prepare(RunConfig.make(dataset, graph, settings, "qvq"))  # type: ignore[arg-type]
    runner_ = Runner(graph, settings, run_folder, concurrency=kw.get("concurrency", 4))  # type: ignore[arg-type]
    return asyncio.run(runner_.run(dataset.items))


def test_a_twenty_item_a_b_run_gives_the_numbers_computed_by_hand(tmp_path: Path) -> None:
    data = local_dataset(tmp_path / "data", 20)
    with ReplayServer([scripted], repeat_last=True) as server:
        run(tmp_path / "raw", "raw", server, data)
        run(tmp_path / "agent", "solve", server, data)
    raw, agent = summarise(tmp_path / "raw"), summarise(tmp_path / "agent")
    # raw: items 0-9, 14, 15, 19 right (the first replies); 18 an error.
    assert (raw.n, raw.correct, raw.statuses.get("error")) == (20, 13, 1)
    # agent: 0-9 and 19 right, 10-13 fixed by the critique, 14-15 broken, 16-18 wrong.
    assert (agent.n, agent.correct, agent.first_correct) == (20, 15, 13)
    assert (agent.fixed, agent.broken) == (4, 2)
    assert agent.statuses.get("error") == 1 and agent.loop_cuts >= 1
    # Wilson 95% for 15/20 by hand: centre (0.75 + 1.9208/20) / (1 + 3.8415/20) = 0.70973,
    # half 1.96 * sqrt(0.75 * 0.25 / 20 + 3.8415 / 1600) / 1.19207 = 0.17842.
    lo, hi = agent.interval
    assert lo == pytest.approx(0.53131, abs=1e-4) and hi == pytest.approx(0.88815, abs=1e-4)
    pair = paired(raw, agent)
    assert (pair.shared, pair.won, pair.lost, pair.both_right, pair.both_wrong) == (20, 4, 2, 11, 3)
    # Exact McNemar, 4 won vs 2 lost: 2 * (C(6,0) + C(6,1) + C(6,2)) / 2^6 = 2 * 22 / 64.
    assert pair.p_value == pytest.approx(0.6875)
    assert mcnemar_exact(0, 0) == 1.0 and wilson(0, 0) == (0.0, 1.0)
    categories = agent.categories
    assert sum(n for _, n in categories.values()) == 20 and set(categories) == {"even", "odd"}
    # One run record per item of the agent run (the raw baseline has no graph to record).
    records = sorted((tmp_path / "agent" / "records").glob("*/run.json"))
    assert len(records) == 20 and not (tmp_path / "raw" / "records").exists()
    first = json.loads(records[0].read_text())
    assert first["kind"] == "solve" and first["steps"] and first["images"]["img0"]["file"]


def test_the_html_report_has_every_table_and_plot(tmp_path: Path) -> None:
    data = local_dataset(tmp_path / "data", 20)
    with ReplayServer([scripted], repeat_last=True) as server:
        run(tmp_path / "raw", "raw", server, data)
        run(tmp_path / "agent", "solve", server, data)
    result = runner.invoke(
        app,
        [
            "eval",
            "report",
            str(tmp_path / "raw"),
            str(tmp_path / "agent"),
            "--out",
            str(tmp_path / "report"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "won 4" in result.output and "McNemar p = 0.6875" in result.output

    class Collect(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.ids: set[str] = set()
            self.classes: list[str] = []
            self.images: list[str] = []
            self.external: list[str] = []

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            a = dict(attrs)
            if a.get("id"):
                self.ids.add(str(a["id"]))
            if a.get("class"):
                self.classes.append(str(a["class"]))
            if tag == "img":
                self.images.append(str(a.get("src")))
            for key in ("src", "href"):
                if (a.get(key) or "").startswith(("http:", "https:", "//")):
                    self.external.append(str(a[key]))

    page = Collect()
    page.feed((tmp_path / "report" / "report.html").read_text())
    assert {"summary", "paired", "plot-accuracy", "plot-verifier", "plot-tokens"} <= page.ids
    for table in ("categories", "statuses", "verifier", "cost", "tools"):
        assert page.classes.count(table) == 2, table
    assert len(page.images) == 3 and all(
        s.startswith("data:image/png;base64,") for s in page.images
    )
    assert not page.external
    md = (tmp_path / "report" / "report.md").read_text()
    assert "| agent | data | solve |" in md and "(4 fixed, 2 broken)" in md


def test_a_different_config_in_an_existing_folder_is_refused(tmp_path: Path) -> None:
    data = local_dataset(tmp_path / "data", 3)
    dataset = load(str(data), None, tmp_path / "images")
    folder = RunFolder(tmp_path / "run")
    folder.prepare(RunConfig.make(dataset, "solve", RunSettings(), "qvq"))
    folder.prepare(RunConfig.make(dataset, "solve", RunSettings(), "qvq"))  # the same: fine
    with pytest.raises(EvalError, match=r"graph, settings differ"):
        folder.prepare(RunConfig.make(dataset, "raw", RunSettings(max_steps=3), "qvq"))


def test_retry_errors_reruns_only_the_errors(tmp_path: Path) -> None:
    data = local_dataset(tmp_path / "data", 20)
    with ReplayServer([scripted], repeat_last=True) as server:
        run(tmp_path / "agent", "solve", server, data)
        before = len(server.requests)
        settings = RunSettings(base_url=server.base_url, retries=0, max_revisions=1, max_steps=4)
        dataset = load(str(data), None, tmp_path / "images")
        runner_ = Runner("solve", settings, RunFolder(tmp_path / "agent"))
        asyncio.run(runner_.run(dataset.items))  # nothing left to do
        assert len(server.requests) == before
        asyncio.run(runner_.run(dataset.items, retry_errors=True))
        again = [item_number(r.body) for r in server.requests[before:]]
    assert again and set(again) == {18}
    rows = RunFolder(tmp_path / "agent").rows()
    assert sorted(r["id"] for r in rows) == [f"q{i:02d}" for i in range(20)]


def test_a_server_that_goes_down_marks_errors_and_never_hangs(tmp_path: Path) -> None:
    data = local_dataset(tmp_path / "data", 6)
    settings = RunSettings(base_url="http://127.0.0.1:9/v1", retries=0)
    dataset = load(str(data), None, tmp_path / "images")
    folder = RunFolder(tmp_path / "down")
    folder.prepare(RunConfig.make(dataset, "solve", settings, "qvq"))
    progress = asyncio.run(Runner("solve", settings, folder, concurrency=2).run(dataset.items))
    assert progress.done == 6 and progress.errors == 6
    rows = folder.rows()
    assert all("cannot reach the model server" in (r["error"] or "") for r in rows)


def test_kill_9_then_the_same_command_finishes_each_item_once(tmp_path: Path) -> None:
    data = local_dataset(tmp_path / "data", 40)
    out = tmp_path / "run"
    slow = Reply(RIGHT.format(gold=84), delay_s=0.05)
    with ReplayServer([slow], repeat_last=True) as server:
        command = [
            sys.executable,
            "-c",
            "from qvq_agent.cli import main; main()",
            "eval",
            str(data),
            "--graph",
            "raw",
            "--out",
            str(out),
            "--concurrency",
            "8",
            "--base-url",
            server.base_url,
        ]
        env = {**os.environ, "QVQ_AGENT_RETRIES": "0"}
        process = subprocess.Popen(
            command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        results = out / "results.jsonl"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if results.exists() and len(results.read_text().splitlines()) >= 12:
                break
            time.sleep(0.05)
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
        finished = {
            json.loads(line)["id"]
            for line in results.read_text().splitlines()
            if line.endswith("}")
        }
        assert 12 <= len(finished) < 40
        before = len(server.requests)
        second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
        assert second.returncode == 0, second.stderr
        rerun = {f"q{item_number(r.body):02d}" for r in server.requests[before:]}
    ids = [json.loads(line)["id"] for line in results.read_text().splitlines()]
    assert sorted(ids) == [f"q{i:02d}" for i in range(40)]  # every item exactly once
    assert not rerun & finished  # no request repeated for a finished item


# ---- loaders, on fixtures in each benchmark's real schema ------------------------------------------


def png_bytes(size: tuple[int, int] = (64, 48), colour: str = "red") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


def test_local_items_and_selection(tmp_path: Path) -> None:
    data = local_dataset(tmp_path / "data", 10)
    dataset = load(str(data), None, tmp_path / "img")
    assert len(dataset.items) == 10 and Path(dataset.items[0].images[0]).exists()
    assert [i.id for i in select(dataset.items, limit=3)] == ["q00", "q01", "q02"]
    assert [i.id for i in select(dataset.items, ids=["q05", "q01"])] == ["q01", "q05"]
    picked = select(dataset.items, sample=4, seed=7)
    assert len(picked) == 4 and picked == select(dataset.items, sample=4, seed=7)
    with pytest.raises(DatasetError, match="no item with id"):
        select(dataset.items, ids=["nope"])
    with pytest.raises(DatasetError, match="not a named benchmark"):
        load(str(tmp_path / "nothing"), None, tmp_path)


def test_vstar_loader(tmp_path: Path) -> None:
    (tmp_path / "direct_attributes").mkdir()
    (tmp_path / "direct_attributes" / "sa_1.jpg").write_bytes(png_bytes())
    row = {
        "image": "direct_attributes/sa_1.jpg",
        "text": "What is the color of the cup?\n(A) white\n(B) black\n(C) red\n(D) blue\nAnswer with the option's letter from the given choices directly.",
        "category": "direct_attributes",
        "question_id": 0,
        "label": "C",
    }
    (tmp_path / "test_questions.jsonl").write_text(json.dumps(row) + "\n")
    (item,) = load("vstar", tmp_path, tmp_path / "img").items
    assert item.question == "What is the color of the cup?"
    assert item.choices == ["A) white", "B) black", "C) red", "D) blue"]
    assert (item.answer, item.kind, item.category) == ("C", "choice", "direct_attributes")
    assert Path(item.images[0]).exists()


def _parquet(path: Path, columns: dict[str, list[Any]], image_columns: tuple[str, ...]) -> None:
    from datasets import Dataset, Features, Sequence, Value
    from datasets import Image as HFImage

    features = {}
    for name, values in columns.items():
        if name in image_columns:
            features[name] = HFImage()
        elif isinstance(values[0], list) or values[0] is None:
            features[name] = Sequence(Value("string"))
        elif isinstance(values[0], dict):
            features[name] = {k: Value("string") for k in values[0]}
        elif isinstance(values[0], float):
            features[name] = Value("float64")
        elif isinstance(values[0], int):
            features[name] = Value("int64")
        else:
            features[name] = Value("string")
    path.parent.mkdir(parents=True, exist_ok=True)
    Dataset.from_dict(columns, features=Features(features)).to_parquet(str(path))


def test_mathvista_loader(tmp_path: Path) -> None:
    image = Image.new("RGB", (40, 30), "blue")
    _parquet(
        tmp_path / "data" / "testmini-00000-of-00001.parquet",
        {
            "pid": ["1", "2"],
            "question": ["Which is bigger?", "What is the length?"],
            "image": ["images/1.jpg", "images/2.jpg"],
            "decoded_image": [image, image],
            "choices": [["cat", "dog"], []],
            "unit": ["", "cm"],
            "precision": [0.0, 1.0],
            "answer": ["dog", "2.5"],
            "question_type": ["multi_choice", "free_form"],
            "answer_type": ["text", "float"],
            "metadata": [
                {"task": "figure QA", "category": "math"},
                {"task": "geometry", "category": "math"},
            ],
            "query": ["q1", "q2"],
        },
        ("decoded_image",),
    )
    first, second = load("mathvista", tmp_path, tmp_path / "img").items
    assert (first.answer, first.kind, first.choices) == ("B", "choice", ["A) cat", "B) dog"])
    assert (second.answer, second.kind, second.precision) == ("2.5", "number", "stated")
    assert "(unit: cm)" in second.question and first.category == "figure QA"


def test_mathvision_loader(tmp_path: Path) -> None:
    image = Image.new("RGB", (40, 30), "green")
    _parquet(
        tmp_path / "data" / "testmini-00000-of-00001.parquet",
        {
            "id": ["7", "8"],
            "question": ["<image1>How many?", "Find x."],
            "options": [["1", "2", "3", "4", "5"], []],
            "image": ["images/7.jpg", "images/8.jpg"],
            "decoded_image": [image, image],
            "answer": ["C", "\\frac{1}{2}"],
            "solution": ["", ""],
            "level": [1, 2],
            "subject": ["counting", "algebra"],
        },
        ("decoded_image",),
    )
    first, second = load("mathvision", tmp_path, tmp_path / "img").items
    assert first.question == "How many?" and first.kind == "choice" and len(first.choices) == 5
    assert (
        second.kind == "free" and second.answer == "\\frac{1}{2}" and second.category == "algebra"
    )


def test_countbench_loader(tmp_path: Path) -> None:
    image = Image.new("RGB", (40, 30), "white")
    _parquet(
        tmp_path / "data" / "test-00000-of-00001.parquet",
        {
            "image": [image],
            "text": ["three cats on a sofa"],
            "question": ["How many cats are there in the image?"],
            "number": [3],
        },
        ("image",),
    )
    (item,) = load("countbench", tmp_path, tmp_path / "img").items
    assert (item.answer, item.kind) == ("3", "count") and Path(item.images[0]).exists()


@pytest.mark.parametrize("suffix", ["tsv", "parquet"])
def test_hrbench_loader(tmp_path: Path, suffix: str) -> None:
    encoded = base64.b64encode(png_bytes((80, 60))).decode()
    columns = {
        "index": [11],
        "question": ["What is written on the sign?"],
        "answer": ["B"],
        "category": ["single"],
        "A": ["STOP"],
        "B": ["EXIT"],
        "C": ["OPEN"],
        "D": ["PUSH"],
        "image": [encoded],
    }
    if suffix == "tsv":
        header = "\t".join(columns)
        line = "\t".join(str(v[0]) for v in columns.values())
        (tmp_path / "hr_bench_4k.tsv").write_text(header + "\n" + line + "\n")
    else:
        _parquet(tmp_path / "hr_bench_4k.parquet", columns, ())
    (item,) = load("hrbench", tmp_path, tmp_path / "img").items
    assert item.choices == ["A) STOP", "B) EXIT", "C) OPEN", "D) PUSH"] and item.answer == "B"
    with Image.open(item.images[0]) as written:
        assert written.size == (80, 60)


def test_geometry3k_and_clevr_loaders_on_drawn_fixtures(tmp_path: Path) -> None:
    problem = tmp_path / "g3k" / "5"
    problem.mkdir(parents=True)
    Image.new("RGB", (50, 50), "white").save(problem / "img_diagram.png")
    (problem / "data.json").write_text(
        json.dumps({"problem_text": "Find x.", "choices": ["3", "4", "5", "6"], "answer": "B"})
    )
    (item,) = load("geometry3k", tmp_path / "g3k", tmp_path / "img").items
    assert (item.id, item.answer, item.choices[1]) == ("5", "B", "B) 4")
    clevr = tmp_path / "clevr"
    (clevr / "scenes").mkdir(parents=True)
    (clevr / "images" / "val").mkdir(parents=True)
    Image.new("RGB", (48, 32)).save(clevr / "images" / "val" / "CLEVR_val_000000.png")
    scenes = {"scenes": [{"image_filename": "CLEVR_val_000000.png", "objects": [{}, {}, {}]}]}
    (clevr / "scenes" / "CLEVR_val_scenes.json").write_text(json.dumps(scenes))
    (item,) = load("clevr", clevr, tmp_path / "img").items
    assert (item.answer, item.kind) == ("3", "count")


def test_the_shared_geometry3k_and_clevr_load() -> None:
    assert len(load("geometry3k", require("geometry3k"), Path("/tmp")).items) == 8
    assert len(load("clevr", require("clevr"), Path("/tmp")).items) == 5


def test_a_named_benchmark_without_data_dir_and_no_network_says_what_to_do(tmp_path: Path) -> None:
    result = runner.invoke(app, ["eval", "geometry3k", "--out", str(tmp_path / "r")])
    assert result.exit_code == 2 and "--data-dir" in result.output
