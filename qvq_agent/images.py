"""The image store: image ids, safe loading, lineage of derived images, resizing and encoding.

Images never travel in graph state; state holds ids (``img0``, ``img1``, ...) and this store
holds the pixels. Every derived image (a crop, a zoom, a rotation) records an affine map from
its pixels to its parent's, so a point or box on any derived image maps exactly back to the
original.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import math
import re
import threading
import warnings
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from qvq_agent.profiles import CoordFrame, ModelProfile

DEFAULT_MAX_IMAGE_PIXELS = 64_000_000
"""Refuse images larger than this (decompression-bomb guard): about 8000x8000."""

MAX_FILE_BYTES = 256 * 1024 * 1024
"""Image files larger than this are refused before they are read."""

MAX_ASPECT_RATIO = 200
"""Qwen2-VL refuses images whose long side is over 200 times the short one."""

Box = tuple[float, float, float, float]
Point = tuple[float, float]


class _Cache:
    """A small thread-safe LRU map, bounded by its total size in bytes."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[Any, tuple[Any, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: Any) -> Any:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return None
            self._items.move_to_end(key)
            return item[0]

    def put(self, key: Any, value: Any, size: int) -> None:
        if size > self.max_bytes:
            return
        with self._lock:
            old = self._items.pop(key, None)
            self._bytes -= old[1] if old else 0
            self._items[key] = (value, size)
            self._bytes += size
            while self._bytes > self.max_bytes:
                _, (_, dropped) = self._items.popitem(last=False)
                self._bytes -= dropped

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0


_LOADED = _Cache(max_bytes=512 * 1024 * 1024)
"""Decoded user images by file content: a second run on the same photo does not decode it again
(pixels are never changed in place; every tool makes a new image)."""
_URLS = _Cache(max_bytes=256 * 1024 * 1024)
"""Data URLs by (file content, pixel budget): encoded once per process."""


def save_by_hash(folder: Path, mime: str, data: bytes) -> str:
    """Write an encoded image into ``folder`` as a file named by its content hash, unless it is
    there already; the file name."""
    suffix = ".jpg" if mime == "image/jpeg" else ".png"
    name = hashlib.sha256(data).hexdigest()[:20] + suffix
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / name).exists():
        write_atomic(folder / name, data)
    return name


def encode_png(image: Image.Image) -> tuple[str, bytes]:
    """``(MIME type, bytes)`` of ``image`` as a fast PNG (lossless)."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return "image/png", buffer.getvalue()


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` atomically (a temporary file renamed over ``path``, synced first)."""
    import os
    import tempfile

    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _budget(profile: ModelProfile) -> tuple[int, int, int]:
    """What an encoding depends on besides the pixels: the profile's pixel budget."""
    return (profile.patch_factor, profile.min_pixels, profile.max_pixels)


def clear_caches() -> None:
    """Forget the decoded images and data URLs kept across runs (benchmarks, tests)."""
    _LOADED.clear()
    _URLS.clear()


def content_digest(data: bytes) -> str:
    """A short digest of a file's bytes: the key of the caches above."""
    return hashlib.blake2b(data, digest_size=16).hexdigest()


class ImageLoadError(ValueError):
    """An image file that cannot be used; the message names the file."""


class UnknownImageError(KeyError):
    """An image id that the store does not hold."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown image"


def smart_resize(
    height: int,
    width: int,
    *,
    factor: int = 28,
    min_pixels: int = 4 * 28 * 28,
    max_pixels: int = 1280 * 28 * 28,
) -> tuple[int, int]:
    """Qwen2-VL's resize rule: sides multiples of ``factor``, area within the pixel budget.

    Returns:
        ``(height, width)`` of the image the model sees.

    Raises:
        ValueError: an aspect ratio over 200, or a side of zero.
    """
    if height <= 0 or width <= 0:
        raise ValueError(f"image has no pixels ({width}x{height})")
    if max(height, width) / min(height, width) > MAX_ASPECT_RATIO:
        raise ValueError(
            f"aspect ratio {max(height, width) / min(height, width):.0f} is over "
            f"{MAX_ASPECT_RATIO}; crop the image first"
        )
    h_bar = max(factor, round(height / factor) * factor)
    w_bar = max(factor, round(width / factor) * factor)
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt(height * width / max_pixels)
        h_bar = max(factor, math.floor(height / beta / factor) * factor)
        w_bar = max(factor, math.floor(width / beta / factor) * factor)
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return h_bar, w_bar


def seen_size(height: int, width: int, profile: ModelProfile) -> tuple[int, int]:
    """``(height, width)`` of an image as the model sees it under ``profile``'s pixel budget."""
    return smart_resize(
        height,
        width,
        factor=profile.patch_factor,
        min_pixels=profile.min_pixels,
        max_pixels=profile.max_pixels,
    )


def visual_tokens(height: int, width: int, profile: ModelProfile) -> int:
    """Visual tokens the model spends on an image of this size (after 2x2 patch merging)."""
    h, w = seen_size(height, width, profile)
    return (h // profile.patch_factor) * (w // profile.patch_factor)


def load_image(path: str | Path, *, max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS) -> Image.Image:
    """Open an image file safely: size limit, EXIF orientation applied, converted to RGB.

    Raises:
        ImageLoadError: missing, unreadable, truncated, or too large; the message names the file.
    """
    return load_image_file(path, max_pixels=max_pixels)[0]


def _read(path: Path) -> bytes:
    """The file's bytes, refused over :data:`MAX_FILE_BYTES` before reading.

    Raises:
        ImageLoadError: missing, a directory, unreadable or too large.
    """
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise ImageLoadError(f"{path}: the file is over {MAX_FILE_BYTES:,} bytes")
        return path.read_bytes()
    except FileNotFoundError:
        raise ImageLoadError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ImageLoadError(f"{path}: is a directory, not an image") from None
    except OSError as exc:
        raise ImageLoadError(f"{path}: cannot read the image ({exc})") from None


MAX_URL_SECONDS = 30.0
"""An image URL must be fetched within this time."""
_BASE64 = re.compile(r"[A-Za-z0-9+/=\s]+")


def read_image_ref(ref: str) -> tuple[str, bytes]:
    """The bytes of an image given as a file path, an ``http(s)://`` URL, a ``data:`` URL or
    bare base64, and a name for messages (the path, the URL, or ``<base64 image>``).

    Raises:
        ImageLoadError: a path that cannot be read, a URL that cannot be fetched (or answers
            with an error, or sends more than :data:`MAX_FILE_BYTES`), base64 that is not valid.
    """
    if ref.startswith(("http://", "https://")):
        return ref, _fetch(ref)
    if ref.startswith("data:"):
        header, _, payload = ref.partition(",")
        if ";base64" not in header:
            raise ImageLoadError("a data: URL image must be base64 (data:image/png;base64,...)")
        return "<data URL image>", _unbase64(payload, "<data URL image>")
    if len(ref) > 512 and _BASE64.fullmatch(ref[:4096]):
        return "<base64 image>", _unbase64(ref, "<base64 image>")
    return ref, _read(Path(ref))


def _unbase64(payload: str, name: str) -> bytes:
    if len(payload) > MAX_FILE_BYTES * 4 // 3 + 4:
        raise ImageLoadError(f"{name}: over {MAX_FILE_BYTES:,} bytes")
    try:
        return base64.b64decode("".join(payload.split()), validate=True)
    except ValueError as exc:
        raise ImageLoadError(f"{name}: not valid base64 ({exc})") from None


def _fetch(url: str) -> bytes:
    import httpx

    try:
        with httpx.stream("GET", url, timeout=MAX_URL_SECONDS, follow_redirects=True) as reply:
            if reply.status_code != 200:
                raise ImageLoadError(f"{url}: the server answered HTTP {reply.status_code}")
            chunks, size = [], 0
            for chunk in reply.iter_bytes():
                size += len(chunk)
                if size > MAX_FILE_BYTES:
                    raise ImageLoadError(f"{url}: over {MAX_FILE_BYTES:,} bytes")
                chunks.append(chunk)
            return b"".join(chunks)
    except httpx.HTTPError as exc:
        raise ImageLoadError(f"{url}: cannot fetch it ({type(exc).__name__}: {exc})") from None


def _load_cached(
    ref: str, max_pixels: int
) -> tuple[Image.Image, tuple[str, bytes] | None, str, str]:
    """:func:`load_image_file` through the per-content cache, for any :func:`read_image_ref`;
    also the content digest."""
    name, data = read_image_ref(ref)
    path = Path(name)
    digest = content_digest(data)
    cached = _LOADED.get(digest)
    if cached is not None and cached[0].width * cached[0].height <= max_pixels:
        return cached[0], cached[1], digest, name
    image, original = _decode(path, data, max_pixels)
    _LOADED.put(digest, (image, original), image.width * image.height * 3)
    return image, original, digest, name


SENDABLE = {"PNG": "image/png", "JPEG": "image/jpeg"}
"""File formats sent as they are when the image needs no resizing and no conversion."""


def load_image_file(
    path: str | Path, *, max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS
) -> tuple[Image.Image, tuple[str, bytes] | None]:
    """:func:`load_image`, plus the file's own bytes and MIME type when they show exactly the
    loaded image (an RGB PNG or JPEG with no EXIF rotation), so they can be sent unchanged.

    Raises:
        ImageLoadError: as :func:`load_image`.
    """
    path = Path(path)
    return _decode(path, _read(path), max_pixels)


def _decode(
    path: Path, data: bytes, max_pixels: int
) -> tuple[Image.Image, tuple[str, bytes] | None]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as raw:
                width, height = raw.size
                if width * height > max_pixels:
                    raise ImageLoadError(
                        f"{path}: {width}x{height} is over the limit of {max_pixels:,} pixels"
                    )
                if min(width, height) < 1 or max(width, height) > MAX_ASPECT_RATIO * min(
                    width, height
                ):
                    raise ImageLoadError(
                        f"{path}: {width}x{height} is thinner than 1:{MAX_ASPECT_RATIO}, which "
                        "the model cannot take; crop it first"
                    )
                raw.load()
                rotated = raw.getexif().get(0x0112, 1) not in (0, 1)
                same = raw.mode == "RGB" and raw.format in SENDABLE and not rotated
                original = (SENDABLE[str(raw.format)], data) if same else None
                oriented = ImageOps.exif_transpose(raw) if rotated else raw
                return _to_rgb(oriented), original
    except ImageLoadError:
        raise
    except UnidentifiedImageError:
        raise ImageLoadError(f"{path}: not an image file, or a format Pillow cannot read") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageLoadError(f"{path}: too large to open safely ({exc})") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageLoadError(f"{path}: cannot read the image ({exc})") from None


PHOTO_COLOURS = 1024
"""A 256x256 sample with more distinct colours than this is a photo (JPEG); else PNG."""


def is_photo(image: Image.Image) -> bool:
    """True for photographs (many distinct colours in a central 256x256 sample), False for
    drawings, diagrams and text (few colours: PNG keeps their edges exact)."""
    width, height = image.size
    left, top = max(0, (width - 256) // 2), max(0, (height - 256) // 2)
    sample = image.crop((left, top, min(width, left + 256), min(height, top + 256)))
    return sample.getcolors(maxcolors=PHOTO_COLOURS) is None


def encode(image: Image.Image, *, photo: bool) -> tuple[str, bytes]:
    """``(MIME type, bytes)``: JPEG at quality 90 for a photo, fast PNG otherwise."""
    if not photo:
        return encode_png(image)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    return "image/jpeg", buffer.getvalue()


def _to_rgb(image: Image.Image) -> Image.Image:
    """RGB copy; transparency is flattened onto white (models see white, not black); 16-bit and
    float greyscale is scaled to 8 bits (Pillow's own conversion clips it to white)."""
    if image.mode.startswith("I") or image.mode == "F":
        values = np.asarray(image, dtype=np.float64)
        low, high = float(values.min(initial=0.0)), float(values.max(initial=0.0))
        if image.mode.startswith("I;16") or (low >= 0 and 255 < high <= 65535):
            scaled = values / 257.0
        elif low >= 0 and high <= 255:
            scaled = values
        else:
            scaled = (values - low) * (255.0 / (high - low)) if high > low else values * 0
        grey = Image.fromarray(np.clip(np.rint(scaled), 0, 255).astype(np.uint8), "L")
        return grey.convert("RGB")
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image if image.mode == "RGB" else image.convert("RGB")


@dataclass(frozen=True)
class ImageRecord:
    """One image in the store and where it came from."""

    image_id: str
    image: Image.Image
    parent: str | None = None
    """Id of the image this one was made from; ``None`` for a user image."""
    operation: str = "input"
    """What made it: ``input``, ``crop``, ``zoom``, ``rotate``, ..."""
    params: dict[str, Any] = field(default_factory=dict)
    """The operation's arguments, in parent pixels."""
    to_parent: np.ndarray = field(default_factory=lambda: np.eye(3))
    """3x3 affine map from this image's pixel coordinates to the parent's."""
    source: str | None = None
    """File the user image was read from."""
    original: tuple[str, bytes] | None = None
    """The file's MIME type and bytes, when they show exactly ``image`` (sent unchanged)."""
    digest: str | None = None
    """Digest of the user image's file: its encodings are shared by every run in the process."""

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)`` in pixels."""
        return self.image.size


class ImageStore:
    """Images by id, with lineage, resizing and cached encoding; safe to share between threads."""

    def __init__(
        self,
        *,
        max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
        persist: tuple[Path, Path] | None = None,
    ) -> None:
        """``persist=(folder, index)``: every image is also written to ``folder`` (named by
        content hash: the user's own file as it is, others as PNG) and listed with its lineage
        in the ``index`` JSON file, and a store made again with the same pair starts with those
        images under the same ids (a run resumed from a checkpoint finds the images its state
        names).

        Raises:
            ImageLoadError: the index exists but cannot be read.
        """
        self._records: dict[str, ImageRecord] = {}
        self._encoded: dict[tuple[str, int, int, int], str] = {}
        self._sent_whole: dict[str, str] = {}
        """Image id -> a data URL that holds the image at its own size (reused as its file)."""
        self._lock = threading.Lock()
        self.max_image_pixels = max_image_pixels
        self._persist = persist
        self._index: list[dict[str, Any]] = []
        if persist is not None:
            self._restore(*persist)

    def _restore(self, folder: Path, index: Path) -> None:
        from qvq_agent.untrusted import UntrustedJSONError, load_json

        if not index.exists():
            return
        try:
            entries = load_json(index.read_bytes())
            for entry in entries:
                data = (folder / entry["file"]).read_bytes()
                with Image.open(io.BytesIO(data)) as raw:
                    image = raw.convert("RGB")
                mime = entry.get("original")
                record = ImageRecord(
                    entry["id"],
                    image,
                    parent=entry["parent"],
                    operation=entry["operation"],
                    params=entry["params"],
                    to_parent=np.asarray(entry["to_parent"], dtype=float),
                    source=entry["source"],
                    original=(mime, data) if mime else None,
                    digest=content_digest(data) if mime else None,
                )
                self._records[entry["id"]] = record
                self._index.append(entry)
        except (OSError, UntrustedJSONError, KeyError, TypeError, ValueError) as exc:
            raise ImageLoadError(f"{index}: cannot restore the run's images ({exc})") from None

    def _persist_record(self, record: ImageRecord) -> None:
        assert self._persist is not None
        folder, index = self._persist
        # The user's own file is kept as it is (and sent as it is after a resume).
        name = save_by_hash(folder, *(record.original or encode_png(record.image)))
        mime = record.original[0] if record.original is not None else None
        self._index.append(
            {
                "id": record.image_id,
                "file": name,
                "parent": record.parent,
                "operation": record.operation,
                "params": json.loads(json.dumps(record.params, default=str)),
                "to_parent": record.to_parent.tolist(),
                "source": record.source,
                "original": mime,
            }
        )
        index.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(index, json.dumps(self._index).encode())

    def __contains__(self, image_id: object) -> bool:
        return image_id in self._records

    def __len__(self) -> int:
        return len(self._records)

    @property
    def ids(self) -> list[str]:
        """All ids, in the order they were given."""
        return list(self._records)

    def _next_id(self) -> str:
        return f"img{len(self._records)}"

    def add_file(self, path: str | Path) -> str:
        """Load a user image from a file path — or an ``http(s)`` URL, a ``data:`` URL, bare
        base64 (:func:`read_image_ref`); returns its id.

        Raises:
            ImageLoadError: the image cannot be read; the message names it.
        """
        image, original, digest, name = _load_cached(str(path), self.max_image_pixels)
        record = ImageRecord("", image, source=name, original=original, digest=digest)
        return self._add(record)

    def add_image(
        self,
        image: Image.Image,
        *,
        parent: str | None = None,
        operation: str = "input",
        params: dict[str, Any] | None = None,
        to_parent: np.ndarray | None = None,
    ) -> str:
        """Add an image (a user image, or one derived from ``parent``); returns its id."""
        if parent is not None:
            self.get(parent)
        record = ImageRecord(
            "",
            _to_rgb(image) if image.mode != "RGB" else image,
            parent=parent,
            operation=operation,
            params=dict(params or {}),
            to_parent=np.eye(3) if to_parent is None else np.asarray(to_parent, dtype=float),
        )
        return self._add(record)

    def crop(self, image_id: str, box: tuple[int, int, int, int], **params: Any) -> str:
        """A new image cut from ``image_id`` at the pixel ``box``, with its lineage; its id."""
        return self.add_image(
            self.get(image_id).image.crop(box),
            parent=image_id,
            operation="crop",
            params={"box": box, **params},
            to_parent=np.array([[1.0, 0.0, box[0]], [0.0, 1.0, box[1]], [0.0, 0.0, 1.0]]),
        )

    def _add(self, record: ImageRecord) -> str:
        with self._lock:
            image_id = self._next_id()
            self._records[image_id] = ImageRecord(
                image_id,
                record.image,
                parent=record.parent,
                operation=record.operation,
                params=record.params,
                to_parent=record.to_parent,
                source=record.source,
                original=record.original,
                digest=record.digest,
            )
            if self._persist is not None:
                self._persist_record(self._records[image_id])
            return image_id

    def get(self, image_id: str) -> ImageRecord:
        """The record of ``image_id``.

        Raises:
            UnknownImageError: no such id; the message lists the ids there are.
        """
        try:
            return self._records[image_id]
        except KeyError:
            known = ", ".join(self._records) or "none"
            raise UnknownImageError(f"no image with id {image_id!r} (images: {known})") from None

    def lineage(self, image_id: str) -> list[ImageRecord]:
        """The chain from ``image_id`` up to its user image, this image first."""
        chain = [self.get(image_id)]
        while chain[-1].parent is not None:
            chain.append(self.get(chain[-1].parent))
        return chain

    def root(self, image_id: str) -> str:
        """Id of the user image that ``image_id`` derives from."""
        return self.lineage(image_id)[-1].image_id

    def to_root_matrix(self, image_id: str) -> np.ndarray:
        """Affine map from ``image_id``'s pixels to its user image's pixels."""
        matrix = np.eye(3)
        for record in self.lineage(image_id):
            matrix = record.to_parent @ matrix
        return matrix

    def points_to_root(self, image_id: str, points: Sequence[Point]) -> list[Point]:
        """Map pixel points on ``image_id`` to pixels of its user image."""
        matrix = self.to_root_matrix(image_id)
        out: list[Point] = []
        for x, y in points:
            rx, ry, _ = matrix @ np.array([x, y, 1.0])
            out.append((float(rx), float(ry)))
        return out

    def box_to_root(self, image_id: str, box: Box) -> Box:
        """Map a pixel box on ``image_id`` to the user image (the bounding box of its corners)."""
        x1, y1, x2, y2 = box
        corners = self.points_to_root(image_id, [(x1, y1), (x2, y1), (x1, y2), (x2, y2)])
        xs = [c[0] for c in corners]
        ys = [c[1] for c in corners]
        return (min(xs), min(ys), max(xs), max(ys))

    def resized_size(self, image_id: str, profile: ModelProfile) -> tuple[int, int]:
        """``(width, height)`` of the image as the model sees it under ``profile``."""
        width, height = self.get(image_id).size
        h, w = seen_size(height, width, profile)
        return w, h

    def data_url(self, image_id: str, profile: ModelProfile) -> str:
        """The image as the model is sent it, as a data URL, encoded once per pixel budget.

        An image inside the budget is sent at its own size (the server rounds its sides to 28
        pixels exactly as :func:`smart_resize` does), a user image as its file's own bytes when
        those show it exactly; a larger or smaller one is resized to the budget first. Photos go
        as JPEG (quality 90); drawings, text and images with marks or a grid as PNG. Thread-safe;
        call it off the event loop (:func:`qvq_agent.agent.llm.render`).
        """
        budget = _budget(profile)
        key = (image_id, *budget)
        cached = self._encoded.get(key)
        if cached is not None:
            return cached
        record = self.get(image_id)
        shared = None if record.digest is None else (record.digest, *budget)
        url = _URLS.get(shared) if shared is not None else None
        whole = profile.min_pixels <= record.size[0] * record.size[1] <= profile.max_pixels
        if url is None:
            url = self._encode(record, profile, whole)
            if shared is not None:
                _URLS.put(shared, url, len(url))
        with self._lock:
            self._encoded[key] = url
            if whole:
                self._sent_whole[image_id] = url
        return url

    def is_encoded(self, image_id: str, profile: ModelProfile) -> bool:
        """Whether :meth:`data_url` has the image's data URL at hand (no encoding to do)."""
        budget = _budget(profile)
        if (image_id, *budget) in self._encoded:
            return True
        record = self._records.get(image_id)
        return bool(record and record.digest and _URLS.get((record.digest, *budget)))

    def _encode(self, record: ImageRecord, profile: ModelProfile, whole: bool) -> str:
        if whole and record.original is not None:
            mime, data = record.original
        else:
            image = record.image
            if not whole:
                width, height = record.size
                new_h, new_w = seen_size(height, width, profile)
                # reducing_gap: shrink by whole factors first (box filter), then resample: a
                # 12 MP photo to 1 MP in a fifth of the time, indistinguishable once sent.
                image = image.resize((new_w, new_h), Image.Resampling.BICUBIC, reducing_gap=3.0)
            mime, data = encode(
                image, photo=record.operation not in ("mark", "grid") and is_photo(record.image)
            )
        return f"data:{mime};base64," + base64.b64encode(data).decode("ascii")

    def file_bytes(self, image_id: str) -> tuple[str, bytes]:
        """``(MIME type, bytes)`` of the image as a file, encoded again only when nothing at
        hand shows it: the user's own file, else the encoding sent to the model when it went at
        its own size, else a new PNG."""
        record = self.get(image_id)
        if record.original is not None:
            return record.original
        with self._lock:
            url = self._sent_whole.get(image_id)
        if url is not None:
            head, _, payload = url.partition(",")
            return head[len("data:") : -len(";base64")], base64.b64decode(payload)
        return encode_png(record.image)

    def encode_count(self) -> int:
        """How many encodings are cached (for tests of the encode-once rule)."""
        return len(self._encoded)

    def frame_scale(
        self, image_id: str, frame: CoordFrame, profile: ModelProfile
    ) -> tuple[float, float]:
        """Pixels of ``image_id`` per unit of ``frame`` along x and y."""
        width, height = self.get(image_id).size
        if frame == "norm1000":
            return width / 1000.0, height / 1000.0
        if frame == "norm1":
            return float(width), float(height)
        seen_w, seen_h = self.resized_size(image_id, profile)
        return width / seen_w, height / seen_h

    def frame_extent(self, image_id: str, frame: CoordFrame, profile: ModelProfile) -> Point:
        """The largest x and y of ``frame`` on ``image_id`` (1000, 1 or the resized size)."""
        if frame == "norm1000":
            return 1000.0, 1000.0
        if frame == "norm1":
            return 1.0, 1.0
        w, h = self.resized_size(image_id, profile)
        return float(w), float(h)
