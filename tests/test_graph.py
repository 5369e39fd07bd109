"""Graph paths with a scripted chat model: tools, revisions, budgets, bad calls, state hygiene."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langgraph.checkpoint.memory import InMemorySaver

from qvq_agent import solver
from qvq_agent.agent.context import Context
from qvq_agent.graphs.solve import build_graph
from qvq_agent.settings import RunSettings
from qvq_agent.solver import SolveResult, asolve
from qvq_agent.testing import ScriptedChatModel

CROP = '<tool_call>\n{"name": "crop", "arguments": {"image": "img0", "bbox": [0, 0, 500, 1000]}}\n</tool_call>'
CALC = '<tool_call>\n{"name": "calculate", "arguments": {"expression": "4 + 3"}}\n</tool_call>'
LOOP = "I will count the circles again to be sure. " * 40
SNAPSHOT = Path(__file__).parent / "snapshots" / "solve_graph.mmd"


def run(scene: Path, script: Sequence[Any], **ctx: Any) -> tuple[SolveResult, ScriptedChatModel]:
    """Run the solve graph with a scripted model; ``profile`` goes to the context, the rest
    (budgets) to its settings."""
    model = ScriptedChatModel(script=list(script))
    profile = ctx.pop("profile", None)
    context = Context(chat_model=model, settings=RunSettings(**ctx), profile=profile)
    result = asyncio.run(asolve(scene, "How many circles?", context=context))
    return result, model


def text_of(message: BaseMessage) -> str:
    if isinstance(message.content, str):
        return message.content
    return "\n".join(
        p["text"] for p in message.content if isinstance(p, dict) and p.get("type") == "text"
    )


def test_graph_structure_snapshot() -> None:
    drawn = build_graph().get_graph().draw_mermaid()
    if not SNAPSHOT.exists():
        SNAPSHOT.write_text(drawn)
        pytest.fail(f"snapshot written to {SNAPSHOT}; review and commit it")
    assert drawn == SNAPSHOT.read_text()


def test_tool_then_answer(scene_path: Path) -> None:
    result, model = run(
        scene_path, [f"Look left.\n{CROP}", f"Add.\n{CALC}", "So 7.\n\n**Final Answer**\n\n7"]
    )
    assert result.status == "verified" and result.answer == "7"
    assert [c["name"] for c in result.tool_calls] == ["crop", "calculate"]
    assert result.steps == 3 and result.usage["requests"] == 3
    # Stop string honoured: the assistant turn ends with the restored close tag, nothing after.
    second = model.requests[1]["messages"]
    assert "</tool_call>" in model.requests[0]["stop"]
    assert text_of(second[-2]).endswith("</tool_call>")
    assert "<tool_response>" in text_of(second[-1])
    third = model.requests[2]["messages"]
    assert "= 7" in text_of(third[-1])


def test_a_loop_is_cut_and_revised_once(scene_path: Path) -> None:
    result, model = run(scene_path, [LOOP, "There are 2.\n\n**Final Answer**\n\n2"])
    assert result.answer == "2" and result.status == "verified"
    assert result.revisions == 1 and len(model.requests) == 2
    revision = model.requests[1]["messages"]
    assert isinstance(revision[-2], AIMessage) and isinstance(revision[-1], HumanMessage)
    assert len(text_of(revision[-2])) < len(LOOP)  # the guard cut the stream
    assert "repeating" in text_of(revision[-1])


def test_no_final_answer_gets_a_critique(scene_path: Path) -> None:
    result, model = run(scene_path, ["I think there are two circles.", "**Final Answer**\n\n2"])
    assert result.answer == "2" and result.revisions == 1
    assert "final answer" in text_of(model.requests[1]["messages"][-1]).lower()


def test_bad_calls_come_back_as_text_and_the_run_goes_on(scene_path: Path) -> None:
    script = [
        "<tool_call>\n{not json}\n</tool_call>",
        '<tool_call>\n{"name": "teleport", "arguments": {}}\n</tool_call>',
        '<tool_call>\n{"name": "crop", "arguments": {"image": "img0", "bbox": [1, 2, 3]}}\n</tool_call>',
        "**Final Answer**\n\n2",
    ]
    result, model = run(scene_path, script)
    assert result.answer == "2"
    replies = [text_of(model.requests[i]["messages"][-1]) for i in (1, 2, 3)]
    assert "could not be read" in replies[0]
    assert "no tool named `teleport`" in replies[1]
    assert "bbox" in replies[2]
    assert [c["ok"] for c in result.tool_calls] == [False, False, False]


def test_identical_repeated_call_is_answered_from_before(scene_path: Path) -> None:
    result, model = run(scene_path, [CROP, CROP, "**Final Answer**\n\n1"])
    assert "You already have this result (img1)" in text_of(model.requests[2]["messages"][-1])
    assert result.answer == "1"


def test_step_budget_ends_the_run(scene_path: Path) -> None:
    tools_forever = [CALC.replace("4 + 3", f"{i} + 1") for i in range(10)]
    result, model = run(scene_path, tools_forever, max_steps=3, max_revisions=0)
    assert len(model.requests) == 3 and result.steps == 3
    assert result.status == "unverified" and result.answer is None
    assert "no tool calls left" in text_of(model.requests[2]["messages"][-1])


def test_give_up_keeps_the_best_answer(scene_path: Path) -> None:
    script = ["**Final Answer**\n\n3" + "\n\nBut wait. " + LOOP, LOOP]
    result, _ = run(scene_path, script, max_revisions=1)
    assert result.status == "unverified"
    assert result.answer == "3"
    assert {f["check"] for f in result.findings} >= {"loop"}


def test_every_invoke_passes_an_explicit_recursion_limit(
    scene_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[dict[str, Any]] = []
    real = solver.build_graph

    def spy(checkpointer: Any = None) -> Any:
        graph = real(checkpointer)
        original = graph.astream

        def astream(inputs: Any, config: dict[str, Any], **kw: Any) -> Any:
            seen.append(config)
            return original(inputs, config, **kw)

        object.__setattr__(graph, "astream", astream)
        return graph

    monkeypatch.setattr(solver, "build_graph", spy)
    run(scene_path, ["**Final Answer**\n\n1"], max_steps=5, max_revisions=1)
    assert seen and seen[0]["recursion_limit"] == 3 * 5 + 1 + 8


def test_state_holds_no_pixels(scene_path: Path) -> None:
    saver = InMemorySaver()
    model = ScriptedChatModel(script=[CROP, "**Final Answer**\n\n1"])
    asyncio.run(
        asolve(
            scene_path, "q", context=Context(chat_model=model), checkpointer=saver, thread_id="t1"
        )
    )
    state = build_graph(saver).get_state({"configurable": {"thread_id": "t1"}}).values
    dumped = json.dumps([m.model_dump() for m in state["messages"]], default=str)
    assert "base64" not in dumped and "image_ref" in dumped
    # ...while the request did carry both images as data URLs.
    urls = [
        p
        for m in model.requests[1]["messages"]
        if isinstance(m.content, list)
        for p in m.content
        if isinstance(p, dict) and p.get("type") == "image_url"
    ]
    assert len(urls) == 2 and all(
        p["image_url"]["url"].startswith("data:image/png;base64,") for p in urls
    )


def test_images_over_the_server_limit_are_not_sent_again(scene_path: Path) -> None:
    crops = [CROP.replace("500, 1000", f"{500 + i}, 1000") for i in range(4)]
    context_profile = Context().profile
    from dataclasses import replace

    small = replace(context_profile, max_images=3)
    result, model = run(scene_path, [*crops, "**Final Answer**\n\n1"], profile=small)
    last = model.requests[-1]["messages"]
    images = [
        p
        for m in last
        if isinstance(m.content, list)
        for p in m.content
        if isinstance(p, dict) and p.get("type") == "image_url"
    ]
    assert len(images) == 3
    assert "not shown again" in json.dumps([m.content for m in last], default=str)
    assert result.answer == "1"


def test_server_failure_mid_run_keeps_what_was_done(scene_path: Path) -> None:
    def refuse(messages: Sequence[BaseMessage]) -> str:
        raise openai.APIConnectionError(request=httpx.Request("POST", "http://127.0.0.1:1/v1"))

    result, _ = run(scene_path, [CROP, refuse])
    assert result.status == "error"
    assert result.error is not None and "cannot reach the model server" in result.error
    assert result.steps == 1 and [c["name"] for c in result.tool_calls] == ["crop"]


def test_live_events_stream_tokens(scene_path: Path) -> None:
    events: list[dict[str, Any]] = []
    model = ScriptedChatModel(script=["It is 1.\n\n**Final Answer**\n\n1"])
    asyncio.run(asolve(scene_path, "q", context=Context(chat_model=model), on_event=events.append))
    tokens = "".join(e["text"] for e in events if e["event"] == "token")
    assert tokens.endswith("**Final Answer**\n\n1")
    assert events[-1]["event"] == "verdict" and events[-1]["verdict"] == "pass"


def test_live_events_reach_the_listener_and_the_custom_stream_alike(scene_path: Path) -> None:
    """A context's listener gets each event once, straight from the nodes; a caller streaming
    LangGraph's ``custom`` mode (the LangGraph server) gets the same events in the same order."""
    heard: list[dict[str, Any]] = []
    streamed: list[dict[str, Any]] = []
    model = ScriptedChatModel(script=[CROP, "It is 7.\n\n**Final Answer**\n\n7"])
    context = Context(chat_model=model, on_event=heard.append)
    context.store.add_file(scene_path)
    inputs = {"question": "How many circles?", "images": ["img0"]}

    async def run() -> None:
        async for chunk in build_graph().astream(inputs, context=context, stream_mode="custom"):
            streamed.append(chunk)

    asyncio.run(run())
    kinds = [e["event"] for e in heard]
    assert kinds[0] == "step" and "tool" in kinds and kinds[-1] == "verdict"
    assert streamed == heard


RECHECKS = (
    "I count 7 circles, so the total is 7. Wait, let me check again. Counting once more, "
    "the total is 7. Hmm, let me double-check. The total is 7. Wait, maybe I miscounted. "
    "Looking again, the total is 7. Let me verify one more time: so the total is 7. "
    "But wait, I am not sure about the corner. Counting the circles again gives 7. "
    "Hold on, let me recount them. Still the total is 7.\n\n**Final Answer**\n\n7"
)


def test_a_finding_under_the_threshold_is_a_note_and_the_run_is_verified(
    scene_path: Path,
) -> None:
    sent_back, _ = run(scene_path, [RECHECKS, "**Final Answer**\n\n7"])
    assert sent_back.revisions == 1 and sent_back.status == "verified"
    noted, _ = run(scene_path, [RECHECKS], revise_confidence=0.9)
    assert noted.status == "verified" and noted.revisions == 0 and noted.findings == []
    assert [n["check"] for n in noted.notes] == ["circular"]
    assert noted.notes[0]["confidence"] < 0.9
    assert noted.to_json()["notes"][0]["check"] == "circular"
