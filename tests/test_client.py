"""The real client path: ChatOpenAI against an OpenAI-compatible server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import base64
import io
import time
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from qvq_agent import Settings, solve
from qvq_agent.agent.context import Context
from qvq_agent.agent.llm import aclose_clients
from qvq_agent.settings import RunSettings
from qvq_agent.solver import asolve
from qvq_agent.testing import ReplayServer, Reply

CROP = '<tool_call>\n{"name": "crop", "arguments": {"image": "img0", "bbox": [0, 0, 500, 1000]}}\n</tool_call>'
CALC = '<tool_call>\n{"name": "calculate", "arguments": {"expression": "4 + 3"}}\n</tool_call>'
LOOP = "Let me count the red circles again to be sure they are all there. " * 60


def settings(server: ReplayServer, **extra: Any) -> Settings:
    return Settings(base_url=server.base_url, model="Qwen/QVQ-72B-Preview", retries=0, **extra)


def user_images(body: dict[str, Any]) -> list[Image.Image]:
    found = []
    for message in body["messages"]:
        if message["role"] == "user" and isinstance(message["content"], list):
            for part in message["content"]:
                if part["type"] == "image_url":
                    data = part["image_url"]["url"].split(",", 1)[1]
                    found.append(Image.open(io.BytesIO(base64.b64decode(data))))
    return found


def test_crop_calculate_answer_against_a_server(scene_path: Path) -> None:
    script = [
        f"Let me look.\n{CROP}\nignored after the stop",
        f"Now add.\n{CALC}",
        "…\n\n**Final Answer**\n\n7",
    ]
    with ReplayServer(script) as server:
        result = solve(scene_path, "How many?", settings=settings(server))
        bodies = [r.body for r in server.requests]
    assert result.to_json()["answer"] == "7" and result.status == "verified"
    assert [c["name"] for c in result.to_json()["tool_calls"]] == ["crop", "calculate"]
    assert "</tool_call>" in bodies[0]["stop"]
    assert all(b["model"] == "Qwen/QVQ-72B-Preview" for b in bodies)
    # Second request: the original and the crop; the crop's aspect is 600:800 up to rounding.
    original, crop = user_images(bodies[1])
    assert abs(original.width / original.height - 1.5) < 0.02
    assert abs(crop.width / crop.height - 0.75) < 0.03
    assert all(m["role"] != "tool" for m in bodies[1]["messages"])
    assert "ignored after the stop" not in str(bodies[1]["messages"])
    # Third request carries the calculator's 7.
    last = bodies[2]["messages"][-1]
    assert "4 + 3 = 7" in str(last["content"])
    assert result.usage["requests"] == 3 and result.usage["prompt_tokens"] > 0


def test_a_looping_first_reply_leads_to_exactly_one_revision(scene_path: Path) -> None:
    with ReplayServer([LOOP, "Counted once more with care.\n\n**Final Answer**\n\n3"]) as server:
        result = solve(scene_path, "How many?", settings=settings(server))
        bodies = [r.body for r in server.requests]
    assert len(bodies) == 2
    revision = bodies[1]["messages"]
    assert (
        revision[-2]["role"] == "assistant" and "count the red circles" in revision[-2]["content"]
    )
    assert revision[-1]["role"] == "user" and "repeating" in str(revision[-1]["content"])
    assert result.answer == "3" and result.revisions == 1


def test_the_server_sees_the_looping_request_cancelled(scene_path: Path) -> None:
    slow_loop = Reply(LOOP * 3, delay_s=0.002)
    with ReplayServer([slow_loop, "**Final Answer**\n\n3"]) as server:
        result = solve(scene_path, "How many?", settings=settings(server))
        server.wait_finished()
        first = server.requests[0]
    total = len((LOOP * 3).split())
    assert first.cancelled and not first.finished
    assert first.sent_tokens < total / 2
    assert result.answer == "3"


def test_an_error_status_is_shown_with_the_servers_message(scene_path: Path) -> None:
    reply = Reply("This model's maximum context length is 4096 tokens.", status=400)
    with ReplayServer([reply]) as server:
        result = solve(scene_path, "How many?", settings=settings(server))
    assert result.status == "error"
    assert result.error is not None
    assert "400" in result.error and "maximum context length is 4096" in result.error


def test_unreachable_server_names_the_url_and_the_vllm_command(scene_path: Path) -> None:
    started = time.monotonic()
    result = solve(scene_path, "q", settings=Settings(base_url="http://127.0.0.1:9/v1", retries=0))
    assert result.status == "error" and result.error is not None
    assert (
        "http://127.0.0.1:9/v1" in result.error
        and "vllm serve Qwen/QVQ-72B-Preview" in result.error
    )
    assert time.monotonic() - started < 30


def test_extra_body_is_passed_through(scene_path: Path) -> None:
    extra = {"mm_processor_kwargs": {"max_pixels": 200704}}
    with ReplayServer(["**Final Answer**\n\n1"]) as server:
        solve(scene_path, "q", settings=settings(server, extra_body=extra))
        body = server.requests[0].body
    assert body["mm_processor_kwargs"] == {"max_pixels": 200704}
    assert body["stream"] is True


def solve_through(backend: str, image: Path, base_url: str, **extra: Any) -> Any:
    """``asolve`` with the OpenAI client on ``backend`` (its clients closed after)."""

    async def run() -> Any:
        context = Context(
            settings=RunSettings(base_url=base_url, retries=0, **extra),
            http_backend=backend,  # type: ignore[arg-type]
        )
        try:
            return await asolve(image, "How many?", context=context)
        finally:
            await aclose_clients()

    return asyncio.run(run())


@pytest.mark.parametrize("backend", ["httpx", "aiohttp"])
def test_both_transports_cancel_refuse_time_out_and_report_statuses_alike(
    scene_path: Path, backend: str
) -> None:
    slow_loop = Reply(LOOP * 3, delay_s=0.002)
    with ReplayServer([slow_loop, "**Final Answer**\n\n3"]) as server:
        result = solve_through(backend, scene_path, server.base_url)
        server.wait_finished()
        first = server.requests[0]
    assert first.cancelled and first.sent_tokens < len((LOOP * 3).split()) / 2
    assert result.answer == "3"

    refused = solve_through(backend, scene_path, "http://127.0.0.1:9/v1")
    assert refused.error is not None and "cannot reach the model server" in refused.error

    with ReplayServer([Reply("**Final Answer**\n\n3", wait_s=3)]) as server:
        late = solve_through(backend, scene_path, server.base_url, request_timeout_s=0.5)
    assert late.error is not None and "did not answer within 0.5 s" in late.error

    with ReplayServer([Reply("context too long", status=400)]) as server:
        status = solve_through(backend, scene_path, server.base_url)
    assert status.error is not None and "400" in status.error and "context too long" in status.error
