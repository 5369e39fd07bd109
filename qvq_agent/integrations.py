"""qvq-agent inside other agents: as a LangChain tool (:func:`as_tool`) a planner can call.

The tool runs the solve (or physics) graph on one image and returns the answer with its status
and the evidence the model looked at: every image a tool made during the run, as a box in
original-image pixels and a PNG file. Images are given as a file path, an ``http(s)`` URL, a
``data:`` URL or bare base64.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any, Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.tools import BaseTool, StructuredTool
from pydantic import BaseModel, Field

from qvq_agent.agent.context import Context
from qvq_agent.images import ImageLoadError, ImageStore
from qvq_agent.results import SolveResult
from qvq_agent.settings import RunSettings, Settings
from qvq_agent.solver import asolve, closing

TOOL_DESCRIPTION = (
    "Look at an image and answer a question about it with a visual reasoning model that crops "
    "and zooms to check details, and whose reasoning is verified. Use it for anything that "
    "needs the picture: counting, reading values off a chart or figure, geometry and physics "
    "from a diagram. Returns the answer, whether it was verified, and the regions looked at."
)


class LookArgs(BaseModel):
    """Arguments of the look-at-image tool."""

    image: str = Field(description="the image: a file path, an http(s) URL, or base64 data")
    question: str = Field(description="the question about the image, stated fully")
    choices: list[str] = Field(
        default_factory=list, description="multiple-choice options, if the question has them"
    )


def evidence(
    store: ImageStore, result: SolveResult, folder: Path | None = None
) -> list[dict[str, Any]]:
    """The images the run's tools made: tool, arguments, box in original-image pixels, and the
    PNG file written into ``folder`` (no files when ``folder`` is ``None``)."""
    out = []
    for call in result.tool_calls:
        for image_id in call["images"]:
            record = store.get(image_id)
            width, height = record.size
            box = store.box_to_root(image_id, (0, 0, width, height))
            region: dict[str, Any] = {
                "tool": call["name"],
                "arguments": call["arguments"],
                "image": image_id,
                "box": [round(v, 1) for v in box],
            }
            if folder is not None:
                folder.mkdir(parents=True, exist_ok=True)
                record.image.save(folder / f"{image_id}.png")
                region["file"] = str(folder / f"{image_id}.png")
            out.append(region)
    return out


def as_tool(
    settings: RunSettings | None = None,
    *,
    graph: Literal["solve", "physics"] = "solve",
    name: str = "look_at_image",
    description: str = TOOL_DESCRIPTION,
    out_dir: str | Path | None = None,
    chat_model: BaseChatModel | None = None,
) -> BaseTool:
    """A LangChain tool ``look_at_image(image, question, choices)`` that runs qvq-agent.

    The tool's content (what the calling model reads) is a JSON object: ``answer``, ``status``
    (``verified``, ``unverified`` or ``error``), ``evidence`` (the regions looked at, each with
    its box in original-image pixels and a PNG file) and ``error``; the artifact is the same
    object plus the findings. A bad image or a server that cannot be reached comes back as an
    ``error`` in the object, not as an exception, so the planner can go on.

    Args:
        settings: server and budgets (read from ``QVQ_AGENT_*`` when not given).
        graph: ``solve`` (general) or ``physics``.
        name, description: what the planner sees.
        out_dir: where evidence images are written (a new temporary folder per call when not
            given).
        chat_model: a chat model to use instead of the server in ``settings`` (tests).
    """

    async def look(image: str, question: str, choices: list[str] | None = None) -> tuple[str, Any]:
        ctx = Context(settings=settings or Settings(), chat_model=chat_model)
        folder = Path(out_dir) if out_dir else Path(tempfile.mkdtemp(prefix="qvq-agent-"))
        try:
            result = await asolve(image, question, context=ctx, choices=choices or (), graph=graph)
        except (ImageLoadError, ValueError) as exc:
            payload: dict[str, Any] = {"answer": None, "status": "error", "evidence": []}
            payload["error"] = str(exc)
            return json.dumps(payload), {**payload, "findings": []}
        payload = {
            "answer": result.answer,
            "status": result.status,
            "evidence": evidence(ctx.store, result, folder),
            "error": result.error,
        }
        findings = [{"check": f["check"], "message": f["message"]} for f in result.findings]
        return json.dumps(payload, ensure_ascii=False), {**payload, "findings": findings}

    def look_sync(image: str, question: str, choices: list[str] | None = None) -> tuple[str, Any]:
        import asyncio

        return asyncio.run(closing(look(image, question, choices)))

    return StructuredTool.from_function(
        func=look_sync,
        coroutine=look,
        name=name,
        description=description,
        args_schema=LookArgs,
        response_format="content_and_artifact",
    )
