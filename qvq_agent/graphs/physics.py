"""The physics graph: read the givens off the figure, solve with sympy, check the answer.

intake (with the three-step instructions) -> reason <-> tools; every reply goes through
``record``, which keeps the ``<givens>`` and ``<equations>`` the model wrote in the state; a
final reply is verified by the general checks plus ``tool_agreement``, ``units``,
``substitution`` and ``choice``; ``report`` names the choice letter.
"""

from __future__ import annotations

import re
from dataclasses import fields
from typing import Any, Literal

from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime
from langgraph.types import Checkpointer

from qvq_agent import prompts
from qvq_agent.agent.checks import PHYSICS_CHECKS
from qvq_agent.agent.checks.physics import Given, PhysicsTrace, choice_letter
from qvq_agent.agent.context import Context
from qvq_agent.agent.intake import intake
from qvq_agent.agent.reasoner import reason
from qvq_agent.agent.state import SolveInput, SolveOutput, SolveState
from qvq_agent.agent.tool_node import run_tools
from qvq_agent.agent.verifier import make_verify, trace_input
from qvq_agent.graphs.solve import route_after_reason
from qvq_agent.untrusted import UntrustedJSONError, load_json

_GIVENS = re.compile(r"<givens>(.*?)</givens>", re.DOTALL)
_EQUATIONS = re.compile(r"<equations>(.*?)</equations>", re.DOTALL)


class PhysicsState(SolveState):
    """The solve state plus what the model read off the figure and wrote down."""

    givens: list[Given]
    """Quantities read off the figure (the last ``<givens>`` block)."""
    equations: list[str]
    """Equations the model wrote (the last ``<equations>`` block)."""
    choice: str | None
    """The choice letter the answer names (multiple choice), once there is an answer."""


class PhysicsOutput(SolveOutput):
    """The solve output plus what the physics graph read and wrote."""

    givens: list[Given]
    equations: list[str]
    choice: str | None


def physics_trace(state: PhysicsState, ctx: Context, text: str) -> PhysicsTrace:
    """What the physics checks see: the general trace input plus givens and equations."""
    general = trace_input(state, ctx, text)
    return PhysicsTrace(
        **{f.name: getattr(general, f.name) for f in fields(general)},
        givens=tuple(state["givens"]),
        equations=tuple(state["equations"]),
    )


def read_givens(text: str) -> list[Given]:
    """Givens from the last ``<givens>`` block; entries without a numeric value are dropped."""
    blocks = _GIVENS.findall(text)
    if not blocks:
        return []
    try:
        rows = load_json(re.sub(r",\s*([\]}])", r"\1", blocks[-1].strip()))
    except UntrustedJSONError:
        return []
    givens: list[Given] = []
    for row in rows if isinstance(rows, list) else []:
        if not isinstance(row, dict) or not isinstance(row.get("name"), str):
            continue
        try:
            value = float(row.get("value"))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            continue
        givens.append(
            Given(
                name=row["name"],
                value=value,
                unit=str(row.get("unit") or ""),
                where=str(row.get("where") or ""),
            )
        )
    return givens


def read_equations(text: str) -> list[str]:
    """Equations from the last ``<equations>`` block (a JSON list, or one per line)."""
    blocks = _EQUATIONS.findall(text)
    if not blocks:
        return []
    body = blocks[-1].strip()
    try:
        rows = load_json(body)
        return [str(r)[:500] for r in rows][:32] if isinstance(rows, list) else []
    except UntrustedJSONError:
        return [line.strip(" -,") for line in body.splitlines() if "=" in line]


async def physics_intake(state: SolveInput, runtime: Runtime[Context]) -> dict[str, Any]:
    """The solve intake, with the read / solve / answer instructions after the question."""
    hint = prompts.PHYSICS_CHOICE_HINT if state.get("choices") else ""
    instructed: SolveInput = {
        **state,
        "question": state["question"].strip()
        + "\n\n"
        + prompts.PHYSICS_INSTRUCTIONS.format(choice_hint=hint),
    }
    update = await intake(instructed, runtime)
    return {**update, "givens": [], "equations": [], "choice": None}


async def record(state: PhysicsState) -> dict[str, Any]:
    """Keep the givens and equations of the newest reply (later blocks replace earlier ones)."""
    text = str(state["messages"][-1].content)
    update: dict[str, Any] = {}
    givens = read_givens(text)
    if givens:
        update["givens"] = givens
    equations = read_equations(text)
    if equations:
        update["equations"] = equations
    return update


async def report(state: PhysicsState) -> dict[str, Any]:
    """Name the choice letter the answer matches (multiple choice)."""
    return {"choice": choice_letter(state["answer"], list(state["choices"]))}


async def route_after_record(
    state: PhysicsState, runtime: Runtime[Context]
) -> Literal["tools", "verify"]:
    """As in the solve graph."""
    return await route_after_reason(state, runtime)


def build_graph(checkpointer: Checkpointer = None) -> CompiledStateGraph[Any, Context, Any, Any]:
    """Compile the physics graph.

    Args:
        checkpointer: where to save state after every step (``None``: keep nothing).
    """
    builder = StateGraph(
        PhysicsState, context_schema=Context, input_schema=SolveInput, output_schema=PhysicsOutput
    )
    builder.add_node("intake", physics_intake)
    builder.add_node("reason", reason)
    builder.add_node("record", record)
    builder.add_node("tools", run_tools)
    verify: Any = make_verify(PHYSICS_CHECKS, "report", physics_trace)  # routes by Command
    builder.add_node("verify", verify, destinations=("reason", "report"))
    builder.add_node("report", report)
    builder.add_edge(START, "intake")
    builder.add_edge("intake", "reason")
    builder.add_edge("reason", "record")
    builder.add_conditional_edges("record", route_after_record)
    builder.add_edge("tools", "reason")
    builder.add_edge("report", END)
    return builder.compile(checkpointer=checkpointer, name="qvq-physics")


graph = build_graph()
"""Compiled without a checkpointer, for ``langgraph.json`` (the server brings its own)."""
