"""A text-only planner agent that calls qvq-agent when it needs to look at an image.

    python examples/planner_with_vision.py photo.png "Is the total on this receipt over 50 dollars?" \
        --planner-url http://localhost:8001/v1 --planner-model Qwen/Qwen2.5-7B-Instruct

The planner (any chat model with tool calling, here on an OpenAI-compatible server) gets one
tool, ``look_at_image``, made by :func:`qvq_agent.as_tool`: QVQ on its own server (the
``QVQ_AGENT_*`` settings) answers the visual sub-question, crops and zooms to check, and the
planner reads back the answer, whether it was verified, and the regions looked at.
"""

from __future__ import annotations

import argparse
from typing import Any

from langchain.agents import create_agent
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage

from qvq_agent import RunSettings, as_tool

PLANNER_PROMPT = (
    "You answer the user's request. You cannot see images: when the request needs what is in "
    "an image, call look_at_image with the image and one precise question, then use its "
    "answer. If its status is not 'verified', say that the visual answer is uncertain."
)


def build_planner(planner: BaseChatModel, vision: RunSettings | None = None) -> Any:
    """LangChain's tool-calling agent (``create_agent``) with qvq-agent as its eyes."""
    return create_agent(planner, tools=[as_tool(vision)], system_prompt=PLANNER_PROMPT)


def main() -> None:
    from langchain_openai import ChatOpenAI

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("image")
    parser.add_argument("request")
    parser.add_argument("--planner-url", default="http://localhost:8001/v1")
    parser.add_argument("--planner-model", default="Qwen/Qwen2.5-7B-Instruct")
    args = parser.parse_args()
    planner = ChatOpenAI(base_url=args.planner_url, model=args.planner_model, api_key="EMPTY")
    agent = build_planner(planner)
    request = f"{args.request}\n(The image is at {args.image}.)"
    state = agent.invoke({"messages": [HumanMessage(content=request)]})
    print(state["messages"][-1].content)


if __name__ == "__main__":
    main()
