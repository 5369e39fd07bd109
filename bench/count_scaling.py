"""Count graph cost against image size: model requests and visual tokens per image, 1 to 24 MP.

    python bench/count_scaling.py

Each image has solid blue discs (20 per megapixel) among red distractors; the loopback oracle
server answers every request with the exact centres of the blue discs in the image it got, so
the count must come out exact and the figures are the graph's own cost. Visual tokens are read
off the images the server received (Qwen2-VL: one token per 28x28 pixels).
"""

from __future__ import annotations

import base64
import io
import math
import random
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image, ImageDraw

from qvq_agent import Settings
from qvq_agent.solver import count
from qvq_agent.testing import ReplayServer
from qvq_agent.testing.oracle import BLUE, RED, oracle

SIZES = [(1224, 816), (2448, 1632), (4243, 2828), (6000, 4000)]
PER_MEGAPIXEL = 20


def picture(size: tuple[int, int], n: int, seed: int) -> Image.Image:
    rng = random.Random(seed)
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    centres: list[tuple[int, int]] = []
    while len(centres) < n:
        c = (rng.randint(20, size[0] - 20), rng.randint(20, size[1] - 20))
        if all(math.dist(c, o) > 60 for o in centres):
            centres.append(c)
    for _ in range(n // 3):
        x, y = rng.randint(20, size[0] - 20), rng.randint(20, size[1] - 20)
        draw.ellipse([x - 10, y - 10, x + 10, y + 10], fill=RED)
    for x, y in centres:
        draw.ellipse([x - 12, y - 12, x + 12, y + 12], fill=BLUE)
    return image


def visual_tokens(body: dict[str, object]) -> int:
    total = 0
    for message in body["messages"]:  # type: ignore[attr-defined]
        if isinstance(message.get("content"), list):
            for part in message["content"]:
                if part.get("type") == "image_url":
                    data = base64.b64decode(part["image_url"]["url"].split(",", 1)[1])
                    width, height = Image.open(io.BytesIO(data)).size
                    total += (width // 28) * (height // 28)
    return total


def main() -> int:
    print(
        f"{'image':>11} {'MP':>5} {'objects':>7} {'counted':>7} {'tiles':>5} {'requests':>8} "
        f"{'visual tokens':>13} {'per MP':>7} {'seconds':>7}"
    )
    exact = True
    with tempfile.TemporaryDirectory() as folder:
        for seed, size in enumerate(SIZES):
            megapixels = size[0] * size[1] / 1e6
            n = round(PER_MEGAPIXEL * megapixels)
            path = Path(folder) / f"{size[0]}x{size[1]}.png"
            picture(size, n, seed).save(path)
            with ReplayServer([oracle()], repeat_last=True) as server:
                started = time.monotonic()
                result = count(
                    path,
                    "How many blue discs?",
                    settings=Settings(base_url=server.base_url, retries=0),
                )
                seconds = time.monotonic() - started
                tokens = sum(visual_tokens(r.body) for r in server.requests)
            exact &= result.answer == n
            print(
                f"{size[0]:>5}x{size[1]:<5} {megapixels:>5.1f} {n:>7} {result.answer!s:>7} {result.tiles:>5} "
                f"{result.requests:>8} {tokens:>13,} {tokens / megapixels:>7,.0f} {seconds:>7.1f}"
            )
    print("every count exact" if exact else "SOME COUNTS WRONG")
    return 0 if exact else 1


if __name__ == "__main__":
    sys.exit(main())
