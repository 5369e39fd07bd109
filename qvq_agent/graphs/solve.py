"""The solve graph: intake -> reason <-> tools, reason -> verify -> END or back to reason.

``build_graph()`` compiles it (with a checkpointer if given); the module-level ``graph`` is
compiled without one, for ``langgraph.json`` (the LangGraph server brings its own).
"""

from __future__ import annotations

from typing import Any, Literal

from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime
from langgraph.types import Checkpointer

from qvq_agent.agent.context import Context
from qvq_agent.agent.intake import intake
from qvq_agent.agent.reasoner import budget_left, reason
from qvq_agent.agent.state import SolveInput, SolveOutput, SolveState
from qvq_agent.agent.tool_node import run_tools
from qvq_agent.agent.verifier import verify


async def route_after_reason(
    state: SolveState, runtime: Runtime[Context]
) -> Literal["tools", "verify"]:
    """Tool calls go to the tools while the budget lasts; anything else is checked. (Light
    nodes and edges are ``async``: LangGraph runs a sync one in a worker thread.)"""
    if state["pending"] and budget_left(state, runtime.context):
        return "tools"
    return "verify"


def build_graph(checkpointer: Checkpointer = None) -> CompiledStateGraph[Any, Context, Any, Any]:
    """Compile the solve graph.

    Args:
        checkpointer: where to save state after every step (``None``: keep nothing).
    """
    builder = StateGraph(
        SolveState, context_schema=Context, input_schema=SolveInput, output_schema=SolveOutput
    )
    builder.add_node("intake", intake)
    builder.add_node("reason", reason)
    builder.add_node("tools", run_tools)
    builder.add_node("verify", verify, destinations=("reason", END))
    builder.add_edge(START, "intake")
    builder.add_edge("intake", "reason")
    builder.add_conditional_edges("reason", route_after_reason)
    builder.add_edge("tools", "reason")
    return builder.compile(checkpointer=checkpointer, name="qvq-solve")


graph = build_graph()
