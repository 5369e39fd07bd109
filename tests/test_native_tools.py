"""The native tool protocol against the replay server: tools sent with the request, calls read
from ``delta.tool_calls``, results answered by ``tool`` messages, images in a user turn."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from qvq_agent import Settings, solve
from qvq_agent.cli import app
from qvq_agent.testing import ReplayServer, Reply

CROP_ARGS = json.dumps({"image": "img0", "bbox": [0, 0, 500, 1000]})
FINAL = "4 + 3 = 7.\n\n**Final Answer**\n\n7"


def test_native_calls_run_and_are_answered_by_tool_messages(scene_path: Path) -> None:
    script = [
        Reply("Let me look at the left half.", tool_calls=[("crop", CROP_ARGS)]),
        Reply("", tool_calls=[("calculate", '{"expression": "4 + 3"}')]),
        Reply(FINAL),
    ]
    with ReplayServer(script) as server:
        settings = Settings(base_url=server.base_url, retries=0, tool_protocol="native")
        result = solve(scene_path, "How many circles?", settings=settings)
        bodies = [r.body for r in server.requests]
    assert result.status == "verified" and result.answer == "7"
    assert [c["name"] for c in result.tool_calls] == ["crop", "calculate"]
    assert all(c["ok"] for c in result.tool_calls)
    first = bodies[0]
    assert {t["function"]["name"] for t in first["tools"]} >= {"crop", "calculate"}
    assert "</tool_call>" not in (first.get("stop") or [])  # the server's parser needs the block
    assert "<tool_call>" not in first["messages"][0]["content"]  # no text manifest
    second = bodies[1]["messages"]
    assistant, tool, user = second[-3:]
    assert assistant["role"] == "assistant" and assistant["tool_calls"][0]["id"] == "call_0"
    assert json.loads(assistant["tool_calls"][0]["function"]["arguments"])["bbox"][2] == 500
    assert (
        tool
        == {
            "role": "tool",
            "tool_call_id": "call_0",
            "content": tool["content"],
        }
        and "Cropped img0" in tool["content"]
    )
    assert user["role"] == "user" and [p["type"] for p in user["content"]] == ["text", "image_url"]
    third = bodies[2]["messages"]
    assert third[-1]["role"] == "tool" and "4 + 3 = 7" in third[-1]["content"]


def test_a_native_call_with_bad_arguments_comes_back_as_an_error(scene_path: Path) -> None:
    script = [Reply("", tool_calls=[("crop", '{"image": "img0", "bbox": [1, 2')]), Reply(FINAL)]
    with ReplayServer(script) as server:
        settings = Settings(base_url=server.base_url, retries=0, tool_protocol="native")
        result = solve(scene_path, "How many circles?", settings=settings)
        answered = server.requests[1].body["messages"][-1]
    assert result.answer == "7" and not result.tool_calls[0]["ok"]
    assert answered["role"] == "tool" and "JSON" in answered["content"]


def test_tool_protocol_flag(scene_path: Path) -> None:
    script = [Reply("", tool_calls=[("calculate", '{"expression": "4 + 3"}')]), Reply(FINAL)]
    with ReplayServer(script) as server:
        args = ["solve", str(scene_path), "How many?", "--json", "--base-url", server.base_url]
        out = CliRunner().invoke(app, [*args, "--tool-protocol", "native"])
        sent_tools = "tools" in server.requests[0].body
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["answer"] == "7" and sent_tools
