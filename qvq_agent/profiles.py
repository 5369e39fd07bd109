"""Model profiles: what differs between model families, as data.

A profile fixes the coordinate frame the model uses for boxes, its system prompt, how tools
are called, the pixel budget of each image, sampling defaults, stop strings, how the final
answer is marked and where the reasoning arrives.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

from qvq_agent import prompts

CoordFrame = Literal["norm1000", "pixels", "norm1"]
ToolProtocol = Literal["text", "native"]
ReasoningField = Literal["content", "reasoning_content"]

DEFAULT_MARKERS = ("**Final Answer**", "**答案**", "\\boxed{", "<answer>")
"""How final answers are marked unless a profile says otherwise, most specific first."""

TOOL_CALL_STOP = "</tool_call>"
PATCH_FACTOR = 28
"""Qwen2-VL: 14-pixel patches merged 2x2, so image sides are multiples of 28."""
QWEN3_PATCH_FACTOR = 32
"""Qwen3-VL: 16-pixel patches merged 2x2."""


@dataclass(frozen=True, kw_only=True)
class ModelProfile:
    """What the agent needs to know about one model family."""

    name: str
    """Profile name (``qvq``, ``qwen2-vl``, ...)."""
    coord_frame: CoordFrame
    """Frame of boxes and points the model writes: 0-1000, resized-image pixels, or 0-1."""
    system_prompt: str
    """System prompt; the tool manifest is appended to it."""
    tool_protocol: ToolProtocol = "text"
    """``text``: Hermes-style <tool_call> blocks in the reply; ``native``: server tool calls."""
    min_pixels: int = 4 * PATCH_FACTOR * PATCH_FACTOR
    """Smallest image area sent (pixels), after resizing."""
    max_pixels: int = 1280 * PATCH_FACTOR * PATCH_FACTOR
    """Largest image area sent (pixels), after resizing."""
    patch_factor: int = PATCH_FACTOR
    """Image sides are rounded to multiples of this."""
    temperature: float | None = None
    """Sampling temperature; ``None`` leaves the server's default."""
    max_new_tokens: int = 8192
    """Completion tokens per request."""
    stop: tuple[str, ...] = (TOOL_CALL_STOP,)
    """Stop strings sent with every request."""
    answer_markers: tuple[str, ...] = DEFAULT_MARKERS
    """How a final answer is marked, most specific first."""
    reasoning_field: ReasoningField = "content"
    """Where the reasoning arrives in the server's reply: ``content`` (inline, maybe in
    ``<think>``), or ``reasoning_content`` (a separate field; the client reads it either way and
    puts it back inside ``<think>...</think>`` so the whole trace is verified)."""
    max_images: int = 8
    """Images per request the server accepts (``--limit-mm-per-prompt``)."""
    aliases: tuple[str, ...] = field(default=())
    """Lower-case substrings of model names that select this profile."""

    def with_pixels(
        self, *, min_pixels: int | None = None, max_pixels: int | None = None
    ) -> ModelProfile:
        """A copy with another pixel budget."""
        return replace(
            self,
            min_pixels=min_pixels if min_pixels is not None else self.min_pixels,
            max_pixels=max_pixels if max_pixels is not None else self.max_pixels,
        )


PROFILES: dict[str, ModelProfile] = {
    p.name: p
    for p in (
        ModelProfile(
            name="qvq-max",
            coord_frame="norm1000",
            system_prompt=prompts.QVQ_SYSTEM,
            reasoning_field="reasoning_content",
            aliases=("qvq-max", "qvq_max"),
        ),
        ModelProfile(
            name="qvq",
            coord_frame="norm1000",
            system_prompt=prompts.QVQ_SYSTEM,
            aliases=("qvq",),
        ),
        ModelProfile(
            name="qwen3-vl",
            coord_frame="norm1000",
            system_prompt=prompts.GENERIC_SYSTEM,
            # 16-pixel patches merged 2x2: sides are multiples of 32.
            patch_factor=QWEN3_PATCH_FACTOR,
            min_pixels=64 * QWEN3_PATCH_FACTOR * QWEN3_PATCH_FACTOR,
            max_pixels=1280 * QWEN3_PATCH_FACTOR * QWEN3_PATCH_FACTOR,
            reasoning_field="reasoning_content",
            aliases=("qwen3-vl", "qwen3_vl", "qwen3vl"),
        ),
        ModelProfile(
            name="qwen2.5-vl",
            coord_frame="pixels",
            system_prompt=prompts.GENERIC_SYSTEM,
            max_new_tokens=4096,
            aliases=("qwen2.5-vl", "qwen2_5-vl", "qwen2_5_vl", "qwen2.5vl"),
        ),
        ModelProfile(
            name="qwen2-vl",
            coord_frame="norm1000",
            system_prompt=prompts.GENERIC_SYSTEM,
            max_new_tokens=4096,
            aliases=("qwen2-vl", "qwen2_vl", "qwen2vl"),
        ),
        ModelProfile(
            name="openai",
            coord_frame="norm1",
            system_prompt=prompts.GENERIC_SYSTEM,
            max_pixels=2048 * 768,
            max_new_tokens=4096,
            aliases=("gpt-", "o1", "o3", "o4"),
        ),
    )
}

DEFAULT_PROFILE = "qvq"


class UnknownProfileError(ValueError):
    """A profile name that is not in :data:`PROFILES`."""


def get_profile(name: str) -> ModelProfile:
    """The profile called ``name``.

    Raises:
        UnknownProfileError: no such profile; the message lists the known ones.
    """
    try:
        return PROFILES[name]
    except KeyError:
        known = ", ".join(sorted(PROFILES))
        raise UnknownProfileError(f"unknown profile {name!r}; known profiles: {known}") from None


def profile_for_model(model: str) -> ModelProfile:
    """Pick the profile from a model name (``Qwen/QVQ-72B-Preview`` -> ``qvq``); default ``qvq``."""
    lowered = model.lower()
    for profile in PROFILES.values():
        if any(alias in lowered for alias in profile.aliases):
            return profile
    return PROFILES[DEFAULT_PROFILE]


def resolve_profile(model: str, name: str | None) -> ModelProfile:
    """The named profile, or the one the model name implies."""
    return get_profile(name) if name else profile_for_model(model)
