"""Image tools: crop, zoom, rotate, enhance, grid, mark.

Boxes and points arrive in the profile's coordinate frame; each tool converts them to pixels of
the image it works on, and every image it makes records its affine map back to that image.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont, ImageOps
from pydantic import BaseModel, ConfigDict, Field, field_validator

from qvq_agent.images import MAX_ASPECT_RATIO, ImageStore
from qvq_agent.prompts import IMAGE_RESULT
from qvq_agent.tools.registry import Tool, ToolEnv, ToolError, ToolResult, tool

MAX_OUTPUT_PIXELS = 16_000_000
"""A tool never makes an image larger than this (a 4x zoom of a large photo would)."""
MAX_MARKS = 300
MAX_GRID = 20

BOX_HELP = "[x1, y1, x2, y2] in the coordinate frame given above (x1 < x2, y1 < y2)"


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ImageArgs(_Args):
    image: str = Field(description="id of the image to work on, e.g. img0")


class BoxArgs(ImageArgs):
    bbox: list[float] = Field(description=BOX_HELP)

    @field_validator("bbox", mode="before")
    @classmethod
    def _four_numbers(cls, value: object) -> object:
        if not isinstance(value, list | tuple) or len(value) != 4:
            got = f"{len(value)} values" if isinstance(value, list | tuple) else repr(value)
            raise ValueError(f"must be four numbers {BOX_HELP}; got {got}")
        return value


class ZoomArgs(BoxArgs):
    factor: float = Field(2.0, gt=1.0, le=4.0, description="upscaling factor, above 1, at most 4")


class RotateArgs(ImageArgs):
    degrees: float = Field(description="angle in degrees, counter-clockwise")


class EnhanceArgs(ImageArgs):
    mode: Literal["contrast", "sharpen", "grayscale", "invert", "threshold"] = Field(
        description="contrast, sharpen, grayscale, invert or threshold"
    )


class GridArgs(ImageArgs):
    rows: int = Field(ge=1, le=MAX_GRID, description=f"rows, 1 to {MAX_GRID}")
    cols: int = Field(ge=1, le=MAX_GRID, description=f"columns, 1 to {MAX_GRID}")


class MarkArgs(ImageArgs):
    points: list[list[float]] = Field(
        description="points [[x, y], ...] in the coordinate frame given above"
    )

    @field_validator("points")
    @classmethod
    def _pairs(cls, value: list[list[float]]) -> list[list[float]]:
        if not value:
            raise ValueError("give at least one point [x, y]")
        if len(value) > MAX_MARKS:
            raise ValueError(f"at most {MAX_MARKS} points")
        for i, point in enumerate(value):
            if len(point) != 2:
                raise ValueError(f"point {i} must be [x, y]; got {point}")
        return value


def _translate(dx: float, dy: float) -> np.ndarray:
    return np.array([[1.0, 0.0, dx], [0.0, 1.0, dy], [0.0, 0.0, 1.0]])


def _scale(sx: float, sy: float) -> np.ndarray:
    return np.diag([sx, sy, 1.0])


def _fmt(values: list[float] | tuple[float, ...]) -> str:
    return "[" + ", ".join(f"{v:g}" for v in values) + "]"


def pixel_box(
    env: ToolEnv, image_id: str, bbox: list[float]
) -> tuple[tuple[int, int, int, int], str]:
    """Convert a box in the profile's frame to whole pixels of ``image_id``, clamped.

    Returns:
        The pixel box and a note ("" when nothing was clamped).

    Raises:
        ToolError: the box is empty, inverted, or entirely outside the image.
    """
    frame = env.profile.coord_frame
    max_x, max_y = env.store.frame_extent(image_id, frame, env.profile)
    x1, y1, x2, y2 = bbox
    if not all(math.isfinite(v) for v in bbox):
        raise ToolError(f"bbox {_fmt(bbox)} has a value that is not a finite number")
    if x2 <= x1 or y2 <= y1:
        raise ToolError(f"bbox {_fmt(bbox)} is empty or inverted: it must be {BOX_HELP}")
    cx1, cy1 = min(max(x1, 0.0), max_x), min(max(y1, 0.0), max_y)
    cx2, cy2 = min(max(x2, 0.0), max_x), min(max(y2, 0.0), max_y)
    if cx2 <= cx1 or cy2 <= cy1:
        raise ToolError(
            f"bbox {_fmt(bbox)} lies outside image {image_id}, whose frame runs from "
            f"[0, 0] to [{max_x:g}, {max_y:g}]"
        )
    note = ""
    if (cx1, cy1, cx2, cy2) != (x1, y1, x2, y2):
        note = f" (bbox clamped to the image: {_fmt([cx1, cy1, cx2, cy2])})"
    sx, sy = env.store.frame_scale(image_id, frame, env.profile)
    width, height = env.store.get(image_id).size
    px1 = min(round(cx1 * sx), width - 1)
    py1 = min(round(cy1 * sy), height - 1)
    px2 = min(max(round(cx2 * sx), px1 + 1), width)
    py2 = min(max(round(cy2 * sy), py1 + 1), height)
    check_shape(px2 - px1, py2 - py1, f"bbox {_fmt(bbox)}")
    return (px1, py1, px2, py2), note


def check_shape(width: int, height: int, what: str) -> None:
    """Refuse an image the model cannot be sent (thinner than 1:200), before it is made.

    Raises:
        ToolError: naming ``what`` and what to do instead.
    """
    if max(width, height) > MAX_ASPECT_RATIO * min(width, height):
        raise ToolError(
            f"{what} gives a {width}x{height} image, thinner than 1:{MAX_ASPECT_RATIO}, which "
            "the model cannot take; make the box wider or taller"
        )


def frame_points(
    env: ToolEnv, image_id: str, points: list[list[float]]
) -> list[tuple[float, float]]:
    """Convert points in the profile's frame to pixels of ``image_id``."""
    max_x, max_y = env.store.frame_extent(image_id, env.profile.coord_frame, env.profile)
    sx, sy = env.store.frame_scale(image_id, env.profile.coord_frame, env.profile)
    out = []
    for i, (x, y) in enumerate(points):
        if not (0 <= x <= max_x and 0 <= y <= max_y):
            raise ToolError(
                f"point {i} {_fmt([x, y])} lies outside image {image_id}, whose frame runs "
                f"from [0, 0] to [{max_x:g}, {max_y:g}]"
            )
        out.append((x * sx, y * sy))
    return out


def _result(env: ToolEnv, what: str, image_id: str) -> ToolResult:
    width, height = env.store.get(image_id).size
    text = IMAGE_RESULT.format(what=what, image_id=image_id, width=width, height=height)
    if env.profile.coord_frame == "pixels":
        seen_w, seen_h = env.store.resized_size(image_id, env.profile)
        text += f" You see it as {seen_w}x{seen_h}; give boxes on it in those pixels."
    return ToolResult(True, text, (image_id,), value=image_id)


@tool(BoxArgs)
def tool_crop(env: ToolEnv, args: BoxArgs) -> ToolResult:
    """Cut out a region of an image to look at it closely; returns the region as a new image."""
    box, note = pixel_box(env, args.image, args.bbox)
    new_id = env.store.crop(args.image, box)
    return _result(env, f"Cropped {args.image} at {_fmt(args.bbox)}{note}", new_id)


@tool(ZoomArgs)
def tool_zoom(env: ToolEnv, args: ZoomArgs) -> ToolResult:
    """Cut out a region and enlarge it by `factor` (2 by default, at most 4) to see small details."""
    box, note = pixel_box(env, args.image, args.bbox)
    width, height = box[2] - box[0], box[3] - box[1]
    factor = args.factor
    # Never build more pixels than the model is sent: a zoom past the pixel budget would be
    # shrunk back before sending, so it is made at the budget directly.
    limit = min(MAX_OUTPUT_PIXELS, env.profile.max_pixels)
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    if size[0] * size[1] > limit:
        factor = math.sqrt(limit / (width * height))
        size = (max(1, math.floor(width * factor)), max(1, math.floor(height * factor)))
        note += (
            f" (scaled {factor:.2f}x, not {args.factor:g}x: the model is sent at most "
            f"{limit:,} pixels)"
        )
    source = env.store.get(args.image).image
    zoomed = source.resize(size, Image.Resampling.LANCZOS, box=box, reducing_gap=3.0)
    to_parent = _translate(box[0], box[1]) @ _scale(width / size[0], height / size[1])
    new_id = env.store.add_image(
        zoomed,
        parent=args.image,
        operation="zoom",
        params={"box": box, "factor": factor},
        to_parent=to_parent,
    )
    return _result(env, f"Zoomed {args.image} at {_fmt(args.bbox)} by {factor:.3g}{note}", new_id)


@tool(RotateArgs)
def tool_rotate(env: ToolEnv, args: RotateArgs) -> ToolResult:
    """Rotate an image counter-clockwise by `degrees` (the canvas grows to keep every pixel)."""
    if not math.isfinite(args.degrees):
        raise ToolError("degrees must be a finite number")
    source = env.store.get(args.image).image
    w, h = source.size
    theta = math.radians(args.degrees)
    cos, sin = math.cos(theta), math.sin(theta)
    quarter = round(args.degrees / 90)
    exact = math.isclose(args.degrees, 90 * quarter, abs_tol=1e-9)
    if exact:
        cos, sin = (1.0, 0.0, -1.0, 0.0)[quarter % 4], (0.0, 1.0, 0.0, -1.0)[quarter % 4]
    # The size is known before rotating: refuse before any work.
    new_w = max(1, math.ceil(abs(w * cos) + abs(h * sin) - 1e-6))
    new_h = max(1, math.ceil(abs(w * sin) + abs(h * cos) - 1e-6))
    check_shape(new_w, new_h, f"rotating {args.image}")
    if new_w * new_h > MAX_OUTPUT_PIXELS:
        raise ToolError(f"the rotated image would be over {MAX_OUTPUT_PIXELS:,} pixels; crop first")
    # Rotation about the centres, in y-down pixel coordinates (counter-clockwise on screen).
    unrotate = np.array([[cos, -sin, 0.0], [sin, cos, 0.0], [0.0, 0.0, 1.0]])
    to_parent = _translate(w / 2, h / 2) @ unrotate @ _translate(-new_w / 2, -new_h / 2)
    if exact:
        turn = (
            None,
            Image.Transpose.ROTATE_90,
            Image.Transpose.ROTATE_180,
            Image.Transpose.ROTATE_270,
        )[quarter % 4]
        rotated = source.copy() if turn is None else source.transpose(turn)
    else:
        # OpenCV puts pixel centres at whole coordinates; the maps here put them at +0.5.
        to_child = (_translate(-0.5, -0.5) @ np.linalg.inv(to_parent) @ _translate(0.5, 0.5))[:2]
        pixels = cv2.warpAffine(
            np.asarray(source),
            to_child,
            (new_w, new_h),
            flags=cv2.INTER_CUBIC,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=(255, 255, 255),
        )
        rotated = Image.fromarray(pixels)
    new_id = env.store.add_image(
        rotated,
        parent=args.image,
        operation="rotate",
        params={"degrees": args.degrees},
        to_parent=to_parent,
    )
    return _result(env, f"Rotated {args.image} by {args.degrees:g} degrees", new_id)


def _enhanced(image: Image.Image, mode: str) -> Image.Image:
    if mode == "contrast":
        # Local contrast on the luma only (YCrCb: integer maths, no colour shift).
        ycc = cv2.cvtColor(np.asarray(image), cv2.COLOR_RGB2YCrCb)
        clahe = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8))
        ycc[:, :, 0] = clahe.apply(np.ascontiguousarray(ycc[:, :, 0]))
        return Image.fromarray(cv2.cvtColor(ycc, cv2.COLOR_YCrCb2RGB))
    if mode == "sharpen":
        # Unsharp mask: 2.5 x image - 1.5 x its blur (radius 2), as one OpenCV pass.
        pixels = np.asarray(image)
        blurred = cv2.GaussianBlur(pixels, (0, 0), 2.0)
        return Image.fromarray(cv2.addWeighted(pixels, 2.5, blurred, -1.5, 0))
    if mode == "grayscale":
        return ImageOps.grayscale(image).convert("RGB")
    if mode == "invert":
        return ImageOps.invert(image)
    gray = cv2.cvtColor(np.asarray(image), cv2.COLOR_RGB2GRAY)
    _, binary = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return Image.fromarray(binary).convert("RGB")


@tool(EnhanceArgs)
def tool_enhance(env: ToolEnv, args: EnhanceArgs) -> ToolResult:
    """Make details easier to see: contrast, sharpen, grayscale, invert, or threshold (black/white)."""
    source = env.store.get(args.image).image
    new_id = env.store.add_image(
        _enhanced(source, args.mode),
        parent=args.image,
        operation="enhance",
        params={"mode": args.mode},
    )
    return _result(env, f"Applied {args.mode} to {args.image}", new_id)


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=max(10, size))


def _cell_name(row: int, col: int) -> str:
    return f"{chr(ord('A') + row)}{col + 1}"


@tool(GridArgs)
def tool_grid(env: ToolEnv, args: GridArgs) -> ToolResult:
    """Draw a labelled grid (rows A, B, ...; columns 1, 2, ...) over an image to talk about places."""
    source = env.store.get(args.image).image
    canvas = source.copy()
    draw = ImageDraw.Draw(canvas)
    width, height = canvas.size
    line = max(1, min(width, height) // 300)
    font = _font(min(width // args.cols, height // args.rows) // 6)
    for c in range(1, args.cols):
        x = round(c * width / args.cols)
        draw.line([(x, 0), (x, height)], fill=(255, 0, 0), width=line)
    for r in range(1, args.rows):
        y = round(r * height / args.rows)
        draw.line([(0, y), (width, y)], fill=(255, 0, 0), width=line)
    max_x, max_y = env.store.frame_extent(args.image, env.profile.coord_frame, env.profile)
    cells = []
    for r in range(args.rows):
        for c in range(args.cols):
            x0, y0 = round(c * width / args.cols), round(r * height / args.rows)
            name = _cell_name(r, c)
            draw.text(
                (x0 + 3, y0 + 2),
                name,
                fill=(255, 0, 0),
                font=font,
                stroke_width=2,
                stroke_fill=(255, 255, 255),
            )
            cell = [
                c * max_x / args.cols,
                r * max_y / args.rows,
                (c + 1) * max_x / args.cols,
                (r + 1) * max_y / args.rows,
            ]
            cells.append(f"{name}={_fmt([round(v, 3) for v in cell])}")
    new_id = env.store.add_image(
        canvas, parent=args.image, operation="grid", params={"rows": args.rows, "cols": args.cols}
    )
    result = _result(env, f"Drew a {args.rows}x{args.cols} grid on {args.image}", new_id)
    listing = " ".join(cells) if len(cells) <= 36 else f"{len(cells)} cells"
    return ToolResult(True, f"{result.text} Cells: {listing}", result.images, value=new_id)


def draw_marks(image: Image.Image, points: Sequence[tuple[float, float]]) -> Image.Image:
    """A copy of ``image`` with numbered marks (1, 2, ...) at pixel ``points``.

    Each mark is a small dot on the object with its number beside it: a ring or a stroked label
    drawn across the object would hide its edge (and cut a small object in pieces).
    """
    canvas = image.copy()
    draw = ImageDraw.Draw(canvas)
    dot = max(2, min(canvas.size) // 300)
    font = _font(max(12, min(canvas.size) // 45))
    for number, (x, y) in enumerate(points, start=1):
        draw.ellipse([x - dot, y - dot, x + dot, y + dot], fill=(255, 0, 0))
        draw.text((x + 3 * dot, y - 3 * dot), str(number), fill=(255, 0, 0), font=font, anchor="ls")
    return canvas


def add_marked(store: ImageStore, image_id: str, points: Sequence[tuple[float, float]]) -> str:
    """Store ``image_id`` with numbered marks at pixel ``points`` as a new image; its id."""
    return store.add_image(
        draw_marks(store.get(image_id).image, points),
        parent=image_id,
        operation="mark",
        params={"points": [list(p) for p in points]},
    )


@tool(MarkArgs)
def tool_mark(env: ToolEnv, args: MarkArgs) -> ToolResult:
    """Draw numbered marks (1, 2, ...) at points on an image, e.g. to check a count one by one."""
    pixels = frame_points(env, args.image, args.points)
    new_id = add_marked(env.store, args.image, pixels)
    return _result(
        env, f"Marked {len(pixels)} points on {args.image}, numbered 1 to {len(pixels)}", new_id
    )


IMAGE_TOOLS: tuple[
    Tool[BoxArgs]
    | Tool[ZoomArgs]
    | Tool[RotateArgs]
    | Tool[EnhanceArgs]
    | Tool[GridArgs]
    | Tool[MarkArgs],
    ...,
] = (
    tool_crop,
    tool_zoom,
    tool_rotate,
    tool_enhance,
    tool_grid,
    tool_mark,
)
