"""qvq-agent inside other agents: as a LangChain tool a planner calls, and as a subgraph."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path
from typing import Any

from langchain_core.messages import AIMessage, HumanMessage, ToolMessage

from examples.planner_with_vision import build_planner
from examples.solve_as_subgraph import build_parent
from qvq_agent import Context, RunSettings, as_tool
from qvq_agent.testing import ReplayServer, ScriptedChatModel
from tests.support.planner import ScriptedPlanner

CROP = '<tool_call>\n{"name": "crop", "arguments": {"image": "img0", "bbox": [0, 0, 500, 1000]}}\n</tool_call>'
ANSWER = "4 red circles on the left and 3 on the right: 4 + 3 = 7 in all.\n\n**Final Answer**\n\n7"


def vision(server: ReplayServer) -> RunSettings:
    return RunSettings(base_url=server.base_url, retries=0)


def test_as_tool_returns_the_answer_status_and_evidence(scene_path: Path, tmp_path: Path) -> None:
    tool = as_tool(RunSettings(), out_dir=tmp_path)
    assert tool.name == "look_at_image"
    assert set(tool.args) == {"image", "question", "choices"}
    with ReplayServer([CROP, ANSWER]) as server:
        tool = as_tool(vision(server), out_dir=tmp_path)
        message = tool.invoke(
            {
                "type": "tool_call",
                "id": "call-1",
                "name": "look_at_image",
                "args": {"image": str(scene_path), "question": "How many red circles?"},
            }
        )
    assert isinstance(message, ToolMessage)
    payload = json.loads(str(message.content))
    assert payload["answer"] == "7" and payload["status"] == "verified"
    (crop,) = payload["evidence"]
    # bbox [0, 0, 500, 1000] of a 1200x800 scene: the left half, in original pixels.
    assert crop["tool"] == "crop" and crop["box"] == [0.0, 0.0, 600.0, 800.0]
    assert Path(crop["file"]).exists() and Path(crop["file"]).parent == tmp_path
    assert message.artifact["findings"] == []


def test_as_tool_takes_base64_and_reports_a_bad_image_as_an_error(
    scene_path: Path, tmp_path: Path
) -> None:
    encoded = base64.b64encode(scene_path.read_bytes()).decode()
    with ReplayServer([ANSWER]) as server:
        tool = as_tool(vision(server), out_dir=tmp_path)
        good = json.loads(asyncio.run(tool.ainvoke({"image": encoded, "question": "How many?"})))
        bad = json.loads(tool.invoke({"image": str(tmp_path / "missing.png"), "question": "?"}))
    assert good["answer"] == "7" and good["status"] == "verified"
    assert bad["status"] == "error" and "missing.png: no such file" in bad["error"]


def test_a_text_only_planner_calls_it(scene_path: Path, tmp_path: Path) -> None:
    def final(messages: Any) -> AIMessage:
        seen = json.loads(str(messages[-1].content))
        return AIMessage(content=f"There are {seen['answer']} red circles ({seen['status']}).")

    planner = ScriptedPlanner(
        script=[
            AIMessage(
                content="",
                tool_calls=[
                    {
                        "name": "look_at_image",
                        "args": {"image": str(scene_path), "question": "How many red circles?"},
                        "id": "call-1",
                    }
                ],
            ),
            final,
        ]
    )
    with ReplayServer([CROP, ANSWER]) as server:
        agent = build_planner(planner, vision(server))
        state = agent.invoke({"messages": [HumanMessage(content="How many red circles?")]})
        asked = [str(r.body["messages"][-1]["content"]) for r in server.requests]
    assert state["messages"][-1].content == "There are 7 red circles (verified)."
    assert "How many red circles?" in asked[0]
    tool_message = next(m for m in state["messages"] if isinstance(m, ToolMessage))
    assert json.loads(str(tool_message.content))["evidence"][0]["tool"] == "crop"


def test_the_solve_graph_as_a_subgraph_shares_the_store_and_streams_tokens(
    scene_path: Path,
) -> None:
    model = ScriptedChatModel(script=[CROP, ANSWER])
    context = Context(chat_model=model)
    graph = build_parent()
    tokens: list[tuple[tuple[str, ...], str]] = []
    final: dict[str, Any] = {}
    inputs = {"path": str(scene_path), "question": "How many red circles?"}

    async def run() -> None:
        nonlocal final
        async for namespace, mode, chunk in graph.astream(
            inputs, context=context, stream_mode=["custom", "values"], subgraphs=True
        ):
            if mode == "custom" and chunk.get("event") == "token":
                tokens.append((namespace, chunk["text"]))
            elif mode == "values" and not namespace:
                final = chunk

    asyncio.run(run())
    assert final["report"] == "7 (verified)"
    assert tokens and all(ns and ns[0].startswith("look") for ns, _ in tokens)
    assert "".join(t for _, t in tokens).endswith("**Final Answer**\n\n7")
    # One store: the parent's image and the subgraph's crop are both in it.
    assert context.store.ids == ["img0", "img1"]
    assert context.store.get("img1").operation == "crop"
