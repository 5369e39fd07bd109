"""Runs that survive a crash: ``--db runs.sqlite --thread ID`` keeps every step (LangGraph's
SQLite checkpointer) and the images beside it; the same command after ``kill -9`` continues
from the last finished step."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from typer.testing import CliRunner

from qvq_agent.cli import app
from qvq_agent.records import read_record
from qvq_agent.testing import ReplayServer, Reply

CROP = '<tool_call>\n{"name": "crop", "arguments": {"image": "img0", "bbox": [0, 0, 500, 1000]}}\n</tool_call>'
ZOOM = '<tool_call>\n{"name": "zoom", "arguments": {"image": "img1", "bbox": [0, 0, 1000, 500]}}\n</tool_call>'
FINAL = "4 on the left and 3 on the right: 4 + 3 = 7.\n\n**Final Answer**\n\n7"
ROOT = Path(__file__).resolve().parents[1]


def command(server: ReplayServer, image: Path, tmp: Path) -> list[str]:
    return [
        sys.executable,
        "-c",
        "from qvq_agent.cli import main; main()",
        "solve",
        str(image),
        "How many circles?",
        "--base-url",
        server.base_url,
        "--db",
        str(tmp / "runs.sqlite"),
        "--thread",
        "t1",
        "--record",
        str(tmp / "record" / "run.json"),
        "--trace",
        str(tmp / "run.html"),
        "--json",
    ]


def test_kill_9_then_the_same_command_finishes_the_run(scene_path: Path, tmp_path: Path) -> None:
    # The third reply waits: the process is killed while it waits, after two finished steps.
    script = [CROP, ZOOM, Reply(FINAL, wait_s=5.0), FINAL]
    env = {**os.environ, "QVQ_AGENT_RETRIES": "0"}
    with ReplayServer(script) as server:
        first = subprocess.Popen(
            command(server, scene_path, tmp_path), cwd=ROOT, env=env, stdout=subprocess.PIPE
        )
        deadline = time.monotonic() + 60
        while len(server.requests) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(server.requests) == 3, "the run never got to its third request"
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
        again = subprocess.run(
            command(server, scene_path, tmp_path),
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        server.wait_finished()
        requests = list(server.requests)
        # Asking again returns the finished run without a request.
        third = subprocess.run(
            command(server, scene_path, tmp_path), cwd=ROOT, env=env, capture_output=True, text=True
        )
        assert json.loads(third.stdout)["answer"] == "7" and len(server.requests) == 4
    assert again.returncode == 0, again.stderr[-2000:]
    result = json.loads(again.stdout)
    assert result["answer"] == "7" and result["status"] == "verified"
    assert [c["name"] for c in result["tool_calls"]] == ["crop", "zoom"]
    # Steps 1 and 2 were not asked again; the third was cut by the kill and asked once more.
    bodies = [json.dumps(r.body, sort_keys=True) for r in requests]
    assert len(bodies) == 4 and len(set(bodies[:3])) == 3 and bodies[3] == bodies[2]
    finished = [b for b, r in zip(bodies, requests, strict=True) if r.finished]
    assert len(finished) == len(set(finished)) == 3
    # The record and the page cover the whole run, the steps before the kill included.
    record = read_record(tmp_path / "record" / "run.json")
    assert [s["step"] for s in record["steps"]] == [1, 2, 3]
    assert [t["name"] for s in record["steps"] for t in s["tools"]] == ["crop", "zoom"]
    assert set(record["images"]) == {"img0", "img1", "img2"}
    page = (tmp_path / "run.html").read_text()
    assert 'data-image="img2"' in page and 'data-step="3"' in page
    # The images are on disk beside the database, by content hash; the checkpoints hold ids.
    assert len(list((tmp_path / "runs.sqlite.images").glob("*.png"))) == 3


def test_runs_list_and_show(scene_path: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    db = tmp_path / "runs.sqlite"
    with ReplayServer([CROP, FINAL]) as server:
        args = ["solve", str(scene_path), "How many circles?", "--base-url", server.base_url]
        done = runner.invoke(app, [*args, "--db", str(db), "--thread", "first", "--json"])
    assert done.exit_code == 0, done.output
    listed = runner.invoke(app, ["runs", "list", "--db", str(db)])
    assert listed.exit_code == 0 and "first" in listed.stdout and "verified" in listed.stdout
    shown = runner.invoke(app, ["runs", "show", "first", "--db", str(db)])
    assert shown.exit_code == 0 and "img1 crop" in shown.stdout
    page = tmp_path / "first.html"
    assert (
        runner.invoke(
            app, ["runs", "show", "first", "--db", str(db), "--html", str(page)]
        ).exit_code
        == 0
    )
    assert 'data-image="img1"' in page.read_text()
    missing = runner.invoke(app, ["runs", "show", "nope", "--db", str(db)])
    assert missing.exit_code == 2 and "no thread 'nope'" in missing.output
    absent = runner.invoke(app, ["runs", "list", "--db", str(tmp_path / "none.sqlite")])
    assert absent.exit_code == 2 and "no such file" in absent.output
    assert runner.invoke(app, ["solve", str(scene_path), "q", "--thread", "x"]).exit_code == 2
