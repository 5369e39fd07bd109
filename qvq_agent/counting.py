"""Counting geometry: tiles from the pixel budget, merging points across overlapping tiles, each
tile's own core, and a classical OpenCV counter for simple scenes.

Pure functions over pixel coordinates; the count graph (``graphs/count.py``) calls them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

from qvq_agent.profiles import ModelProfile
from qvq_agent.untrusted import UntrustedJSONError, load_json

MAX_TILES = 48
MAX_TILE_SIDE = 12
"""A forced tiling has at most this many rows and columns."""
OVERLAP_SHARE = 0.15
MIN_OVERLAP_PX = 48

Point = tuple[float, float]
PixelBox = tuple[int, int, int, int]


@dataclass(frozen=True)
class TilePlan:
    """How an image is cut: ``rows`` x ``cols`` tiles of boxes in original pixels."""

    rows: int
    cols: int
    boxes: list[PixelBox]
    overlap: int


def plan_tiles(
    width: int, height: int, profile: ModelProfile, force: tuple[int, int] | None = None
) -> TilePlan:
    """Overlapping tiles, each about the profile's pixel budget (so nothing is downscaled much).

    More tiles for bigger images, at most :data:`MAX_TILES`; ``force`` = (rows, cols).
    """
    if force is not None:
        rows, cols = force
    else:
        side = math.sqrt(profile.max_pixels)
        cols = max(1, math.ceil(width / (side * (1 - OVERLAP_SHARE))))
        rows = max(1, math.ceil(height / (side * (1 - OVERLAP_SHARE))))
        while rows * cols > MAX_TILES:
            rows, cols = max(1, rows - (rows >= cols)), max(1, cols - (cols > rows))
    if rows * cols == 1:
        return TilePlan(1, 1, [(0, 0, width, height)], 0)
    tile_w, tile_h = width / cols, height / rows
    overlap = max(MIN_OVERLAP_PX, round(OVERLAP_SHARE * min(tile_w, tile_h)))
    boxes = []
    for r in range(rows):
        for c in range(cols):
            x1 = max(0, round(c * tile_w - overlap / 2))
            y1 = max(0, round(r * tile_h - overlap / 2))
            x2 = min(width, round((c + 1) * tile_w + overlap / 2))
            y2 = min(height, round((r + 1) * tile_h + overlap / 2))
            boxes.append((x1, y1, x2, y2))
    return TilePlan(rows, cols, boxes, overlap)


def parse_tiling(text: str) -> tuple[int, int] | None:
    """``auto`` (or empty) -> ``None``; ``RxC`` (like ``3x4``) -> ``(3, 4)``.

    Raises:
        ValueError: anything else, or rows/columns outside 1 to :data:`MAX_TILE_SIDE`.
    """
    if text.strip().lower() in ("", "auto"):
        return None
    try:
        rows, cols = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"the tiling must be auto or RxC (like 3x4), not {text!r}") from None
    if not (1 <= rows <= MAX_TILE_SIDE and 1 <= cols <= MAX_TILE_SIDE):
        raise ValueError(f"the tiling's rows and columns must be between 1 and {MAX_TILE_SIDE}")
    return rows, cols


def match_radius(point_sets: Sequence[Sequence[Sequence[float]]], overlap: int) -> float:
    """How far apart two sightings of one object may be: under half the smallest spacing of the
    objects seen in any one set, and under half the tiles' overlap."""
    spacing = math.inf
    for pts in point_sets:
        for i in range(len(pts)):
            for j in range(i + 1, len(pts)):
                spacing = min(spacing, math.dist(pts[i], pts[j]))
    overlap_half = max(overlap, 2) / 2
    return min(overlap_half, 0.5 * spacing) if math.isfinite(spacing) else overlap_half


def tile_core(
    box: Sequence[int], overlap: int, boxes: Sequence[Sequence[int]]
) -> tuple[float, float, float, float]:
    """The part of a tile no other tile judges: its box shrunk by half the overlap on every side
    that is not the image's edge."""
    x1, y1, x2, y2 = box
    xs = [b[0] for b in boxes] + [b[2] for b in boxes]
    ys = [b[1] for b in boxes] + [b[3] for b in boxes]
    half = overlap / 2
    return (
        x1 + (half if x1 > min(xs) else 0),
        y1 + (half if y1 > min(ys) else 0),
        x2 - (half if x2 < max(xs) else 0),
        y2 - (half if y2 < max(ys) else 0),
    )


def in_box(point: Sequence[float], box: Sequence[float]) -> bool:
    """True when ``point`` lies in ``box`` (edges included)."""
    return box[0] <= point[0] <= box[2] and box[1] <= point[1] <= box[3]


_OPEN = re.compile(r"\[\s*\[|\[\s*\]")
_CLOSE = re.compile(r"\]\s*\]")


MAX_ANSWER_CHARS = 50_000
MAX_POINTS = 2_000


def parse_points(answer: str | None) -> list[Point] | None:
    """A JSON list of ``[x, y]`` pairs from a final answer (``None`` when there is none).

    Pairs that are not two finite numbers (NaN, infinity, a 400-digit number, ``true``) are
    dropped; at most :data:`MAX_POINTS` are read.
    """
    if answer is None:
        return None
    text = answer[:MAX_ANSWER_CHARS]
    opening = _OPEN.search(text)  # linear: one search for the start, one for the end
    if not opening:
        return None
    if opening.group().endswith("]"):
        return []
    closing = _CLOSE.search(text, opening.end())
    if not closing:
        return None
    try:
        rows = load_json(text[opening.start() : closing.end()])
    except UntrustedJSONError:
        return None
    points: list[Point] = []
    for row in rows if isinstance(rows, list) else []:
        if len(points) >= MAX_POINTS:
            break
        if not (isinstance(row, list) and len(row) == 2):
            continue
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in row):
            continue
        try:
            x, y = float(row[0]), float(row[1])
        except OverflowError:
            continue
        if math.isfinite(x) and math.isfinite(y):
            points.append((x, y))
    return points


def _inside(point: Point, box: PixelBox, margin: float = 0.0) -> bool:
    x, y = point
    return box[0] - margin <= x <= box[2] + margin and box[1] - margin <= y <= box[3] + margin


def merge_points(
    per_tile: dict[int, list[Point]], boxes: list[PixelBox], radius: float
) -> list[Point]:
    """One point per object from tiles that overlap.

    Two tiles that overlap both see the objects in their shared strip (whole or cut by the
    border, then the centre of the visible part, within ``radius`` of the true centre). Points of
    two such tiles that lie in the shared strip are paired by mutual nearest neighbour within
    ``radius``; pairs are joined across all tiles (union-find), so an object on a tile corner
    counts once. Each group keeps the point farthest from its tile's border (the least cut one).
    """
    flat = [(tile, p) for tile, pts in sorted(per_tile.items()) for p in pts]
    parent = list(range(len(flat)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    by_tile: dict[int, list[int]] = {}
    for index, (tile, _) in enumerate(flat):
        by_tile.setdefault(tile, []).append(index)
    tiles = sorted(by_tile)
    for a_pos, a in enumerate(tiles):
        for b in tiles[a_pos + 1 :]:
            strip = (
                max(boxes[a][0], boxes[b][0]),
                max(boxes[a][1], boxes[b][1]),
                min(boxes[a][2], boxes[b][2]),
                min(boxes[a][3], boxes[b][3]),
            )
            if strip[0] >= strip[2] or strip[1] >= strip[3]:
                continue
            left = [i for i in by_tile[a] if _inside(flat[i][1], strip, radius)]
            right = [j for j in by_tile[b] if _inside(flat[j][1], strip, radius)]
            if not left or not right:
                continue
            dist = np.array([[math.dist(flat[i][1], flat[j][1]) for j in right] for i in left])
            for li, i in enumerate(left):
                rj = int(np.argmin(dist[li]))
                if dist[li, rj] <= radius and int(np.argmin(dist[:, rj])) == li:
                    parent[find(i)] = find(right[rj])
    groups: dict[int, list[int]] = {}
    for index in range(len(flat)):
        groups.setdefault(find(index), []).append(index)
    merged = []
    for members in groups.values():

        def depth(i: int) -> float:
            tile, (x, y) = flat[i]
            x1, y1, x2, y2 = boxes[tile]
            return min(x - x1, x2 - x, y - y1, y2 - y)

        best = max(members, key=depth)
        merged.append(flat[best][1])
    return sorted(merged, key=lambda p: (p[1], p[0]))


def count_discs_cv(image: Image.Image, *, min_area: int = 12) -> list[Point]:
    """Centres of solid blobs that differ from the background (drawn discs, coins, cells).

    Limits: assumes a plain, light or uniform background and separated objects; touching
    objects count as one; outlines, text and thin lines are ignored by their small filled area.
    Not for photos.
    """
    gray = cv2.cvtColor(np.asarray(image.convert("RGB")), cv2.COLOR_RGB2GRAY)
    background = int(np.median(gray))
    diff = cv2.absdiff(gray, np.full_like(gray, background))
    _, mask = cv2.threshold(diff, 40, 255, cv2.THRESH_BINARY)
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    count, _, stats, centroids = cv2.connectedComponentsWithStats(mask)
    points: list[Point] = []
    for label in range(1, count):
        _, _, w, h, area = stats[label]
        fill = area / float(w * h)
        if area >= min_area and fill > 0.5 and 0.5 < w / h < 2.0:
            points.append((float(centroids[label][0]), float(centroids[label][1])))
    return sorted(points, key=lambda p: (p[1], p[0]))
