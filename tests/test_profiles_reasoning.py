"""Qwen3-VL and QVQ-Max: their frame and pixel budget, and reasoning that arrives in its own
field (``reasoning_content`` / ``reasoning``), streamed by the replay server."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from qvq_agent import Settings, solve
from qvq_agent.images import ImageStore, seen_size
from qvq_agent.profiles import get_profile, profile_for_model
from qvq_agent.testing import ReplayServer, Reply
from qvq_agent.tools import ToolEnv, default_registry

CROP = '<tool_call>\n{"name": "crop", "arguments": {"image": "img0", "bbox": [0, 0, 500, 1000]}}\n</tool_call>'


def test_qwen3_vl_profile() -> None:
    profile = profile_for_model("Qwen/Qwen3-VL-8B-Thinking")
    assert profile.name == "qwen3-vl" and profile.coord_frame == "norm1000"
    assert profile.patch_factor == 32
    h, w = seen_size(3000, 4000, profile)
    assert h % 32 == 0 and w % 32 == 0 and h * w <= profile.max_pixels


def test_a_box_lands_on_the_same_pixels_as_with_qvq() -> None:
    image = Image.new("RGB", (1920, 1088), "white")  # a Qwen3-VL-sized image (multiples of 32)
    crops = []
    for name in ("qwen3-vl", "qvq"):
        store = ImageStore()
        store.add_image(image)
        result = (
            default_registry()
            .get("crop")
            .run(  # type: ignore[union-attr]
                ToolEnv(store, get_profile(name)), {"image": "img0", "bbox": [250, 125, 750, 875]}
            )
        )
        assert result.ok
        crops.append(store.box_to_root("img1", (0, 0, *store.get("img1").size)))
    assert crops[0] == crops[1] == (480.0, 136.0, 1440.0, 952.0)


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
def test_qvq_max_reasoning_is_surfaced_and_verified(scene_path: Path, field: str) -> None:
    looping = "Let me count the circles again to be sure they are all there. " * 40
    script = [
        Reply("**Final Answer**\n\n7", reasoning=looping, reasoning_field=field),
        Reply(
            "**Final Answer**\n\n7",
            reasoning="4 on the left, 3 on the right: 7.",
            reasoning_field=field,
        ),
    ]
    with ReplayServer(script) as server:
        settings = Settings(base_url=server.base_url, model="qvq-max", retries=0)
        result = solve(scene_path, "How many circles?", settings=settings)
        sent_back = str(server.requests[1].body["messages"][-2]["content"])
    # The first reply's reasoning looped: the loop guard read it, and the model was sent back.
    assert result.revisions == 1 and result.status == "verified" and result.answer == "7"
    assert sent_back.startswith("<think>\nLet me count the circles")
    assert "</think>\n\n**Final Answer**" not in sent_back  # cut while thinking, never closed


def test_a_tool_call_written_while_thinking_is_found(scene_path: Path) -> None:
    script = [
        Reply("", reasoning=f"I should look at the left half first.\n{CROP}\nmore thinking"),
        Reply("**Final Answer**\n\n7", reasoning="The crop shows 4 + 3 = 7."),
    ]
    with ReplayServer(script) as server:
        settings = Settings(base_url=server.base_url, model="Qwen/Qwen3-VL-8B-Thinking", retries=0)
        result = solve(scene_path, "How many circles?", settings=settings)
    assert [c["name"] for c in result.tool_calls] == ["crop"] and result.tool_calls[0]["ok"]
    assert result.answer == "7" and result.status == "verified"
