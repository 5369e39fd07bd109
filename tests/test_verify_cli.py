"""`qvq-agent verify` on a text file and on JSONL; bad lines are reported and skipped."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from qvq_agent.cli import app

runner = CliRunner()
LOOP = "The diameter of the circle is the distance between P and Q. " * 30


def test_verify_a_text_file(tmp_path: Path) -> None:
    trace = tmp_path / "trace.txt"
    trace.write_text("12 × 7 = 74, so the area is 74.\n\n**Final Answer**\n\n74")
    result = runner.invoke(app, ["verify", str(trace), "--json"])
    assert result.exit_code == 0
    (line,) = result.stdout.strip().splitlines()
    payload = json.loads(line)
    assert payload["id"] == "trace" and payload["verdict"] == "revise" and payload["answer"] == "74"
    (finding,) = payload["findings"]
    assert finding["check"] == "arithmetic" and "84" in finding["message"]
    assert trace.read_text()[finding["start"] : finding["end"]] == "12 × 7 = 74"


def test_verify_jsonl_with_a_bad_line(tmp_path: Path) -> None:
    rows = [
        {"id": "clean", "question": "How many?", "trace": "4 + 2 = 6.\n\n**Final Answer**\n\n6"},
        {"id": "loop", "question": "Find PQ.", "trace": LOOP},
        {
            "id": "mixed",
            "question": "What is angle 2?",
            "trace": "Angle 2 is 55, 所以答案是55.\n\n**Final Answer**\n\n55",
        },
    ]
    path = tmp_path / "traces.jsonl"
    path.write_text(
        "\n".join([json.dumps(rows[0]), "{broken", json.dumps(rows[1]), json.dumps(rows[2])]) + "\n"
    )
    result = runner.invoke(app, ["verify", str(path), "--json"])
    assert result.exit_code == 1  # one bad line
    assert "traces.jsonl:2: not valid JSON" in result.output
    lines = [json.loads(x) for x in result.stdout.strip().splitlines()]
    assert [x["id"] for x in lines] == ["clean", "loop", "mixed"]
    assert [x["verdict"] for x in lines] == ["pass", "revise", "revise"]
    assert {f["check"] for f in lines[1]["findings"]} >= {"loop", "no_final_answer"}
    assert {f["check"] for f in lines[2]["findings"]} == {"language_mixing"}


def test_verify_report_highlights_spans(tmp_path: Path) -> None:
    trace = tmp_path / "t.txt"
    trace.write_text("So 12 × 7 = 74.\n\n**Final Answer**\n\n74")
    result = runner.invoke(app, ["verify", str(trace)])
    assert result.exit_code == 0
    assert (
        "revise" in result.stdout
        and "arithmetic" in result.stdout
        and "12 × 7 = 74" in result.stdout
    )


def test_verify_errors_are_one_line(tmp_path: Path) -> None:
    result = runner.invoke(app, ["verify", str(tmp_path / "missing.jsonl")])
    assert result.exit_code == 2 and "missing.jsonl: no such file" in result.output
    trace = tmp_path / "t.txt"
    trace.write_text("x")
    result = runner.invoke(app, ["verify", str(trace), "--check", "telepathy"])
    assert result.exit_code == 2 and "unknown check 'telepathy'" in result.output
