"""``solve()`` and ``asolve()``: run the solve graph on images and a question.

They build the run's :class:`~qvq_agent.agent.context.Context` from :class:`Settings` (or take
one), stream the graph, hand live events (tokens, tool calls, verdicts) to a callback, and
return a :class:`SolveResult`. A failure of the model server ends the run with status
``error`` and keeps what was done before it.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, cast

import httpx
from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import RunnableConfig
from langgraph.types import Checkpointer, StreamMode

from qvq_agent.agent.checks import Finding
from qvq_agent.agent.checks.base import Given
from qvq_agent.agent.context import Context
from qvq_agent.agent.llm import ModelServerError, build_chat_model
from qvq_agent.agent.state import Status, ToolCallRecord, Usage
from qvq_agent.graphs.solve import build_graph
from qvq_agent.profiles import resolve_profile
from qvq_agent.settings import Settings

STREAM_MODES: list[StreamMode] = ["custom", "values"]
"""A list, so that LangGraph yields ``(mode, chunk)`` pairs."""

Event = dict[str, Any]
GraphName = Literal["solve", "physics"]
"""A live event: ``{"event": "token" | "tool" | "verdict" | "cancelled" | "step", ...}``."""


@dataclass
class SolveResult:
    """The outcome of one run."""

    answer: str | None
    status: Status
    steps: int = 0
    revisions: int = 0
    tool_calls: list[ToolCallRecord] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    usage: Usage = field(
        default_factory=lambda: Usage(prompt_tokens=0, completion_tokens=0, requests=0)
    )
    error: str | None = None
    graph: GraphName = "solve"
    givens: list[Given] = field(default_factory=list)
    equations: list[str] = field(default_factory=list)
    choice: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The ``solve --json`` object (the physics graph adds givens, equations, choice)."""
        extra: dict[str, Any] = {}
        if self.graph == "physics":
            extra = {"choice": self.choice, "givens": self.givens, "equations": self.equations}
        return {
            **extra,
            "answer": self.answer,
            "status": self.status,
            "steps": self.steps,
            "revisions": self.revisions,
            "tool_calls": [
                {"name": c["name"], "arguments": c["arguments"], "ok": c["ok"]}
                for c in self.tool_calls
            ],
            "findings": [
                {
                    "check": f["check"],
                    "message": f["message"],
                    "severity": f["severity"],
                    "start": f["start"],
                    "end": f["end"],
                }
                for f in self.findings
            ],
            "usage": dict(self.usage),
            "error": self.error,
        }


def context_from_settings(
    settings: Settings, *, chat_model: BaseChatModel | None = None, **fields: Any
) -> Context:
    """A run context from settings (plus any :class:`Context` field given explicitly)."""
    return Context(
        base_url=settings.base_url,
        model=settings.model,
        api_key=settings.api_key,
        profile=resolve_profile(settings.model, settings.profile),
        chat_model=chat_model,
        max_steps=settings.max_steps,
        max_revisions=settings.max_revisions,
        max_tokens=settings.max_tokens,
        max_total_tokens=settings.max_total_tokens,
        max_wall_s=settings.max_wall_s,
        request_timeout_s=settings.request_timeout_s,
        retries=settings.retries,
        temperature=settings.temperature,
        extra_body=dict(settings.extra_body),
        **fields,
    )


def _builder(name: GraphName) -> Callable[[Checkpointer], Any]:
    if name == "physics":
        from qvq_agent.graphs.physics import build_physics_graph

        return build_physics_graph
    return build_graph


def _result(values: dict[str, Any], graph: GraphName, *, error: str | None = None) -> SolveResult:
    status: Status = "error" if error else values.get("status", "unverified")
    if status == "running":
        status = "unverified"
    return SolveResult(
        answer=values.get("answer"),
        status=status,
        steps=values.get("steps", 0),
        revisions=values.get("revisions", 0),
        tool_calls=list(values.get("tool_calls", [])),
        findings=list(values.get("findings", [])),
        usage=values.get("usage") or Usage(prompt_tokens=0, completion_tokens=0, requests=0),
        error=error,
        graph=graph,
        givens=list(values.get("givens", [])),
        equations=list(values.get("equations", [])),
        choice=values.get("choice"),
    )


async def asolve(
    images: str | Path | Sequence[str | Path],
    question: str,
    *,
    settings: Settings | None = None,
    context: Context | None = None,
    chat_model: BaseChatModel | None = None,
    choices: Sequence[str] = (),
    on_event: Callable[[Event], None] | None = None,
    checkpointer: Checkpointer = None,
    thread_id: str | None = None,
    graph: GraphName = "solve",
) -> SolveResult:
    """Answer ``question`` about ``images`` with the solve graph.

    Args:
        images: image file paths (or ids already in ``context.store``), in order: img0, img1, ...
        question: the question.
        settings: server and budgets; read from the environment when not given.
        context: a ready run context (overrides ``settings`` and ``chat_model``).
        chat_model: a chat model to use instead of ChatOpenAI on ``settings.base_url``.
        choices: multiple-choice options.
        on_event: called with each live event (tokens as they stream, tool calls, verdicts).
        checkpointer: saves state after every step, so a crashed run can be inspected or resumed.
        thread_id: the checkpoint thread (a new one when not given).
        graph: ``solve`` (general) or ``physics`` (givens, equations, answer checks).

    Raises:
        ImageLoadError: an image file that cannot be read (before anything is sent).
    """
    ctx = context or context_from_settings(settings or Settings(), chat_model=chat_model)
    paths = [images] if isinstance(images, str | Path) else list(images)
    # Load images up front so a bad file fails before any request, naming the file.
    from qvq_agent.agent.intake import user_images

    image_ids = user_images(ctx, [str(p) for p in paths])
    compiled = _builder(graph)(checkpointer)
    inputs = {"question": question, "images": image_ids, "choices": list(choices)}
    values, error = await _run(compiled, inputs, ctx, on_event, thread_id)
    return _result(values, graph, error=error)


async def _run(
    compiled: Any,
    inputs: dict[str, Any],
    ctx: Context,
    on_event: Callable[[Event], None] | None,
    thread_id: str | None,
) -> tuple[dict[str, Any], str | None]:
    """Stream a compiled graph to its end; the last state and the server error, if one ended it."""
    http_client = None
    if ctx.chat_model is None:
        # One HTTP client per run: its connections belong to this event loop.
        http_client = httpx.AsyncClient(timeout=ctx.request_timeout_s)
        ctx = replace(ctx, chat_model=build_chat_model(ctx, http_client))
    config: RunnableConfig = {
        "recursion_limit": ctx.recursion_limit,
        "configurable": {"thread_id": thread_id or uuid.uuid4().hex},
    }
    values: dict[str, Any] = {}
    try:
        async for mode, chunk in compiled.astream(
            inputs, config, context=ctx, stream_mode=STREAM_MODES
        ):
            part = cast(dict[str, Any], chunk)
            if mode == "values":
                values = dict(part)
            elif on_event is not None:
                on_event(part)
    except ModelServerError as exc:
        return values, str(exc)
    finally:
        if http_client is not None:
            await http_client.aclose()
    return values, None


@dataclass
class CountResult:
    """The outcome of a count."""

    answer: int | None
    points: list[list[float]]
    tiles: int
    requests: int
    status: Status
    findings: list[Finding] = field(default_factory=list)
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The ``count --json`` object; points in original-image pixels."""
        return {
            "answer": self.answer,
            "points": [[round(x, 1), round(y, 1)] for x, y in self.points],
            "tiles": self.tiles,
            "requests": self.requests,
            "status": self.status,
            "findings": [{"check": f["check"], "message": f["message"]} for f in self.findings],
            "error": self.error,
        }


async def acount(
    image: str | Path,
    question: str,
    *,
    settings: Settings | None = None,
    context: Context | None = None,
    chat_model: BaseChatModel | None = None,
    tiles: str = "auto",
    method: str = "vlm",
    on_event: Callable[[Event], None] | None = None,
) -> CountResult:
    """Count objects with the count graph (tiles, merge, numbered-mark verification).

    Raises:
        ImageLoadError: the image cannot be read.
        ValueError: ``tiles`` is not ``auto`` or ``RxC``, or ``method`` is not ``vlm``/``cv``.
    """
    from qvq_agent.agent.intake import user_images
    from qvq_agent.graphs.count import _parse_tiles, build_count_graph

    if method not in ("vlm", "cv"):
        raise ValueError(f"method must be vlm or cv, not {method!r}")
    _parse_tiles(tiles)
    ctx = context or context_from_settings(settings or Settings(), chat_model=chat_model)
    image_ids = user_images(ctx, [str(image)])
    inputs = {"question": question, "images": image_ids, "tiling": tiles, "method": method}
    ctx = replace(ctx, max_steps=max(ctx.max_steps, 200))  # tiles x rounds, not reasoning steps
    values, error = await _run(build_count_graph(), inputs, ctx, on_event, None)
    usage = values.get("usage") or {}
    status: Status = "error" if error else values.get("status", "unverified")
    return CountResult(
        answer=values.get("answer"),
        points=[list(p) for p in values.get("points", [])],
        tiles=int(values.get("tiles") or 0),
        requests=int(usage.get("requests", 0)),
        status=status,
        findings=list(values.get("findings", [])),
        error=error,
    )


def count(image: str | Path, question: str, **kwargs: Any) -> CountResult:
    """Synchronous :func:`acount`."""
    return asyncio.run(acount(image, question, **kwargs))


def solve(
    images: str | Path | Sequence[str | Path],
    question: str,
    **kwargs: Any,
) -> SolveResult:
    """Synchronous :func:`asolve` (not for use inside a running event loop)."""
    return asyncio.run(asolve(images, question, **kwargs))
