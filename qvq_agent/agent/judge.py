"""The optional judge (``--judge``): a second opinion before a costly critique is sent.

The ``circular`` and ``answer_mismatch`` checks read intent from text, so they can be wrong in
ways a model can tell at a glance. With ``settings.judge`` on, each such finding that would send
the model back is first put to a model — the served one, or ``judge_base_url`` /
``judge_model`` — as one short yes/no request quoting the flagged span. A "no" keeps the finding
as a note (confidence 0, the judge's reason in its message); a "yes", an unclear reply or a judge
that cannot be reached leaves it as it was, so the judge can only ever hold a critique back.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from langchain_core.messages import HumanMessage

from qvq_agent import prompts
from qvq_agent.agent.checks import Finding
from qvq_agent.agent.checks.base import blocks
from qvq_agent.agent.checks.grounding import verdict_says_no
from qvq_agent.agent.context import Context
from qvq_agent.agent.llm import ModelServerError, request
from qvq_agent.agent.state import Usage, add_usage
from qvq_agent.answers import extract_final_answer
from qvq_agent.profiles import resolve_profile

JUDGED = ("circular", "answer_mismatch")
"""Checks whose findings the judge is asked about."""
JUDGE_MAX_TOKENS = 512
"""Completion tokens of one judge request: a yes or no and a reason (a reasoning model may
think first; its final answer is read when it gives one)."""
EXCERPT_CHARS = 600
"""Characters of the trace shown around the flagged span, each side."""


def judge_context(ctx: Context) -> Context:
    """The context of the judge's requests: the run's server and model unless the settings name
    others; short replies, no loop guard."""
    settings = ctx.settings
    elsewhere = settings.judge_base_url not in (None, settings.base_url) or settings.judge_model
    judged = settings.with_overrides(
        base_url=settings.judge_base_url,
        model=settings.judge_model,
        max_tokens=JUDGE_MAX_TOKENS,
    )
    if not elsewhere:
        return replace(ctx, settings=judged, loop_guard=False)
    profile = resolve_profile(judged.model, None)
    return Context(settings=judged, profile=profile, store=ctx.store, loop_guard=False)


def excerpt(text: str, finding: Finding) -> str:
    """The flagged span marked with >>> <<<, with up to :data:`EXCERPT_CHARS` either side."""
    start, end = finding["start"], max(finding["start"], finding["end"])
    left, right = max(0, start - EXCERPT_CHARS), min(len(text), end + EXCERPT_CHARS)
    span = text[start:end]
    if len(span) > 2 * EXCERPT_CHARS:
        span = span[:EXCERPT_CHARS] + " … " + span[-EXCERPT_CHARS:]
    return (
        ("…" if left else "")
        + text[left:start]
        + ">>>"
        + span
        + "<<<"
        + text[end:right]
        + ("…" if right < len(text) else "")
    )


async def judge_findings(
    ctx: Context,
    question: str,
    text: str,
    findings: Sequence[Finding],
    write: Callable[[Any], None] = lambda _: None,
) -> tuple[list[Finding], Usage | None]:
    """Put each blocking ``circular`` / ``answer_mismatch`` finding to the judge; the ones it
    overrules come back as notes (confidence 0). Also returns the tokens the judge used."""
    threshold = ctx.settings.revise_confidence
    asked = [f for f in findings if f["check"] in JUDGED and blocks(f, threshold)]
    if not asked:
        return list(findings), None
    judge = judge_context(ctx)
    usage = Usage(prompt_tokens=0, completion_tokens=0, requests=0)
    out = []
    for finding in findings:
        if not any(finding is a for a in asked):
            out.append(finding)
            continue
        prompt = prompts.JUDGE_QUESTION.format(
            question=question.strip()[:1000] or "(not given)",
            excerpt=excerpt(text, finding),
            claim=finding["message"],
        )
        try:
            reply = await request(judge, [HumanMessage(content=prompt)], guard=False)
        except ModelServerError as exc:
            write({"event": "judge", "check": finding["check"], "error": str(exc)})
            out.append(finding)
            continue
        usage = add_usage(usage, reply.usage)
        answer = extract_final_answer(reply.text, judge.profile.answer_markers)
        said = answer if answer is not None else reply.text
        no = verdict_says_no(said)
        write({"event": "judge", "check": finding["check"], "overruled": no})
        if no:
            reason = " ".join(said.split())[:200]
            message = prompts.JUDGE_OVERRULED.format(reason=reason) + finding["message"]
            out.append(Finding(**{**finding, "message": message, "confidence": 0.0}))
        else:
            out.append(finding)
    return out, usage
