"""`qvq-agent doctor` against a broken server (the real vLLM server is in test_vllm.py)."""

from __future__ import annotations

from typing import Any

from typer.testing import CliRunner

from qvq_agent.cli import app
from qvq_agent.testing import ReplayServer, Reply

runner = CliRunner()


def refuse_images(body: dict[str, Any]) -> str | Reply:
    for message in body["messages"]:
        if isinstance(message["content"], list) and any(
            p["type"] == "image_url" for p in message["content"]
        ):
            return Reply("this model does not support image input", status=400)
    return "alpha </tool_call> beta"


def rows(output: str) -> dict[str, str]:
    return {
        line.split("│")[1].strip(): line for line in output.splitlines() if line.count("│") >= 3
    }


def test_doctor_finds_what_is_broken() -> None:
    with ReplayServer(
        [refuse_images], model="other-model", repeat_last=True, honour_stop=False
    ) as server:
        result = runner.invoke(
            app, ["doctor", "--base-url", server.base_url, "--model", "Qwen/QVQ-72B-Preview"]
        )
    table = rows(result.stdout)
    assert result.exit_code == 1
    assert "pass" in table["reachable"] and "pass" in table["streams"]
    for name in ("model listed", "accepts an image", "honours stop strings", "image limit"):
        assert "fail" in table[name], name
    assert "skip" in table["context length"] and "skip" in table["prefix caching"]
    assert "fix model listed: use --model other-model" in result.stdout
    assert "fix accepts an image: serve a vision-language model" in result.stdout


def test_doctor_on_an_unreachable_server() -> None:
    result = runner.invoke(app, ["doctor", "--base-url", "http://127.0.0.1:9/v1"])
    assert result.exit_code == 1
    assert "fail" in rows(result.stdout)["reachable"]
    assert "vllm serve Qwen/QVQ-72B-Preview" in result.stdout
