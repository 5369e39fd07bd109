"""The count graph: overview, tiles in parallel, exact merge, numbered-mark verification.

intake -> overview -> count_tile (one per tile, concurrently, via ``Send``) -> merge ->
verify_tile (one per tile, marks drawn on the tile) -> reconcile -> settle -> END, with a second
verification round for the tiles whose count changed. ``method="cv"`` counts with OpenCV instead
(no model; the count is reported ``unverified``). Every model reply is checked by the verifier's
loop and no-final-answer checks; an unreadable answer is asked once more.
"""

from __future__ import annotations

import math
import time
from typing import Any, Literal

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime
from langgraph.types import Checkpointer, Send

from qvq_agent import prompts
from qvq_agent.agent.checks import Finding, TraceInput, run_checks
from qvq_agent.agent.checks.base import blocks, make_finding
from qvq_agent.agent.context import Context, event_sink
from qvq_agent.agent.intake import user_images
from qvq_agent.agent.llm import image_part, render, request
from qvq_agent.agent.reasoner import out_of_time_finding
from qvq_agent.agent.state import Usage, add_usage
from qvq_agent.answers import extract_final_answer
from qvq_agent.counting import (
    count_discs_cv,
    in_box,
    match_radius,
    merge_points,
    parse_points,
    plan_tiles,
    tile_core,
)
from qvq_agent.graphs.count_state import (
    CountInput,
    CountOutput,
    CountState,
    TileCount,
    TileInfo,
    TileTask,
)
from qvq_agent.tools.image_ops import add_marked

MAX_VERIFY_ROUNDS = 2
REPLY_CHECKS = ("loop", "no_final_answer")


def count_intake(state: CountInput, runtime: Runtime[Context]) -> dict[str, Any]:
    """Load the image and cut it into overlapping tiles (each a derived image in the store)."""
    ctx = runtime.context
    (image_id, *_) = user_images(ctx, list(state["images"]))
    width, height = ctx.store.get(image_id).size
    tiling = state.get("tiling")
    force = (int(tiling[0]), int(tiling[1])) if tiling else None
    plan = plan_tiles(width, height, ctx.profile, force)
    tiles: list[TileInfo] = []
    for index, box in enumerate(plan.boxes):
        if len(plan.boxes) == 1:
            tile_id = image_id
        else:
            tile_id = ctx.store.crop(image_id, box, purpose="tile")
        tiles.append(TileInfo(index=index, image_id=tile_id, box=list(box)))
    return {
        "image_id": image_id,
        "plan": tiles,
        "overlap": plan.overlap,
        "verify_round": 0,
        "recheck": [],
        "points": [],
        "target": "",
        "answer": None,
        "status": "running",
        "error": None,
        "method": state.get("method", "vlm"),
        "tiling": list(force) if force else None,
        "tiles": len(tiles),
        "started_at": time.time(),
    }


async def ask_points(
    ctx: Context, image_id: str, prompt: str, deadline: float
) -> tuple[list[list[float]] | None, str, Usage, list[Finding]]:
    """One model turn on one image; the final answer read as points in that image's pixels
    (``None`` when there are none to read, or the wall budget ran out)."""
    usage = Usage(prompt_tokens=0, completion_tokens=0, requests=0)
    messages: list[BaseMessage] = [
        HumanMessage(content=[image_part(image_id), {"type": "text", "text": prompt}])
    ]
    findings: list[Finding] = []
    text = ""
    for _attempt in range(2):
        rendered = await render(ctx, messages, [image_id], system="plain")
        reply = await request(ctx, rendered, deadline=deadline)
        usage = add_usage(usage, reply.usage)
        text = reply.text
        if reply.out_of_time:
            return None, text, usage, [out_of_time_finding(text, ctx.settings.max_wall_s)]
        trace = TraceInput(text, answer_markers=ctx.profile.answer_markers)
        findings = run_checks(REPLY_CHECKS, trace)
        points = parse_points(extract_final_answer(text, ctx.profile.answer_markers))
        if points is not None:
            sx, sy = ctx.store.frame_scale(image_id, ctx.profile.coord_frame, ctx.profile)
            max_x, max_y = ctx.store.frame_extent(image_id, ctx.profile.coord_frame, ctx.profile)
            inside = [(x, y) for x, y in points if 0 <= x <= max_x and 0 <= y <= max_y]
            if len(inside) < len(points):
                dropped = len(points) - len(inside)
                message = prompts.FINDING_OFF_IMAGE.format(n=dropped, image=image_id)
                findings.append(make_finding("off_image", message, "", 0, 0, "warning"))
            return [[x * sx, y * sy] for x, y in inside], text, usage, findings
        messages += [AIMessage(content=text), HumanMessage(content=prompts.COUNT_RETRY)]
    return None, text, usage, findings


def _frame(ctx: Context) -> str:
    return prompts.FRAME_DESCRIPTIONS[ctx.profile.coord_frame]


async def overview(state: CountState, runtime: Runtime[Context]) -> dict[str, Any]:
    """What do the objects look like? (The whole image, downscaled to the budget.)"""
    ctx = runtime.context
    if state["method"] == "cv":
        return {}
    prompt = prompts.COUNT_OVERVIEW.format(question=state["question"], frame=_frame(ctx))
    deadline = state["started_at"] + ctx.settings.max_wall_s
    _, text, usage, findings = await ask_points(ctx, state["image_id"], prompt, deadline)
    marker = min((text.find(m) for m in ctx.profile.answer_markers if m in text), default=len(text))
    target = " ".join(text[:marker].split())[:300] or state["question"]
    return {"target": target, "usage": usage, "findings": findings}


def _deadline(state: CountState, ctx: Context) -> float:
    return state["started_at"] + ctx.settings.max_wall_s


async def fan_out_tiles(
    state: CountState, runtime: Runtime[Context]
) -> list[Send] | Literal["count_cv"]:
    """One ``count_tile`` task per tile, run concurrently."""
    if state["method"] == "cv":
        return "count_cv"
    return [
        Send(
            "count_tile",
            TileTask(
                question=state["question"],
                target=state["target"],
                tile=tile,
                points=[],
                round=0,
                deadline=_deadline(state, runtime.context),
            ),
        )
        for tile in state["plan"]
    ]


async def count_tile(task: TileTask, runtime: Runtime[Context]) -> dict[str, Any]:
    """Count in one tile; points go back to original pixels through the image lineage."""
    ctx = runtime.context
    tile = task["tile"]
    prompt = prompts.COUNT_TILE.format(
        question=task["question"], target=task["target"], frame=_frame(ctx)
    )
    points, _, usage, findings = await ask_points(ctx, tile["image_id"], prompt, task["deadline"])
    root = ctx.store.points_to_root(tile["image_id"], [(x, y) for x, y in points or []])
    return {
        "tile_counts": [TileCount(tile=tile["index"], points=[list(p) for p in root], round=0)],
        "usage": usage,
        "findings": findings,
    }


def _radius(state: CountState) -> float:
    return match_radius([c["points"] for c in state["tile_counts"]], state["overlap"])


async def merge(state: CountState, runtime: Runtime[Context]) -> dict[str, Any]:
    """Merge the tile counts: an object seen by several overlapping tiles counts once."""
    boxes = [tuple(t["box"]) for t in state["plan"]]
    per_tile: dict[int, list[tuple[float, float]]] = {}
    for count in state["tile_counts"]:
        if count["round"] == 0:
            per_tile.setdefault(count["tile"], []).extend((p[0], p[1]) for p in count["points"])
    merged = merge_points(per_tile, boxes, _radius(state))  # type: ignore[arg-type]
    # The count before the marks are checked: what evaluation reports as the first answer.
    event_sink(runtime)(
        {"event": "verdict", "verdict": "merged", "findings": [], "answer": str(len(merged))}
    )
    return {
        "points": [list(p) for p in merged],
        "verify_round": 1,
        "recheck": [t["index"] for t in state["plan"]],
    }


async def fan_out_verify(
    state: CountState, runtime: Runtime[Context]
) -> list[Send] | Literal["settle"]:
    """Verify tiles with the current points drawn on them as numbered marks."""
    if state["verify_round"] > MAX_VERIFY_ROUNDS or not state["recheck"]:
        return "settle"
    return [
        Send(
            "verify_tile",
            TileTask(
                question=state["question"],
                target=state["target"],
                tile=tile,
                points=state["points"],
                round=state["verify_round"],
                deadline=_deadline(state, runtime.context),
            ),
        )
        for tile in state["plan"]
        if tile["index"] in state["recheck"]
    ]


async def verify_tile(task: TileTask, runtime: Runtime[Context]) -> dict[str, Any]:
    """Ask the model to check the marks on one tile and to name what has no mark."""
    ctx = runtime.context
    tile = task["tile"]
    x1, y1 = tile["box"][0], tile["box"][1]
    inside = [(x - x1, y - y1) for x, y in task["points"] if in_box((x, y), tile["box"])]
    image_id = tile["image_id"]
    if inside:
        image_id = add_marked(ctx.store, image_id, inside)
    prompt = prompts.COUNT_VERIFY.format(question=task["question"], frame=_frame(ctx))
    points, _, usage, findings = await ask_points(ctx, image_id, prompt, task["deadline"])
    root = ctx.store.points_to_root(image_id, [(x, y) for x, y in points or []])
    return {
        "tile_counts": [
            TileCount(tile=tile["index"], points=[list(p) for p in root], round=task["round"])
        ],
        "usage": usage,
        "findings": findings,
    }


async def reconcile(state: CountState) -> dict[str, Any]:
    """Add objects the verification found without a mark (in each tile's own core)."""
    radius = _radius(state)
    points = [list(p) for p in state["points"]]
    changed: list[int] = []
    unconfirmed: list[list[float]] = []
    for count in state["tile_counts"]:
        if count["round"] != state["verify_round"]:
            continue
        tile = state["plan"][count["tile"]]
        core = tile_core(tile["box"], state["overlap"], [t["box"] for t in state["plan"]])
        seen = [p for p in count["points"] if in_box(p, core)]
        mine = [p for p in points if in_box(p, core)]
        for p in seen:
            if all(math.dist(p, q) > radius for q in points):
                points.append(list(p))
                changed.append(tile["index"])
        unconfirmed += [q for q in mine if all(math.dist(p, q) > radius for p in count["points"])]
    findings = []
    if (unconfirmed and state["verify_round"] >= MAX_VERIFY_ROUNDS) or (
        unconfirmed and not changed
    ):
        where = ", ".join(f"({x:.0f}, {y:.0f})" for x, y in unconfirmed[:5])
        findings.append(
            make_finding(
                "unconfirmed",
                prompts.FINDING_UNCONFIRMED.format(n=len(unconfirmed), where=where),
                "",
                0,
                0,
                severity="warning",
            )
        )
    return {
        "points": sorted(points, key=lambda p: (p[1], p[0])),
        "verify_round": state["verify_round"] + 1,
        "recheck": sorted(set(changed)),
        "findings": findings,
    }


def count_cv(state: CountState, runtime: Runtime[Context]) -> dict[str, Any]:
    """The classical counter (drawn discs, coins, cells); no model request, nothing verified."""
    points = count_discs_cv(runtime.context.store.get(state["image_id"]).image)
    note = make_finding(
        "cv_estimate", prompts.FINDING_CV_ESTIMATE.format(n=len(points)), "", 0, 0, "warning"
    )
    return {
        "points": [list(p) for p in points],
        "verify_round": MAX_VERIFY_ROUNDS + 1,
        "recheck": [],
        "findings": [note],
    }


UNVERIFIED_CHECKS = ("unconfirmed", "cv_estimate", "budget")
"""Warnings that still leave the count unverified."""


async def settle(state: CountState) -> dict[str, Any]:
    """The count, and whether every reply and mark checked out."""
    blocking = [f for f in state["findings"] if blocks(f) or f["check"] in UNVERIFIED_CHECKS]
    return {"answer": len(state["points"]), "status": "unverified" if blocking else "verified"}


def build_graph(checkpointer: Checkpointer = None) -> CompiledStateGraph[Any, Context, Any, Any]:
    """Compile the count graph.

    Args:
        checkpointer: where to save state after every step (``None``: keep nothing).
    """
    builder = StateGraph(
        CountState, context_schema=Context, input_schema=CountInput, output_schema=CountOutput
    )
    builder.add_node("intake", count_intake)
    builder.add_node("overview", overview)
    tile_node: Any = count_tile  # runs on a TileTask sent by fan_out_tiles
    builder.add_node("count_tile", tile_node, input_schema=TileTask)
    builder.add_node("count_cv", count_cv)
    builder.add_node("merge", merge)
    check_node: Any = verify_tile  # runs on a TileTask sent by fan_out_verify
    builder.add_node("verify_tile", check_node, input_schema=TileTask)
    builder.add_node("reconcile", reconcile)
    builder.add_node("settle", settle)
    builder.add_edge(START, "intake")
    builder.add_edge("intake", "overview")
    builder.add_conditional_edges("overview", fan_out_tiles, ["count_tile", "count_cv"])
    builder.add_edge("count_tile", "merge")
    builder.add_conditional_edges("merge", fan_out_verify, ["verify_tile", "settle"])
    builder.add_edge("verify_tile", "reconcile")
    builder.add_conditional_edges("reconcile", fan_out_verify, ["verify_tile", "settle"])
    builder.add_edge("count_cv", "settle")
    builder.add_edge("settle", END)
    return builder.compile(checkpointer=checkpointer, name="qvq-count")


graph = build_graph()
"""Compiled without a checkpointer, for ``langgraph.json`` (the server brings its own)."""
