"""The command line, through typer's test runner: `tool` and `solve`, errors without tracebacks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from qvq_agent.cli import app
from qvq_agent.testing import ReplayServer

runner = CliRunner()
CROP_ARGS = '{"image": "img0", "bbox": [0, 0, 500, 1000]}'


def tool(*args: str) -> tuple[int, dict[str, object]]:
    result = runner.invoke(app, ["tool", *args, "--json"])
    assert "Traceback" not in result.output
    return result.exit_code, json.loads(result.stdout)


def test_tool_crop_writes_the_left_half(scene_path: Path, tmp_path: Path) -> None:
    code, payload = tool(
        "crop", CROP_ARGS, "--image", str(scene_path), "--out", str(tmp_path / "crops")
    )
    assert code == 0 and payload["ok"] is True
    (written,) = payload["images"]  # type: ignore[misc]
    crop = Image.open(written)
    assert crop.size == (600, 800)
    left = Image.open(scene_path).convert("RGB").crop((0, 0, 600, 800))
    assert np.array_equal(np.asarray(crop.convert("RGB")), np.asarray(left))


def test_tool_zoom_writes_1200x800(scene_path: Path, tmp_path: Path) -> None:
    code, payload = tool(
        "zoom",
        '{"image": "img0", "bbox": [500, 500, 1000, 1000], "factor": 2}',
        "--image",
        str(scene_path),
        "--out",
        str(tmp_path),
    )
    assert code == 0
    assert Image.open(payload["images"][0]).size == (1200, 800)  # type: ignore[index]


@pytest.mark.parametrize(
    "bbox", ["[600, 600, 100, 100]", "[0, 0, 0, 0]", "[2000, 2000, 3000, 3000]", "[1, 2, 3]"]
)
def test_tool_bad_boxes(scene_path: Path, tmp_path: Path, bbox: str) -> None:
    code, payload = tool(
        "crop",
        f'{{"image": "img0", "bbox": {bbox}}}',
        "--image",
        str(scene_path),
        "--out",
        str(tmp_path),
    )
    assert code == 1 and payload["ok"] is False and "bbox" in str(payload["text"])
    assert payload["images"] == []


def test_tool_unknown_image_id(scene_path: Path, tmp_path: Path) -> None:
    code, payload = tool(
        "crop", '{"image": "img3", "bbox": [0, 0, 10, 10]}', "--image", str(scene_path)
    )
    assert code == 1 and payload["ok"] is False and "img3" in str(payload["text"])


def test_tool_calculate(tmp_path: Path) -> None:
    code, payload = tool("calculate", '{"expression": "sqrt(2*9.8*5)"}')
    assert code == 0 and "9.899" in str(payload["text"])


def test_corrupt_image_exits_naming_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "corrupt.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\nthis is not a png")
    for args in (
        ["tool", "crop", CROP_ARGS, "--image", str(bad), "--json"],
        ["solve", str(bad), "q"],
    ):
        result = runner.invoke(app, args)
        assert result.exit_code != 0
        assert "corrupt.png" in result.output and "Traceback" not in result.output
        assert len(result.output.strip().splitlines()) == 1


def test_missing_image_and_bad_json(tmp_path: Path, scene_path: Path) -> None:
    result = runner.invoke(app, ["solve", str(tmp_path / "nope.png"), "q"])
    assert result.exit_code == 2 and "nope.png: no such file" in result.output
    result = runner.invoke(app, ["tool", "crop", "{bad", "--image", str(scene_path)])
    assert result.exit_code == 2 and "ARGS_JSON is not valid JSON" in result.output


def test_solve_json_against_a_server(scene_path: Path) -> None:
    with ReplayServer(["It is 7.\n\n**Final Answer**\n\n7"]) as server:
        result = runner.invoke(
            app,
            [
                "solve",
                str(scene_path),
                "How many?",
                "--base-url",
                server.base_url,
                "--model",
                "Qwen/QVQ-72B-Preview",
                "--json",
            ],
        )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert set(payload) >= {
        "answer",
        "status",
        "steps",
        "revisions",
        "tool_calls",
        "findings",
        "usage",
    }
    assert payload["answer"] == "7" and payload["status"] == "verified"
    assert set(payload["usage"]) == {"prompt_tokens", "completion_tokens", "requests"}


def test_solve_prints_reasoning_live_and_quiet_prints_the_answer(scene_path: Path) -> None:
    with ReplayServer(["Counting the circles carefully.\n\n**Final Answer**\n\n2"] * 2) as server:
        live = runner.invoke(app, ["solve", str(scene_path), "q", "--base-url", server.base_url])
        quiet = runner.invoke(
            app, ["solve", str(scene_path), "q", "--base-url", server.base_url, "--quiet"]
        )
    assert "Counting the circles carefully." in live.stdout and "Answer: 2" in live.stdout
    assert quiet.stdout.strip() == "2"


def test_settings_come_from_the_environment_and_flags_win(
    scene_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with ReplayServer(["**Final Answer**\n\n1"] * 2, model="from-env") as server:
        monkeypatch.setenv("QVQ_AGENT_BASE_URL", server.base_url)
        monkeypatch.setenv("QVQ_AGENT_MODEL", "from-env")
        runner.invoke(app, ["solve", str(scene_path), "q", "--json"])
        runner.invoke(app, ["solve", str(scene_path), "q", "--json", "--model", "from-flag"])
        models = [r.body["model"] for r in server.requests]
    assert models == ["from-env", "from-flag"]


def test_unreachable_server_is_one_line(scene_path: Path) -> None:
    result = runner.invoke(
        app, ["solve", str(scene_path), "q", "--base-url", "http://127.0.0.1:9/v1"]
    )
    assert result.exit_code == 1
    assert "cannot reach the model server at http://127.0.0.1:9/v1" in result.output
    assert "vllm serve" in result.output and "Traceback" not in result.output


def test_server_error_status_is_shown(scene_path: Path) -> None:
    from qvq_agent.testing import Reply

    with ReplayServer([Reply("model 'x' does not exist", status=404)]) as server:
        result = runner.invoke(
            app, ["solve", str(scene_path), "q", "--base-url", server.base_url, "--json"]
        )
    payload = json.loads(result.stdout)
    assert result.exit_code == 1 and payload["status"] == "error"
    assert "404" in payload["error"] and "does not exist" in payload["error"]
