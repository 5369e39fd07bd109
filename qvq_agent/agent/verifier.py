"""The verifier node: run the checks on the newest reply and decide pass, revise or give up.

A failed check becomes a critique the model reads (a user turn that names the problem, quotes
the span and says the way out), bounded by ``max_revisions``; when the budget is spent the run
ends with the best answer so far, status ``unverified``, and the findings.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import Any, Literal, TypeVar

from langchain_core.messages import AIMessage, HumanMessage
from langgraph.runtime import Runtime
from langgraph.types import Command

from qvq_agent import prompts
from qvq_agent.agent.checks import Finding, ToolOutcome, TraceInput, run_checks
from qvq_agent.agent.checks.base import DEFAULT_REVISE_CONFIDENCE, blocks, split_findings
from qvq_agent.agent.checks.grounding import find_claim, ungrounded_finding, verdict_says_no
from qvq_agent.agent.context import Context, event_sink
from qvq_agent.agent.judge import judge_findings
from qvq_agent.agent.llm import image_part, render, request
from qvq_agent.agent.reasoner import budget_left
from qvq_agent.agent.state import SolveState, Usage, add_usage
from qvq_agent.answers import extract_final_answer, find_final_answers
from qvq_agent.tools.image_ops import pixel_box
from qvq_agent.tools.registry import ToolEnv, ToolError

Verdict = Literal["pass", "revise", "give_up"]
StateT = TypeVar("StateT", bound=SolveState)
TraceBuilder = Callable[[StateT, Context, str], TraceInput]
"""Builds what the checks read from a graph's state and the newest reply."""
INLINE_CHECK_CHARS = 1000
"""Replies up to this long are checked on the event loop (at most a few ms of checks, less
than the hop to a thread and back); longer ones in a worker thread."""


def trace_input(state: SolveState, ctx: Context, text: str) -> TraceInput:
    """What the checks see of the newest reply."""
    return TraceInput(
        text=text,
        question=state["question"],
        tool_results=tuple(
            ToolOutcome(r["name"], r["ok"], r["text"], r["value"]) for r in state["tool_calls"]
        ),
        answer_markers=ctx.profile.answer_markers,
        choices=tuple(state.get("choices", [])),
        cut_by_guard=bool(state["stream_findings"]),
    )


def _dedupe(findings: Sequence[Finding]) -> list[Finding]:
    seen: set[tuple[str, int]] = set()
    out = []
    for finding in findings:
        key = (finding["check"], finding["start"])
        if key not in seen:
            seen.add(key)
            out.append(finding)
    return out


def critique(findings: Sequence[Finding]) -> str:
    """The user turn that sends the model back: one line per problem, then what to end with."""
    lines = [prompts.CRITIQUE_HEADER]
    for finding in findings:
        lines.append(prompts.CRITIQUE_LINE.format(message=finding["message"]))
        if finding["evidence"] and finding["check"] not in ("no_final_answer", "language_mixing"):
            lines.append(prompts.CRITIQUE_QUOTE.format(evidence=finding["evidence"]))
    lines.append(prompts.CRITIQUE_FOOTER)
    return "\n".join(lines)


def best_answer(state: SolveState, ctx: Context) -> str | None:
    """The last final answer the model gave in this run, if any."""
    for message in reversed(state["messages"]):
        if isinstance(message, AIMessage):
            answer = extract_final_answer(str(message.content), ctx.profile.answer_markers)
            if answer is not None:
                return answer
    return None


def decide(
    findings: Sequence[Finding], can_revise: bool, threshold: float = DEFAULT_REVISE_CONFIDENCE
) -> Verdict:
    """pass when nothing blocks (no error at or above ``threshold``); revise while the budget
    allows; else give up."""
    if not any(blocks(f, threshold) for f in findings):
        return "pass"
    return "revise" if can_revise else "give_up"


async def verify(
    state: SolveState, runtime: Runtime[Context]
) -> Command[Literal["reason", "__end__"]]:
    """Check the newest reply and route: END (pass / give up) or back to ``reason`` (revise)."""
    return await run_verification(state, runtime.context, event_sink(runtime))  # type: ignore[return-value]


def make_verify(
    extra_checks: Sequence[str], done: str, trace: TraceBuilder[StateT]
) -> Callable[[StateT, Runtime[Context]], Awaitable[Command[str]]]:
    """A verify node that also runs ``extra_checks`` on what ``trace`` builds from the state,
    and goes to ``done`` when finished."""

    async def verify_more(state: StateT, runtime: Runtime[Context]) -> Command[str]:
        return await run_verification(
            state, runtime.context, event_sink(runtime), extra_checks, done, trace
        )

    return verify_more


async def run_verification(
    state: StateT,
    ctx: Context,
    write: Callable[[Any], None],
    extra_checks: Sequence[str] = (),
    done: str = "__end__",
    trace: TraceBuilder[StateT] = trace_input,
) -> Command[str]:
    """Run the checks on the newest reply; pass, revise (back to ``reason``) or give up."""
    last = next(m for m in reversed(state["messages"]) if isinstance(m, AIMessage))
    text = str(last.content)
    pure = [c for c in (*ctx.checks, *extra_checks) if c != "ungrounded"]
    # The checks are CPU work (tens of ms on a long trace): off the event loop, so concurrent
    # runs keep streaming meanwhile. A short reply takes less than the hop to a thread.
    built = trace(state, ctx, text)
    if len(text) <= INLINE_CHECK_CHARS:
        checked = run_checks(pure, built)
    else:
        checked = await asyncio.to_thread(run_checks, pure, built)
    findings = _dedupe([*state["stream_findings"], *checked])
    usage = None
    threshold = ctx.settings.revise_confidence
    if "ungrounded" in ctx.checks and not any(blocks(f, threshold) for f in findings):
        grounded, usage = await ground_claim(state, ctx, text)
        findings.extend(grounded)
    if ctx.settings.judge:
        question = str(state.get("question", ""))
        findings, judged = await judge_findings(ctx, question, text, findings, write)
        if judged is not None:
            usage = add_usage(usage, judged)
    can_revise = state["revisions"] < ctx.settings.max_revisions and budget_left(state, ctx)
    verdict = decide(findings, can_revise, threshold)
    blocking, notes = split_findings(findings, threshold)
    answer = extract_final_answer(text, ctx.profile.answer_markers)
    write(
        {
            "event": "verdict",
            "verdict": verdict,
            "findings": [f["check"] for f in blocking],
            "notes": [f["check"] for f in notes],
            "details": [dict(f) for f in findings],
            "critique": critique(blocking) if verdict == "revise" else None,
            "usage": usage,
            "answer": answer,
        }
    )
    reported: dict[str, object] = {"findings": blocking, "notes": notes}
    if usage:
        reported["usage"] = usage
    if verdict == "pass":
        return Command(goto=done, update={"answer": answer, "status": "verified", **reported})
    if verdict == "revise":
        return Command(
            goto="reason",
            update={
                "messages": [HumanMessage(content=critique(blocking))],
                "revisions": state["revisions"] + 1,
                "stream_findings": [],
                **reported,
            },
        )
    return Command(
        goto=done,
        update={
            "answer": answer if answer is not None else best_answer(state, ctx),
            "status": "unverified",
            **reported,
        },
    )


async def ground_claim(
    state: SolveState, ctx: Context, text: str
) -> tuple[list[Finding], Usage | None]:
    """The ``ungrounded`` check: ask the model about one claim, on a crop of the region it names."""
    answers = find_final_answers(text, ctx.profile.answer_markers)
    claim = find_claim(text, answers[0].start if answers else None)
    if claim is None or not state["image_ids"]:
        return [], None
    image_id = state["image_ids"][-1]
    frame = ctx.profile.coord_frame if claim.frame_given else "norm1000"
    env = ToolEnv(ctx.store, replace(ctx.profile, coord_frame=frame))
    try:
        box, _ = pixel_box(env, image_id, list(claim.box))
    except ToolError:
        return [], None
    crop = ctx.store.crop(image_id, box, purpose="grounding")
    prompt = prompts.GROUNDING_QUESTION.format(claim=claim.text)
    question = [HumanMessage(content=[image_part(crop), {"type": "text", "text": prompt}])]
    reply = await request(ctx, await render(ctx, question, [crop], system="none"))
    if verdict_says_no(reply.text):
        return [ungrounded_finding(text, claim, reply.text)], reply.usage
    return [], reply.usage
