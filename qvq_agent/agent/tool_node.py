"""The tool node: run every tool call of the newest reply and hand the results back.

Results go back as the next user turn: one ``<tool_response>`` block per call, each followed by
the images it made. With the native protocol each call is answered by a ``tool`` message with
its id, and the images follow in a user turn (never inside a ``tool`` message, which vLLM and
OpenAI reject).
Bad calls become error text the model can act on; a repeated identical call is answered from
the earlier result.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from langchain_core.messages import BaseMessage, HumanMessage, ToolMessage
from langgraph.runtime import Runtime

from qvq_agent import prompts
from qvq_agent.agent.context import Context, event_sink
from qvq_agent.agent.llm import image_part
from qvq_agent.agent.state import PendingCall, SolveState, ToolCallRecord
from qvq_agent.tools import ToolEnv, ToolResult

log = logging.getLogger(__name__)


def _call_key(name: str, arguments: dict[str, Any]) -> str:
    return json.dumps({"name": name, "arguments": arguments}, sort_keys=True, default=str)


def _previous_results(state: SolveState) -> dict[str, ToolCallRecord]:
    return {
        _call_key(record["name"], dict(record["arguments"])): record
        for record in state["tool_calls"]
        if record["ok"]
    }


async def run_call(ctx: Context, call: PendingCall) -> ToolResult:
    """Run one call; every failure becomes a refused result with a message for the model."""
    if call["name"] is None or call["error"] is not None:
        return ToolResult(False, prompts.TOOL_PARSE_ERROR.format(message=call["error"]))
    tool = ctx.tools.get(call["name"])
    if tool is None:
        available = ", ".join(ctx.tools.names)
        return ToolResult(
            False, prompts.TOOL_UNKNOWN.format(name=call["name"], available=available)
        )
    env = ToolEnv(ctx.store, ctx.profile)
    try:
        return await asyncio.to_thread(tool.run, env, dict(call["arguments"]))
    except Exception as exc:  # a bug in a tool must not end the run; it is logged in full
        log.exception("tool %s failed", call["name"])
        return ToolResult(False, f"the tool failed unexpectedly ({type(exc).__name__}: {exc})")


async def run_tools(state: SolveState, runtime: Runtime[Context]) -> dict[str, Any]:
    """Execute the pending calls and append their results as one user turn."""
    ctx = runtime.context
    emit = event_sink(runtime)
    seen = _previous_results(state)
    records: list[ToolCallRecord] = []
    content: list[str | dict[str, Any]] = []
    answers: list[ToolMessage] = []  # native protocol: one tool message per call id
    for call in state["pending"]:
        key = _call_key(call["name"] or "", dict(call["arguments"]))
        earlier = seen.get(key) if call["name"] and call["error"] is None else None
        if earlier is not None:
            what = ", ".join(earlier["images"]) or earlier["value"] or earlier["text"]
            result = ToolResult(
                True, prompts.TOOL_REPEATED.format(result=what), value=earlier["value"]
            )
        else:
            result = await run_call(ctx, call)
        body = (
            result.text
            if result.ok
            else prompts.TOOL_ERROR.format(name=call["name"] or "tool_call", message=result.text)
        )
        call_id = call.get("call_id")
        if call_id is not None:
            answers.append(ToolMessage(content=body, tool_call_id=call_id))
            if result.images:
                text = prompts.TOOL_IMAGES.format(name=call["name"] or "tool")
                content.append({"type": "text", "text": text})
        else:
            content.append({"type": "text", "text": prompts.TOOL_RESPONSE.format(body=body)})
        content.extend(image_part(i) for i in result.images)
        record = ToolCallRecord(
            name=call["name"] or "(unreadable)",
            arguments=dict(call["arguments"]),
            ok=result.ok,
            text=result.text,
            images=list(result.images),
            value=result.value,
        )
        records.append(record)
        seen.setdefault(key, record)
        emit(
            {
                "event": "tool",
                "name": record["name"],
                "arguments": record["arguments"],
                "ok": result.ok,
                "text": result.text,
                "images": list(result.images),
            }
        )
    if state["steps"] >= ctx.settings.max_steps - 1:
        content.append({"type": "text", "text": prompts.STEP_BUDGET_SPENT})
    # Images never go inside a tool message (vLLM and OpenAI reject them): a user turn follows.
    messages: list[BaseMessage] = [*answers]
    if content:
        messages.append(HumanMessage(content=content))
    return {"messages": messages, "tool_calls": records, "pending": []}
