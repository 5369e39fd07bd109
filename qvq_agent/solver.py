"""``solve()``, ``asolve()``, ``count()`` and ``acount()``: run a graph on images and a question.

They build the run's :class:`~qvq_agent.agent.context.Context` from settings (or take one),
stream the graph, hand live events (tokens, tool calls, verdicts) to a callback, and return the
graph's result type. A failure of the model server ends the run with status ``error`` and keeps
what was done before it.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, TypeVar, cast

from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import RunnableConfig

from qvq_agent.agent.context import Context, Event, chain_listeners
from qvq_agent.agent.intake import load_user_images
from qvq_agent.agent.llm import ModelServerError, aclose_clients
from qvq_agent.graphs import count as count_graph
from qvq_agent.graphs import physics as physics_graph
from qvq_agent.graphs.count_state import Method
from qvq_agent.graphs.solve import build_graph
from qvq_agent.images import ImageStore
from qvq_agent.records import Recorder
from qvq_agent.results import CountResult, PhysicsResult, SolveResult
from qvq_agent.settings import RunSettings, Settings

GraphName = Literal["solve", "physics"]
T = TypeVar("T")
COUNT_RECURSION_LIMIT = 40
"""Supersteps of the count graph: intake, overview, tiles, merge, two verification rounds."""


@lru_cache(maxsize=16)
def _compiled(builder: Callable[[Any], Any]) -> Any:
    """A graph compiled once per builder (without a checkpointer): compiling takes tens of ms."""
    return builder(None)


def compiled_graph(builder: Callable[[Any], Any], checkpointer: Any) -> Any:
    """``builder(checkpointer)``, reusing one compiled graph when there is no checkpointer."""
    return _compiled(builder) if checkpointer is None else builder(checkpointer)


def thread_store(db: Path, thread_id: str) -> ImageStore:
    """The image store of a checkpointed thread: images in ``<db>.images/`` by content hash,
    the thread's lineage in ``<db>.images/threads/<thread>.json`` (restored when it exists)."""
    folder = db.with_name(db.name + ".images")
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in thread_id)
    return ImageStore(persist=(folder, folder / "threads" / f"{safe}.json"))


def make_context(
    settings: RunSettings | None = None,
    context: Context | None = None,
    chat_model: BaseChatModel | None = None,
) -> Context:
    """The run context: ``context`` as given, else one from ``settings`` (the environment when
    ``None``) with ``chat_model``.

    Raises:
        UnknownProfileError: the settings name a profile that does not exist.
    """
    if context is not None:
        return context
    return Context(settings=settings if settings is not None else Settings(), chat_model=chat_model)


async def asolve(
    images: str | Path | Sequence[str | Path],
    question: str,
    *,
    settings: RunSettings | None = None,
    context: Context | None = None,
    chat_model: BaseChatModel | None = None,
    choices: Sequence[str] = (),
    on_event: Callable[[Event], None] | None = None,
    checkpointer: Any = None,
    thread_id: str | None = None,
    graph: GraphName = "solve",
    record: str | Path | None = None,
    trace: str | Path | None = None,
    db: str | Path | None = None,
) -> SolveResult:
    """Answer ``question`` about ``images`` with the solve graph (or the physics graph).

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
        graph: ``solve`` (general) or ``physics`` (givens, equations, answer checks); the
            physics graph returns a :class:`PhysicsResult`.
        record: write the run record here (JSON; its images beside it, in ``images/``).
        trace: write the run's trace page here (one self-contained HTML file).
        db: keep every step in this SQLite file (LangGraph's checkpointer), the images beside
            it (``<db>.images/``, by content hash), under ``thread_id``. The same call again
            with the same ``thread_id`` continues a run that was killed from its last
            finished step (and returns a finished one as it ended).

    Raises:
        ImageLoadError: an image file that cannot be read (before anything is sent).
        UnknownProfileError: the settings name a profile that does not exist.
    """
    if db is not None:
        from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

        thread_id = thread_id or uuid.uuid4().hex
        base = context or make_context(settings, None, chat_model)
        ctx = replace(base, store=thread_store(Path(db), thread_id))
        async with AsyncSqliteSaver.from_conn_string(str(db)) as saver:
            return await asolve(
                images,
                question,
                context=ctx,
                choices=choices,
                on_event=on_event,
                checkpointer=saver,
                thread_id=thread_id,
                graph=graph,
                record=record,
                trace=trace,
            )
    ctx = make_context(settings, context, chat_model)
    build = physics_graph.build_graph if graph == "physics" else build_graph
    compiled = compiled_graph(build, checkpointer)
    saved = None
    if checkpointer is not None and thread_id is not None:
        state = await compiled.aget_state({"configurable": {"thread_id": thread_id}})
        saved = state if state.values else None
    inputs: dict[str, Any] | None = None
    if saved is None:
        paths = [images] if isinstance(images, str | Path) else list(images)
        # Load images up front so a bad file fails before any request, naming the file.
        image_ids = await load_user_images(ctx, [str(p) for p in paths])
        inputs = {"question": question, "images": image_ids, "choices": list(choices)}
    recorder = Recorder(forward=on_event) if (record or trace) else None
    listener = recorder.on_event if recorder is not None else on_event
    if saved is not None and not saved.next:  # the thread's run had finished
        values, error = dict(saved.values), None
    else:  # a new run, or the rest of one killed mid-way (inputs None: continue)
        values, error = await _run(compiled, inputs, ctx, listener, thread_id)
    if recorder is not None:
        await asyncio.to_thread(_keep, "solve", values, ctx, recorder, error, record, trace, graph)
    if graph == "physics":
        return PhysicsResult.from_state(values, error)
    return SolveResult.from_state(values, error)


def _keep(
    kind: str,
    values: dict[str, Any],
    ctx: Context,
    recorder: Recorder,
    error: str | None,
    record: str | Path | None,
    trace: str | Path | None,
    graph: str,
) -> None:
    """Write the run record and/or the trace page (images beside the record; for a page alone,
    in a temporary folder that is removed once they are embedded)."""
    import tempfile
    from contextlib import nullcontext

    from qvq_agent.records import count_record, solve_record, write_record
    from qvq_agent.trace_page import render_html

    where = (
        nullcontext(str(Path(record).parent))
        if record
        else tempfile.TemporaryDirectory(prefix="qvq-agent-trace-")
    )
    with where as place:
        folder = Path(place)
        model, profile = ctx.settings.model, ctx.profile.name
        if kind == "count":
            data = count_record(
                values, ctx.store, recorder, folder, model=model, profile=profile, error=error
            )
        else:
            data = solve_record(
                values,
                ctx.store,
                recorder,
                folder,
                graph=graph,
                model=model,
                profile=profile,
                error=error,
            )
        if record:
            write_record(data, Path(record))
        if trace:
            page = Path(trace)
            page.parent.mkdir(parents=True, exist_ok=True)
            page.write_text(render_html(data, folder), encoding="utf-8")


async def _run(
    compiled: Any,
    inputs: dict[str, Any] | None,
    ctx: Context,
    on_event: Callable[[Event], None] | None,
    thread_id: str | None,
    recursion_limit: int | None = None,
) -> tuple[dict[str, Any], str | None]:
    """Stream a compiled graph to its end (``inputs`` ``None``: continue the checkpointed thread);
    the last state and the server error, if one ended it."""
    config: RunnableConfig = {
        "recursion_limit": recursion_limit or ctx.recursion_limit,
        "configurable": {"thread_id": thread_id or uuid.uuid4().hex},
    }
    if on_event is not None:
        # Live events reach the listener straight from the nodes (Context.on_event): asking
        # LangGraph for its custom stream as well would wake the loop once per event.
        ctx = replace(ctx, on_event=chain_listeners(ctx.on_event, on_event))
    values: dict[str, Any] = {}
    try:
        async for chunk in compiled.astream(inputs, config, context=ctx, stream_mode="values"):
            values = dict(cast(dict[str, Any], chunk))
    except ModelServerError as exc:
        return values, str(exc)
    return values, None


async def acount(
    image: str | Path,
    question: str,
    *,
    settings: RunSettings | None = None,
    context: Context | None = None,
    chat_model: BaseChatModel | None = None,
    tiles: tuple[int, int] | None = None,
    method: Method = "vlm",
    on_event: Callable[[Event], None] | None = None,
    record: str | Path | None = None,
    trace: str | Path | None = None,
) -> CountResult:
    """Count objects with the count graph (tiles, merge, numbered-mark verification).

    Args:
        image: the image file (or an id already in ``context.store``).
        question: what to count.
        settings, context, chat_model: as for :func:`asolve`.
        tiles: ``(rows, cols)`` to force the tiling (see
            :func:`qvq_agent.counting.parse_tiling`); sized from the pixel budget when ``None``.
        method: ``vlm`` (the model) or ``cv`` (OpenCV only; the count is ``unverified``).
        on_event: called with each live event.

    Raises:
        ImageLoadError: the image cannot be read.
        ValueError: ``tiles`` outside 1 to 12, or ``method`` not ``vlm``/``cv``.
    """
    from qvq_agent.counting import MAX_TILE_SIDE

    if method not in ("vlm", "cv"):
        raise ValueError(f"method must be vlm or cv, not {method!r}")
    if tiles is not None and not all(1 <= n <= MAX_TILE_SIDE for n in tiles):
        raise ValueError(f"tiles must be between 1 and {MAX_TILE_SIDE} rows and columns")
    ctx = make_context(settings, context, chat_model)
    image_ids = await load_user_images(ctx, [str(image)])
    inputs = {
        "question": question,
        "images": image_ids,
        "tiling": list(tiles) if tiles else None,
        "method": method,
    }
    recorder = Recorder(forward=on_event) if (record or trace) else None
    values, error = await _run(
        compiled_graph(count_graph.build_graph, None),
        inputs,
        ctx,
        recorder.on_event if recorder is not None else on_event,
        None,
        recursion_limit=COUNT_RECURSION_LIMIT,
    )
    if recorder is not None:
        await asyncio.to_thread(
            _keep, "count", values, ctx, recorder, error, record, trace, "count"
        )
    return CountResult.from_state(values, error)


def count(image: str | Path, question: str, **kwargs: Any) -> CountResult:
    """Synchronous :func:`acount` (not for use inside a running event loop)."""
    return asyncio.run(closing(acount(image, question, **kwargs)))


def solve(
    images: str | Path | Sequence[str | Path],
    question: str,
    **kwargs: Any,
) -> SolveResult:
    """Synchronous :func:`asolve` (not for use inside a running event loop)."""
    return asyncio.run(closing(asolve(images, question, **kwargs)))


async def closing(run: Awaitable[T]) -> T:
    """Await ``run``, then close the OpenAI clients its event loop opened."""
    try:
        return await run
    finally:
        await aclose_clients()


__all__ = [
    "CountResult",
    "Event",
    "PhysicsResult",
    "SolveResult",
    "acount",
    "asolve",
    "closing",
    "count",
    "make_context",
    "solve",
]
