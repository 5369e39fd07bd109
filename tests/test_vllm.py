"""Against a real vLLM server (CPU build) serving a tiny random-weight Qwen2-VL.

The fixtures make the vLLM environment and the checkpoint when missing (never skip: a failure
to build them fails the tests), start the server on a free port and stop it at the end.
Marked ``vllm``: ``pytest -m vllm`` runs just these, ``pytest -m "not vllm"`` everything else.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from langchain_core.messages import HumanMessage
from PIL import Image, ImageDraw
from typer.testing import CliRunner

from qvq_agent import Settings, solve
from qvq_agent.agent.context import Context
from qvq_agent.agent.llm import build_chat_model
from qvq_agent.cli import app
from qvq_agent.images import visual_tokens
from qvq_agent.profiles import get_profile
from qvq_agent.settings import RunSettings
from tests.support.vllm_cpu import TINY_MODEL_NAME, VllmServer, ensure_checkpoint, ensure_env

pytestmark = pytest.mark.vllm

CROP_CALL = '<tool_call>\n{"name": "crop", "arguments": {"image": "img0", "bbox": [0, 0, 500, 1000]}}\n</tool_call>'
REPORT: dict[str, Any] = {}


@pytest.fixture(scope="session")
def vllm_server() -> Iterator[VllmServer]:
    started = time.monotonic()
    python = ensure_env(quiet=True)
    REPORT["environment ready (s)"] = round(time.monotonic() - started, 1)
    checkpoint = ensure_checkpoint(python)
    with VllmServer(python, checkpoint, max_model_len=8192, image_limit=4) as server:
        REPORT["server start (s)"] = round(server.started_in_s, 1)
        yield server


@pytest.fixture(autouse=True)
def _allow_loopback(no_network: None) -> None:
    """The network guard stays on: the server is on 127.0.0.1."""


def settings(server: VllmServer, **kw: Any) -> Settings:
    base: dict[str, Any] = {
        "base_url": server.base_url,
        "model": TINY_MODEL_NAME,
        "retries": 0,
        "max_tokens": 48,
        "profile": "qwen2-vl",
    }
    return Settings(**{**base, **kw})


def picture(tmp_path: Path, size: tuple[int, int] = (224, 224), name: str = "p.png") -> Path:
    image = Image.new("RGB", size, "white")
    ImageDraw.Draw(image).ellipse([10, 10, size[0] // 2, size[1] // 2], fill="red")
    path = tmp_path / name
    image.save(path)
    return path


def metrics(server: VllmServer) -> dict[str, float]:
    text = httpx.get(f"{server.root_url}/metrics", timeout=10).text
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("vllm:") and " " in line:
            name = line.rsplit(" ", 1)[0]
            with contextlib.suppress(ValueError):
                out[name] = out.get(name, 0.0) + float(line.rsplit(" ", 1)[1])
    return out


def total(values: dict[str, float], prefix: str) -> float:
    return sum(v for k, v in values.items() if k.startswith(prefix))


def test_solve_graph_end_to_end(vllm_server: VllmServer, tmp_path: Path) -> None:
    result = solve(
        picture(tmp_path),
        "How many red circles?",
        settings=settings(vllm_server, max_steps=3, max_revisions=1),
    )
    assert result.status in ("verified", "unverified"), result.error
    assert result.usage["requests"] >= 1 and result.usage["prompt_tokens"] > 0


def test_forced_crop_call_is_executed_and_the_crop_sent_back(
    vllm_server: VllmServer, tmp_path: Path
) -> None:
    forced = {"structured_outputs": {"regex": re.escape(CROP_CALL)}}
    result = solve(
        picture(tmp_path, (448, 224)),
        "Look closer.",
        settings=settings(
            vllm_server, max_steps=2, max_revisions=0, max_tokens=400, extra_body=forced
        ),
    )
    assert result.status != "error", result.error
    assert result.tool_calls[0]["name"] == "crop" and result.tool_calls[0]["ok"]
    assert result.usage["requests"] == 2  # the server accepted the two-image request


def test_native_tool_call_round_trip(vllm_server: VllmServer, tmp_path: Path) -> None:
    """--tool-protocol native against vLLM's hermes tool parser: a forced named call comes back
    in delta.tool_calls, the tool runs, and its result goes back as a tool message the server
    accepts (the second request)."""
    forced = {"tool_choice": {"type": "function", "function": {"name": "calculate"}}}
    result = solve(
        picture(tmp_path),
        "What is 4 + 3?",
        settings=settings(
            vllm_server,
            max_steps=2,
            max_revisions=0,
            max_tokens=64,
            tool_protocol="native",
            extra_body=forced,
        ),
    )
    assert result.status != "error", result.error
    assert result.tool_calls and result.tool_calls[0]["name"] == "calculate"
    assert result.usage["requests"] == 2  # the tool message was accepted


def test_loop_guard_cancels_and_the_server_keeps_serving(
    vllm_server: VllmServer, tmp_path: Path
) -> None:
    loop = "(I will count the red circles again to be sure\\. ){60}"
    before = metrics(vllm_server)
    result = solve(
        picture(tmp_path),
        "How many?",
        settings=settings(
            vllm_server,
            max_steps=2,
            max_revisions=1,
            max_tokens=2000,
            extra_body={"structured_outputs": {"regex": loop}},
        ),
    )
    assert result.status == "unverified" and any(f["check"] == "loop" for f in result.findings)
    time.sleep(2)  # let the engine notice the closed connections
    after = metrics(vllm_server)
    generated = total(after, "vllm:generation_tokens_total") - total(
        before, "vllm:generation_tokens_total"
    )
    # The forced loop is about 1,800 tokens long: uncancelled, two replies would generate ~3,600.
    REPORT["tokens the server generated for two cancelled looping replies"] = generated
    assert result.usage["requests"] == 2 and generated < 1000
    assert total(after, "vllm:num_requests_running") == 0
    follow_up = solve(
        picture(tmp_path), "How many?", settings=settings(vllm_server, max_steps=1, max_revisions=0)
    )
    assert follow_up.status != "error", follow_up.error


def _prompt_tokens(
    server: VllmServer, image: Image.Image | None, extra_body: dict[str, Any] | None = None
) -> int:
    ctx = Context(
        settings=RunSettings(
            base_url=server.base_url,
            model=TINY_MODEL_NAME,
            max_tokens=1,
            retries=0,
            extra_body=extra_body or {},
        ),
        profile=get_profile("qwen2-vl"),
    )
    parts: list[Any] = []
    if image is not None:
        image_id = ctx.store.add_image(image)
        parts.append(
            {"type": "image_url", "image_url": {"url": ctx.store.data_url(image_id, ctx.profile)}}
        )
    parts.append({"type": "text", "text": "What is this?"})

    async def ask() -> int:
        async with httpx.AsyncClient() as client:
            reply = await build_chat_model(ctx, client).ainvoke([HumanMessage(content=parts)])
        usage = reply.usage_metadata
        assert usage is not None
        return int(usage["input_tokens"])

    return asyncio.run(ask())


def test_visual_token_estimate_matches_vllm(vllm_server: VllmServer) -> None:
    profile = get_profile("qwen2-vl")
    base = _prompt_tokens(vllm_server, None)
    rows = []
    for width, height in [(56, 56), (224, 168), (500, 300), (640, 480), (1000, 200), (123, 457)]:
        measured = _prompt_tokens(vllm_server, Image.new("RGB", (width, height), "gray")) - base
        estimate = visual_tokens(height, width, profile)
        rows.append((f"{width}x{height}", estimate, measured - 2))
        assert measured == estimate + 2, (width, height, estimate, measured)  # + vision start/end
    REPORT["visual tokens (size, estimate, vLLM)"] = rows


def test_mm_processor_kwargs_lower_prompt_tokens(vllm_server: VllmServer) -> None:
    image = Image.new("RGB", (448, 448), "gray")
    full = _prompt_tokens(vllm_server, image)
    small = _prompt_tokens(vllm_server, image, {"mm_processor_kwargs": {"max_pixels": 112 * 112}})
    REPORT["prompt tokens, 448x448 at default / max_pixels=12544"] = (full, small)
    assert small < full


def test_prefix_cache_hits_on_later_requests(vllm_server: VllmServer, tmp_path: Path) -> None:
    forced = {"structured_outputs": {"regex": re.escape(CROP_CALL)}}
    snapshots: list[dict[str, float]] = []

    def on_event(event: dict[str, Any]) -> None:
        if event.get("event") == "step" and event["step"] == 2:
            snapshots.append(metrics(vllm_server))

    result = solve(
        picture(tmp_path, (448, 224)),
        "Look closer.",
        on_event=on_event,
        settings=settings(
            vllm_server, max_steps=3, max_revisions=0, max_tokens=400, extra_body=forced
        ),
    )
    assert result.status != "error", result.error and result.usage["requests"] == 3
    end = metrics(vllm_server)
    hits = total(end, "vllm:prefix_cache_hits_total") - total(
        snapshots[0], "vllm:prefix_cache_hits_total"
    )
    queries = total(end, "vllm:prefix_cache_queries_total") - total(
        snapshots[0], "vllm:prefix_cache_queries_total"
    )
    rate = hits / queries
    REPORT["prefix-cache hit rate on requests 2-3"] = (
        f"{rate:.1%} ({hits:.0f}/{queries:.0f} tokens)"
    )
    assert rate >= 0.80


def test_request_over_the_context_length_is_a_clear_error(
    vllm_server: VllmServer, tmp_path: Path
) -> None:
    result = solve(
        picture(tmp_path), "Describe. " + "word " * 12000, settings=settings(vllm_server)
    )
    assert result.status == "error" and result.error is not None
    assert "400" in result.error and re.search(
        r"context length|max_model_len|maximum", result.error
    )


def test_more_images_than_the_server_allows_is_a_clear_error(
    vllm_server: VllmServer, tmp_path: Path
) -> None:
    images = [picture(tmp_path, (56, 56), f"i{i}.png") for i in range(5)]
    result = solve(images, "Compare.", settings=settings(vllm_server))
    assert result.status == "error" and result.error is not None
    assert "400" in result.error and re.search(r"image", result.error, re.IGNORECASE)
    REPORT["too many images error"] = result.error[:160]


def test_doctor_against_the_tiny_server(vllm_server: VllmServer) -> None:
    runner = CliRunner()
    result = runner.invoke(
        app,
        [
            "doctor",
            "--base-url",
            vllm_server.base_url,
            "--model",
            TINY_MODEL_NAME,
            "--profile",
            "qwen2-vl",
        ],
    )
    REPORT["doctor"] = "\n" + result.stdout
    rows = {
        line.split("│")[1].strip(): line
        for line in result.stdout.splitlines()
        if line.count("│") >= 3
    }
    for name in (
        "reachable",
        "model listed",
        "accepts an image",
        "honours stop strings",
        "streams",
        "prefix caching",
        "tool protocol",
    ):
        assert "pass" in rows[name], rows.get(name)
    assert "text and native" in rows["tool protocol"]
    # The tiny server is started with 4 images and 8192 tokens: the doctor says how to fix both.
    assert "fail" in rows["image limit"] and "fail" in rows["context length"]
    assert "fix image limit: start vLLM with --limit-mm-per-prompt" in result.stdout
    assert "fix context length: start vLLM with --max-model-len" in result.stdout
    assert result.exit_code == 1
