"""Run records and trace pages, checked in a real headless Chromium (the Debian ``chromium``
package; ``.ci/run`` installs it): every step, image, box and finding is in the DOM the browser
built, and the browser logs no console message."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from qvq_agent import Settings, count, solve
from qvq_agent.cli import app
from qvq_agent.demo import count_picture
from qvq_agent.records import read_record
from qvq_agent.testing import ReplayServer
from qvq_agent.testing.oracle import oracle


def _call(name: str, **arguments: object) -> str:
    return "<tool_call>\n" + json.dumps({"name": name, "arguments": arguments}) + "\n</tool_call>"


SCRIPT = [
    "Left half first.\n" + _call("crop", image="img0", bbox=[0, 0, 500, 1000]),
    "Now the top of that crop.\n" + _call("crop", image="img1", bbox=[0, 0, 1000, 500]),
    "And the right side.\n" + _call("crop", image="img0", bbox=[900, 0, 100, 1000]),
    "I count 7. " + "Let me count the circles again to be sure they are all there. " * 30,
    "4 on the left and 3 on the right: 4 + 3 = 7.\n\n**Final Answer**\n\n7",
]


class Dom(HTMLParser):
    """Elements of a DOM dump: (tag, attributes), in order."""

    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, {k: v or "" for k, v in attrs}))

    def find(self, tag: str, **wanted: str) -> list[dict[str, str]]:
        out = []
        for name, attrs in self.elements:
            classes = attrs.get("class", "").split()
            ok = name == tag and all(
                (v in classes) if k == "class_" else attrs.get(k.replace("_", "-")) == v
                for k, v in wanted.items()
            )
            if ok:
                out.append(attrs)
        return out


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is missing: .ci/run installs it with apt-get")
        pytest.skip("needs a headless Chromium (apt-get install chromium)")
    return found


def browse(page: Path) -> tuple[Dom, str]:
    """The DOM Chromium built for ``page`` and what it logged."""
    done = subprocess.run(
        [
            chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--enable-logging=stderr",
            "--v=0",
            "--dump-dom",
            page.resolve().as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    dom = Dom()
    dom.feed(done.stdout)
    return dom, done.stderr


def test_solve_page_in_a_real_browser(scene_path: Path, tmp_path: Path) -> None:
    with ReplayServer(list(SCRIPT)) as server:
        result = solve(
            scene_path,
            "How many circles?",
            settings=Settings(base_url=server.base_url, retries=0),
            record=tmp_path / "run" / "run.json",
            trace=tmp_path / "run.html",
        )
    assert result.answer == "7" and result.revisions == 1
    record = read_record(tmp_path / "run" / "run.json")
    assert "base64" not in (tmp_path / "run" / "run.json").read_text()
    assert all((tmp_path / "run" / i["file"]).exists() for i in record["images"].values())
    assert record["images"]["img2"]["parent"] == "img1"  # a crop of a crop...
    assert record["images"]["img2"]["box"] == [0.0, 0.0, 600.0, 400.0]  # ...mapped to img0

    dom, log = browse(tmp_path / "run.html")
    assert "CONSOLE" not in log
    steps = dom.find("article", class_="step")
    assert [s["data-step"] for s in steps] == ["1", "2", "3", "4", "5"]
    assert {b["data-image"] for b in dom.find("g", class_="box")} == {"img1", "img2"}
    assert {li.get("data-image") for li in dom.find("li")} - {None} == {"img0", "img1", "img2"}
    shown = dom.find("img", class_="tool-image")
    assert [i["data-image"] for i in shown] == ["img1", "img2"]
    assert all(i["src"].startswith("data:image/png;base64,") and len(i["src"]) > 200 for i in shown)
    refused = dom.find("div", class_="tool", data_ok="false")
    assert len(refused) == 1 and refused[0]["data-tool"] == "crop"
    assert dom.find("div", class_="cut", data_reason="loop")
    assert dom.find("mark", class_="finding", data_check="loop")
    assert dom.find("li", data_check="loop")
    assert dom.find("div", class_="verdict", data_verdict="revise")
    assert dom.find("div", class_="verdict", data_verdict="pass")


def test_count_page_in_a_real_browser(tmp_path: Path) -> None:
    image = tmp_path / "discs.png"
    count_picture().save(image)
    with ReplayServer([oracle()], repeat_last=True) as server:
        result = count(
            image,
            "How many blue discs?",
            settings=Settings(base_url=server.base_url, retries=0),
            tiles=(1, 2),
            trace=tmp_path / "count.html",
        )
    assert result.answer == 21
    dom, log = browse(tmp_path / "count.html")
    assert "CONSOLE" not in log
    assert [t["data-tile"] for t in dom.find("g", class_="tile")] == ["0", "1"]
    points = dom.find("circle", class_="point")
    assert {p["data-tile"] for p in points} == {"0", "1"} and len(points) > 21  # overlap seen twice
    assert len(dom.find("circle", class_="merged")) == 21
    checks = dom.find("article", class_="tile-check")
    assert [c["data-confirmed"] for c in checks] == ["true", "true"]
    assert len(dom.find("img", class_="mark-image")) == 2


def test_show_in_the_terminal_and_as_html(scene_path: Path, tmp_path: Path) -> None:
    with ReplayServer(list(SCRIPT)) as server:
        solve(
            scene_path,
            "How many circles?",
            settings=Settings(base_url=server.base_url, retries=0),
            record=tmp_path / "run.json",
        )
    runner = CliRunner()
    shown = runner.invoke(app, ["show", str(tmp_path / "run.json")])
    assert shown.exit_code == 0
    for piece in ("How many circles?", "img2 crop", "stream cut (loop)", "refused", "step 5"):
        assert piece in shown.stdout, piece
    page = tmp_path / "again.html"
    assert (
        runner.invoke(app, ["show", str(tmp_path / "run.json"), "--html", str(page)]).exit_code == 0
    )
    assert 'data-image="img2"' in page.read_text()
    bad = runner.invoke(app, ["show", str(scene_path)])
    assert bad.exit_code == 2 and "not a readable run record" in bad.output


def test_demo_runs_without_a_model(tmp_path: Path) -> None:
    out = CliRunner().invoke(app, ["demo", "--out", str(tmp_path)])
    assert out.exit_code == 0, out.output
    assert "REPLAY" in out.stdout and "answer 7" in out.stdout and "answer 21" in out.stdout
    record: dict[str, Any] = read_record(tmp_path / "solve" / "run.json")
    assert record["replay"] is True and "replay" in record["model"]
    tools = [t["name"] for s in record["steps"] for t in s["tools"]]
    assert tools == ["crop", "zoom", "crop", "crop", "calculate"]
    assert any(s["cancelled"] for s in record["steps"])  # the loop guard cut a stream
    page = (tmp_path / "solve.html").read_text()
    assert "replay: scripted answers, no real model" in page


def test_show_prints_a_record_s_text_as_text(scene_path: Path, tmp_path: Path) -> None:
    with ReplayServer(["**Final Answer**\n\n[red]7[/red]"]) as server:
        solve(
            scene_path,
            "Is [bold]this[/bold] read as markup?",
            settings=Settings(base_url=server.base_url, retries=0),
            record=tmp_path / "run.json",
        )
    data = read_record(tmp_path / "run.json")
    data["model"] = "[blink]model[/blink]"
    (tmp_path / "run.json").write_text(json.dumps(data))
    shown = CliRunner().invoke(app, ["show", str(tmp_path / "run.json")])
    assert shown.exit_code == 0, shown.output
    for literal in ("[bold]this[/bold]", "[blink]model[/blink]", "[red]7[/red]"):
        assert literal in shown.stdout, literal
