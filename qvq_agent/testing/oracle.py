"""An oracle "model" for the count graph: it answers every request with the exact centres of the
target discs in the last image it received, in that image's 0-1000 frame.

Used with :class:`~qvq_agent.testing.ReplayServer` by the count tests, the count benchmark and
``qvq-agent demo``;
it is what a perfect counter would answer, so the graph's tiling, merging and verification are
tested on their own.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np
from PIL import Image

BLUE = (30, 60, 220)
RED = (220, 40, 40)


def last_image(body: dict[str, Any]) -> Image.Image:
    """The last image of a chat request body."""
    urls = [
        part["image_url"]["url"]
        for message in body["messages"]
        if isinstance(message.get("content"), list)
        for part in message["content"]
        if part.get("type") == "image_url"
    ]
    return Image.open(io.BytesIO(base64.b64decode(urls[-1].split(",", 1)[1]))).convert("RGB")


def disc_centres(
    image: Image.Image, colour: tuple[int, int, int] = BLUE, min_area: int = 4
) -> list[tuple[float, float]]:
    """Centres of the solid blobs of ``colour`` (outlines and other colours are ignored)."""
    pixels = np.asarray(image).astype(int)
    mask = (np.abs(pixels - np.array(colour)).sum(axis=2) < 120).astype(np.uint8)
    # Like a person, see through the small marks drawn on an object (fill its holes).
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
    _, _, stats, centroids = cv2.connectedComponentsWithStats(mask)
    return [
        (float(c[0]), float(c[1]))
        for label, c in enumerate(centroids)
        if label and stats[label][4] >= min_area
    ]


def oracle(colour: tuple[int, int, int] = BLUE) -> Callable[[dict[str, Any]], str]:
    """A replay script item that answers with the centres of ``colour`` discs."""

    def answer(body: dict[str, Any]) -> str:
        image = last_image(body)
        points = [
            [round(x * 1000 / image.width), round(y * 1000 / image.height)]
            for x, y in disc_centres(image, colour)
        ]
        return f"The objects are solid blue discs.\n\n**Final Answer**\n\n{json.dumps(points)}"

    return answer
