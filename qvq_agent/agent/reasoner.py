"""The reasoning node: stream one reply from the model, guard it against loops, read tool calls.

Generation stops at ``</tool_call>`` (a stop string), so no tokens are spent after a call. The
online loop guard watches the stream and cancels the request as soon as degenerate repetition
starts; the cut text goes on to the verifier with a ``loop`` finding.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import Any, cast

from langchain_core.messages import AIMessage, AIMessageChunk
from langgraph.runtime import Runtime

from qvq_agent.agent.checks.loop import LoopDetector, loop_finding
from qvq_agent.agent.context import Context
from qvq_agent.agent.llm import ModelServerError, chat_model, render_messages, server_errors
from qvq_agent.agent.protocol import CallParseError, close_open_call, parse_tool_calls
from qvq_agent.agent.state import PendingCall, SolveState, Usage


async def reason(state: SolveState, runtime: Runtime[Context]) -> dict[str, Any]:
    """Ask the model for the next reply and stream it out as ``token`` events."""
    ctx = runtime.context
    write = runtime.stream_writer
    step = state["steps"] + 1
    request = render_messages(ctx, state["messages"], state["image_ids"])
    guard = LoopDetector() if ctx.loop_guard else None
    text = ""
    chunks = 0
    usage = Usage(prompt_tokens=0, completion_tokens=0, requests=1)
    cut = None
    write({"event": "step", "step": step})
    with server_errors(ctx):
        stream = cast(
            AsyncGenerator[AIMessageChunk, None],
            chat_model(ctx).astream(request, stop=list(ctx.profile.stop)),
        )
        async with aclosing(stream) as chunks_in:  # closing the stream cancels the request
            async for chunk in chunks_in:
                meta = getattr(chunk, "usage_metadata", None)
                if meta:
                    usage["prompt_tokens"] = int(meta.get("input_tokens", 0))
                    usage["completion_tokens"] = int(meta.get("output_tokens", 0))
                delta = _delta_text(chunk, ctx)
                if not delta:
                    continue
                chunks += 1
                text += delta
                write({"event": "token", "step": step, "text": delta})
                if guard is not None and guard.feed(delta) is not None:
                    cut = guard.hit
                    break
    if usage["completion_tokens"] == 0:
        usage["completion_tokens"] = (
            chunks  # a cancelled stream sends no usage; vLLM streams a token per chunk
        )
    stream_findings = []
    if cut is not None:
        stream_findings.append(loop_finding(text, cut))
        write({"event": "cancelled", "step": step, "reason": "loop", "at": len(text)})
    stored = close_open_call(text) if cut is None else text
    pending: list[PendingCall] = []
    if cut is None:
        for call in parse_tool_calls(stored):
            if isinstance(call, CallParseError):
                pending.append(PendingCall(name=None, arguments={}, error=call.message))
            else:
                pending.append(PendingCall(name=call.name, arguments=call.arguments, error=None))
    return {
        "messages": [AIMessage(content=stored)],
        "steps": step,
        "pending": pending,
        "stream_findings": stream_findings,
        "usage": usage,
    }


def _delta_text(chunk: Any, ctx: Context) -> str:
    """The reasoning text in a chunk (``reasoning_content`` for profiles that put it there)."""
    if ctx.profile.reasoning_field == "reasoning_content":
        extra = getattr(chunk, "additional_kwargs", {}) or {}
        reasoning = extra.get("reasoning_content") or ""
        return str(reasoning) + str(chunk.text or "")
    return str(chunk.text or "")


def budget_left(state: SolveState, ctx: Context) -> bool:
    """True while the run may make another model request."""
    return (
        state["steps"] < ctx.max_steps
        and state["usage"]["completion_tokens"] < ctx.max_total_tokens
        and time.time() - state["started_at"] < ctx.max_wall_s
    )


__all__ = ["ModelServerError", "budget_left", "reason"]
