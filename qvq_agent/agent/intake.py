"""The first node: put the user's images into the image store and open the conversation."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from langchain_core.messages import HumanMessage
from langgraph.runtime import Runtime

from qvq_agent import prompts
from qvq_agent.agent.context import Context
from qvq_agent.agent.llm import image_part
from qvq_agent.agent.state import SolveInput


def user_images(ctx: Context, images: list[str]) -> list[str]:
    """Ids for the given images: ids already in the store stay, file paths are loaded.

    Raises:
        ImageLoadError: a file that cannot be read (the message names it).
    """
    return [image if image in ctx.store else ctx.store.add_file(image) for image in images]


async def load_user_images(ctx: Context, images: list[str]) -> list[str]:
    """:func:`user_images` without stalling the event loop: files are decoded in a worker
    thread (a large photo takes ~100 ms), ids already in the store need none."""
    if all(image in ctx.store for image in images):
        return list(images)
    return await asyncio.to_thread(user_images, ctx, images)


async def intake(state: SolveInput, runtime: Runtime[Context]) -> dict[str, Any]:
    """Load images and write the first user turn (images first, then the question)."""
    ctx = runtime.context
    if not state.get("question", "").strip():
        raise ValueError("the question is empty")
    image_ids = await load_user_images(ctx, list(state.get("images", [])))
    content: list[str | dict[str, Any]] = [image_part(i) for i in image_ids]
    question = prompts.QUESTION.format(question=state["question"].strip())
    choices = list(state.get("choices", []))
    if choices:
        question += "\n" + prompts.CHOICES.format(choices="\n".join(choices))
    content.append({"type": "text", "text": question})
    return {
        "image_ids": image_ids,
        "choices": choices,
        "messages": [HumanMessage(content=content)],
        "steps": 0,
        "revisions": 0,
        "pending": [],
        "stream_findings": [],
        "findings": [],
        "notes": [],
        "answer": None,
        "status": "running",
        "started_at": time.time(),
        "error": None,
    }
