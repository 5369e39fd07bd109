"""The reasoning node: stream one reply from the model, guard it against loops, read tool calls.

Generation stops at ``</tool_call>`` (a stop string), so no tokens are spent after a call. The
online loop guard watches the stream and cancels the request as soon as degenerate repetition
starts; the cut text goes on to the verifier with a ``loop`` finding.
"""

from __future__ import annotations

import time
from typing import Any

from langchain_core.messages import AIMessage
from langgraph.runtime import Runtime

from qvq_agent import prompts
from qvq_agent.agent.checks import Finding
from qvq_agent.agent.checks.base import make_finding
from qvq_agent.agent.checks.loop import loop_finding
from qvq_agent.agent.context import Context, event_sink
from qvq_agent.agent.llm import NATIVE_CALLS, ModelServerError, render, request
from qvq_agent.agent.protocol import (
    CallParseError,
    ToolCall,
    close_open_call,
    parse_tool_calls,
    read_native_call,
)
from qvq_agent.agent.state import PendingCall, SolveState


async def reason(state: SolveState, runtime: Runtime[Context]) -> dict[str, Any]:
    """Ask the model for the next reply and stream it out as ``token`` events."""
    ctx = runtime.context
    write = event_sink(runtime)
    step = state["steps"] + 1
    write({"event": "step", "step": step})
    reply = await request(
        ctx,
        await render(ctx, state["messages"], state["image_ids"]),
        on_token=(
            (lambda delta: write({"event": "token", "step": step, "text": delta}))
            if ctx.stream_tokens
            else None
        ),
        deadline=state["started_at"] + ctx.settings.max_wall_s,
    )
    text = reply.text
    stream_findings = []
    if reply.cut is not None:
        stream_findings.append(loop_finding(text, reply.cut))
        write({"event": "cancelled", "step": step, "reason": "loop", "at": len(text)})
    if reply.out_of_time:
        stream_findings.append(out_of_time_finding(text, ctx.settings.max_wall_s))
        write({"event": "cancelled", "step": step, "reason": "budget", "at": len(text)})
    complete = reply.cut is None and not reply.out_of_time
    stored = close_open_call(text) if complete else text
    pending: list[PendingCall] = []
    extra: dict[str, Any] = {}
    if complete and reply.native_calls:
        for native in reply.native_calls:
            call = read_native_call(native.name, native.arguments)
            pending.append(_pending(call, native.id, native.name))
        extra[NATIVE_CALLS] = [
            {
                "id": c.id,
                "type": "function",
                "function": {"name": c.name, "arguments": c.arguments},
            }
            for c in reply.native_calls
        ]
    elif complete:
        pending = [_pending(call) for call in parse_tool_calls(stored)]
    write({"event": "reply", "step": step, "text": stored, "usage": reply.usage})
    return {
        "messages": [AIMessage(content=stored, additional_kwargs=extra)],
        "steps": step,
        "pending": pending,
        "stream_findings": stream_findings,
        "usage": reply.usage,
    }


def _pending(
    call: ToolCall | CallParseError, call_id: str | None = None, name: str | None = None
) -> PendingCall:
    """A call for the tool node; one that cannot be read keeps its error (and the name the
    server gave it, for native calls)."""
    if isinstance(call, CallParseError):
        pending = PendingCall(name=name, arguments={}, error=call.message)
    else:
        pending = PendingCall(name=call.name, arguments=call.arguments, error=None)
    if call_id is not None:
        pending["call_id"] = call_id
    return pending


def out_of_time_finding(text: str, budget_s: float) -> Finding:
    """The note for a reply cut because the run's wall-clock budget ran out."""
    return make_finding(
        "budget",
        prompts.FINDING_OUT_OF_TIME.format(seconds=f"{budget_s:g}"),
        text,
        len(text),
        len(text),
        severity="warning",
    )


def budget_left(state: SolveState, ctx: Context) -> bool:
    """True while the run may make another model request."""
    settings = ctx.settings
    return (
        state["steps"] < settings.max_steps
        and state["usage"]["completion_tokens"] < settings.max_total_tokens
        and time.time() - state["started_at"] < settings.max_wall_s
    )


__all__ = ["ModelServerError", "budget_left", "reason"]
