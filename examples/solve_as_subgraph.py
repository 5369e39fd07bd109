"""qvq-agent's solve graph as one node of your own LangGraph graph.

    python examples/solve_as_subgraph.py photo.png "How many red circles?"

The parent graph prepares the image (here: it loads it into the shared image store and keeps
its id), runs the compiled solve graph as a node, and reports. Both graphs take the same
:class:`qvq_agent.Context` (``context_schema``), so they share the image store and the settings;
``astream(..., subgraphs=True)`` streams the solve graph's tokens through the parent.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime

from qvq_agent import Context, build_graph


class ParentState(TypedDict, total=False):
    """The parent's state; ``question``, ``images``, ``answer``, ``status`` are shared with the
    solve graph (same keys), the rest is the parent's own."""

    path: str
    question: str
    images: list[str]
    answer: str | None
    status: str
    report: str


def prepare(state: ParentState, runtime: Runtime[Context]) -> dict[str, Any]:
    """Load the image into the shared store; the solve graph receives its id."""
    return {"images": [runtime.context.store.add_file(state["path"])]}


def report(state: ParentState) -> dict[str, Any]:
    return {"report": f"{state.get('answer')} ({state.get('status')})"}


def build_parent() -> Any:
    """prepare -> look (the solve graph) -> report."""
    parent = StateGraph(ParentState, context_schema=Context)
    parent.add_node("prepare", prepare)
    parent.add_node("look", build_graph())
    parent.add_node("report", report)
    parent.add_edge(START, "prepare")
    parent.add_edge("prepare", "look")
    parent.add_edge("look", "report")
    parent.add_edge("report", END)
    return parent.compile()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("image")
    parser.add_argument("question")
    args = parser.parse_args()
    asyncio.run(run(args.image, args.question))


async def run(path: str, question: str) -> None:
    """Stream the parent graph: the solve graph's tokens live, then the parent's report."""
    graph = build_parent()
    inputs = {"path": path, "question": question}
    async for namespace, mode, chunk in graph.astream(
        inputs, context=Context(), stream_mode=["custom", "values"], subgraphs=True
    ):
        if mode == "custom" and chunk.get("event") == "token":
            print(chunk["text"], end="", flush=True)
        elif mode == "values" and not namespace and "report" in chunk:
            print("\n\nreport:", chunk["report"])


if __name__ == "__main__":
    main()
