"""The ``ungrounded`` check (model-assisted, opt-in): is one concrete claim true in the image?

:func:`find_claim` is pure: it picks the last sentence before the final answer that states
something about a named region ("in the left half there are 3 circles", "the label at
[600, 0, 1000, 300] reads 12"). :func:`check_claim` crops that region from the user's image and
asks the model, without tools, whether the claim holds there; a "no" is a finding. The verifier
node runs it when ``ungrounded`` is among its checks; it costs one extra request per
verification.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from qvq_agent import prompts
from qvq_agent.agent.checks.base import Finding, make_finding
from qvq_agent.agent.checks.spans import NUMBER, sentences

REGIONS: dict[str, tuple[float, float, float, float]] = {
    "top left": (0, 0, 500, 500),
    "upper left": (0, 0, 500, 500),
    "top right": (500, 0, 1000, 500),
    "upper right": (500, 0, 1000, 500),
    "bottom left": (0, 500, 500, 1000),
    "lower left": (0, 500, 500, 1000),
    "bottom right": (500, 500, 1000, 1000),
    "lower right": (500, 500, 1000, 1000),
    "left": (0, 0, 500, 1000),
    "right": (500, 0, 1000, 1000),
    "top": (0, 0, 1000, 500),
    "upper": (0, 0, 1000, 500),
    "bottom": (0, 500, 1000, 1000),
    "lower": (0, 500, 1000, 1000),
    "center": (250, 250, 750, 750),
    "centre": (250, 250, 750, 750),
    "middle": (250, 250, 750, 750),
}
"""Region words and their boxes in the 0-1000 frame."""

_REGION = re.compile(
    r"\b(?:in|on|at|of)\s+the\s+((?:top|upper|bottom|lower)[- ](?:left|right)|left|right|top|upper|"
    r"bottom|lower|center|centre|middle)\s*(?:half|side|part|corner|quadrant|region|edge|area)?\b",
    re.IGNORECASE,
)
_BOX = re.compile(
    r"\[\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*\]"
)
_CLAIMING = re.compile(
    r"\bthere (?:is|are)\b|\b(?:reads?|says|shows?|labell?ed|contains?)\b", re.IGNORECASE
)


@dataclass(frozen=True)
class Claim:
    """A concrete claim about a region of the image."""

    text: str
    start: int
    end: int
    box: tuple[float, float, float, float]
    """The region in the 0-1000 frame (or the profile's frame, for a box written in the text)."""
    frame_given: bool
    """True when the box was written in the trace (the profile's frame), not a region word."""


def find_claim(text: str, before: int | None = None) -> Claim | None:
    """The last checkable claim before offset ``before`` (the final answer), if any."""
    limit = len(text) if before is None else before
    found = None
    for sentence in sentences(text[:limit]):
        if not (NUMBER.search(sentence.text) or _CLAIMING.search(sentence.text)):
            continue
        box_match = _BOX.search(sentence.text)
        if box_match:
            box = tuple(float(v) for v in box_match.groups())
            found = Claim(sentence.text, sentence.start, sentence.end, box, True)  # type: ignore[arg-type]
            continue
        region = _REGION.search(sentence.text)
        if region:
            key = region.group(1).lower().replace("-", " ")
            found = Claim(sentence.text, sentence.start, sentence.end, REGIONS[key], False)
    return found


def verdict_says_no(reply: str) -> bool:
    """True when the model's answer to the grounding question starts with "no"."""
    return bool(re.match(r"\W*(?:no|false|incorrect|不)\b", reply.strip(), re.IGNORECASE))


def ungrounded_finding(text: str, claim: Claim, reply: str) -> Finding:
    """The finding for a claim the model could not confirm on the crop."""
    box = ", ".join(f"{v:g}" for v in claim.box)
    return make_finding(
        "ungrounded",
        prompts.FINDING_UNGROUNDED.format(
            claim=claim.text[:120], box=box, reply=reply.strip()[:160]
        ),
        text,
        claim.start,
        claim.end,
    )
