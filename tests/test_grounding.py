"""The model-assisted ``ungrounded`` check: a claim about a region is asked about on a crop."""

from __future__ import annotations

import asyncio
import base64
import io
from collections.abc import Sequence
from pathlib import Path

from langchain_core.messages import BaseMessage
from PIL import Image

from qvq_agent.agent.checks import DEFAULT_CHECKS
from qvq_agent.agent.checks.grounding import find_claim, verdict_says_no
from qvq_agent.agent.context import Context
from qvq_agent.solver import asolve
from qvq_agent.testing import ScriptedChatModel

CLAIM = "In the left half there are 3 red circles.\n\n**Final Answer**\n\n3"


def test_find_claim() -> None:
    claim = find_claim("First I look. In the left half there are 3 red circles. So 3.")
    assert claim is not None and claim.box == (0, 0, 500, 1000) and not claim.frame_given
    boxed = find_claim("The label at [600, 0, 1000, 300] reads 12.")
    assert boxed is not None and boxed.box == (600, 0, 1000, 300) and boxed.frame_given
    assert find_claim("It is a nice picture.") is None


def test_verdicts() -> None:
    assert verdict_says_no("No, there are only two.")
    assert verdict_says_no("  no.")
    assert not verdict_says_no("Yes, three red circles.")
    assert not verdict_says_no("Nothing to add; yes.")


def crop_size(messages: Sequence[BaseMessage]) -> tuple[int, int]:
    (message,) = messages
    assert isinstance(message.content, list)
    url = next(
        p["image_url"]["url"]
        for p in message.content
        if isinstance(p, dict) and p.get("type") == "image_url"
    )
    return Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).size


def test_a_refuted_claim_is_revised(scene_path: Path) -> None:
    model = ScriptedChatModel(
        script=[CLAIM, "No, I see 2 red circles there.", "I recounted: 2.\n\n**Final Answer**\n\n2"]
    )
    context = Context(chat_model=model, checks=(*DEFAULT_CHECKS, "ungrounded"))
    result = asyncio.run(asolve(scene_path, "How many red circles?", context=context))
    assert result.answer == "2" and result.revisions == 1 and result.status == "verified"
    width, height = crop_size(model.requests[1]["messages"])
    assert abs(width / height - 600 / 800) < 0.05  # the left half of a 1200x800 image
    critique = str(model.requests[2]["messages"][-1].content)
    assert "does not hold" in critique and "[0, 0, 500, 1000]" in critique
    assert result.usage["requests"] == 3  # two replies and one grounding question


def test_off_by_default(scene_path: Path) -> None:
    model = ScriptedChatModel(script=[CLAIM])
    result = asyncio.run(
        asolve(scene_path, "How many red circles?", context=Context(chat_model=model))
    )
    assert result.answer == "3" and len(model.requests) == 1
