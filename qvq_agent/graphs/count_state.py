"""State of the count graph: what a caller gives, what it gets back, and what flows between nodes.

Points are always in original-image pixels; images travel by id through the image store.
"""

from __future__ import annotations

import operator
from typing import Annotated, Literal, NotRequired, TypedDict

from qvq_agent.agent.checks import Finding
from qvq_agent.agent.state import Status, Usage, add_usage

Method = Literal["vlm", "cv"]


class TileInfo(TypedDict):
    """One tile of the image."""

    index: int
    image_id: str
    """The tile as an image in the store (a crop of the original, or the original itself)."""
    box: list[int]
    """The tile's box in original pixels ``[x1, y1, x2, y2]``."""


class TileCount(TypedDict):
    """The points the model gave for one tile in one round."""

    tile: int
    points: list[list[float]]
    """Points in original-image pixels."""
    round: int
    """0: the tile count; 1, 2: verification rounds."""


class CountInput(TypedDict):
    """What a caller gives the count graph."""

    question: str
    """What to count ("How many pelicans?")."""
    images: list[str]
    """One image: an id already in the context's store, or a file path."""
    tiling: NotRequired[list[int] | None]
    """``[rows, cols]`` to force the tiling; ``None`` (default) sizes it from the pixel budget."""
    method: NotRequired[Method]
    """``vlm`` (default: the model, tiles and verification) or ``cv`` (OpenCV, no model)."""


class CountOutput(TypedDict):
    """What the count graph returns."""

    answer: int | None
    points: list[list[float]]
    tiles: int
    status: Status
    findings: list[Finding]
    usage: Usage
    error: str | None


class CountState(TypedDict):
    """The whole state of one count."""

    question: str
    """What to count."""
    images: list[str]
    """The image as given."""
    tiling: list[int] | None
    """Forced ``[rows, cols]``, or ``None``."""
    tiles: int
    """How many tiles the image was cut into."""
    method: Method
    """``vlm`` or ``cv``."""
    image_id: str
    """The image's id in the store."""
    target: str
    """What the overview said the objects look like."""
    plan: list[TileInfo]
    """The tiles."""
    overlap: int
    """Pixels two neighbouring tiles share."""
    tile_counts: Annotated[list[TileCount], operator.add]
    """Every tile's points, per round."""
    points: list[list[float]]
    """The merged count so far (original pixels)."""
    verify_round: int
    """The verification round under way (1, 2), past the last one when done."""
    recheck: list[int]
    """Tiles to verify in the next round."""
    findings: Annotated[list[Finding], operator.add]
    """Findings on the replies and the marks."""
    usage: Annotated[Usage, add_usage]
    """Tokens and requests spent."""
    answer: int | None
    """The count, once settled."""
    status: Status
    """``running`` until the count is settled."""
    error: str | None
    """Why the count stopped with status ``error``."""
    started_at: float
    """Wall-clock start (``time.time()``), for the run's wall budget."""


class TileTask(TypedDict):
    """One tile to count or verify (sent with ``Send``)."""

    question: str
    target: str
    tile: TileInfo
    points: list[list[float]]
    """The current count, for verification (original pixels)."""
    round: int
    deadline: float
    """When the run's wall budget ends (``time.time()``)."""
