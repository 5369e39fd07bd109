"""The image store: safe loading, smart_resize, lineage, encode-once."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from qvq_agent.images import ImageLoadError, ImageStore, load_image, smart_resize, visual_tokens
from qvq_agent.profiles import get_profile
from qvq_agent.tools import ToolEnv, default_registry
from tests.conftest import draw_scene


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        ((800, 1200), (812, 1204)),  # (h, w) rounded to multiples of 28, within budget
        ((3000, 4000), (840, 1148)),  # scaled down under 1280*28*28
        ((10, 10), (56, 56)),  # scaled up to min_pixels
    ],
)
def test_smart_resize_matches_qwen2_vl(size: tuple[int, int], expected: tuple[int, int]) -> None:
    h, w = smart_resize(*size)
    assert (h, w) == expected
    assert h % 28 == 0 and w % 28 == 0
    assert 4 * 28 * 28 <= h * w <= 1280 * 28 * 28


def test_smart_resize_refuses_extreme_aspect() -> None:
    with pytest.raises(ValueError, match="aspect ratio"):
        smart_resize(10, 5000)


def test_visual_tokens_of_a_large_photo() -> None:
    profile = get_profile("qvq")
    tokens = visual_tokens(3000, 4000, profile)
    assert tokens == (840 // 28) * (1148 // 28) == 1230
    assert 1000 < tokens <= 1280


def test_load_applies_exif_orientation_and_rgb(tmp_path: Path) -> None:
    image = Image.new("RGBA", (40, 20), (255, 0, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    path = tmp_path / "rotated.png"
    image.save(path, exif=exif.tobytes())
    loaded = load_image(path)
    assert loaded.mode == "RGB"
    assert loaded.size == (20, 40)
    assert loaded.getpixel((5, 5)) == (255, 255, 255)  # transparency flattened onto white


@pytest.mark.parametrize("content", [b"", b"\x89PNG\r\n\x1a\n garbage", b"not an image at all"])
def test_corrupt_files_name_the_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "broken.png"
    path.write_bytes(content)
    with pytest.raises(ImageLoadError, match=r"broken\.png"):
        load_image(path)


def test_truncated_file_names_the_file(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    draw_scene().save(buffer, format="PNG")
    path = tmp_path / "cut.png"
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    with pytest.raises(ImageLoadError, match=r"cut\.png"):
        load_image(path)


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(ImageLoadError, match=r"nope\.png: no such file"):
        load_image(tmp_path / "nope.png")
    with pytest.raises(ImageLoadError, match="directory"):
        load_image(tmp_path)


def test_decompression_bomb_limit(tmp_path: Path) -> None:
    path = tmp_path / "big.png"
    Image.new("RGB", (3000, 3000)).save(path)
    with pytest.raises(ImageLoadError, match=r"big\.png.*over the limit"):
        load_image(path, max_pixels=1_000_000)


def test_ids_in_order_and_unknown_id(scene_path: Path) -> None:
    store = ImageStore()
    assert store.add_file(scene_path) == "img0"
    assert store.add_file(scene_path) == "img1"
    with pytest.raises(KeyError, match="img7"):
        store.get("img7")


def _env() -> tuple[ImageStore, ToolEnv]:
    store = ImageStore()
    store.add_image(draw_scene())
    return store, ToolEnv(store, get_profile("qvq"))


def test_lineage_maps_boxes_on_nested_crops_exactly_back() -> None:
    store, env = _env()
    tools = default_registry()
    crop = tools.get("crop")
    zoom = tools.get("zoom")
    assert crop is not None and zoom is not None
    first = crop.run(env, {"image": "img0", "bbox": [250, 250, 750, 750]})  # x 300..900, y 200..600
    second = zoom.run(env, {"image": first.images[0], "bbox": [0, 0, 500, 500], "factor": 3})
    nested = second.images[0]
    assert store.lineage(nested)[-1].image_id == "img0"
    # The whole nested image maps to x 300..600, y 200..400 of the original.
    width, height = store.get(nested).size
    assert store.box_to_root(nested, (0, 0, width, height)) == pytest.approx((300, 200, 600, 400))
    # And its pixels are the original's, upscaled.
    original = np.asarray(
        store.get("img0").image.crop((300, 200, 600, 400)).resize((width, height))
    )
    assert np.abs(np.asarray(store.get(nested).image).astype(int) - original).mean() < 12


def test_rotation_maps_points_back() -> None:
    store = ImageStore()
    image = Image.new("RGB", (400, 200), "white")
    image.putpixel((300, 50), (255, 0, 0))
    store.add_image(image)
    env = ToolEnv(store, get_profile("qvq"))
    rotate = default_registry().get("rotate")
    assert rotate is not None
    for degrees in (90, 33, -120):
        result = rotate.run(env, {"image": "img0", "degrees": degrees})
        rotated = np.asarray(store.get(result.images[0]).image).astype(int)
        redness = rotated[:, :, 0] - rotated[:, :, 1]
        y, x = np.unravel_index(np.argmax(redness), redness.shape)
        ((rx, ry),) = store.points_to_root(result.images[0], [(float(x) + 0.5, float(y) + 0.5)])
        assert abs(rx - 300.5) < 2 and abs(ry - 50.5) < 2, degrees


def test_each_image_is_encoded_once_and_resized(scene_path: Path) -> None:
    store = ImageStore()
    store.add_file(scene_path)
    profile = get_profile("qvq")
    first = store.data_url("img0", profile)
    second = store.data_url("img0", profile)
    assert first is second
    assert store.encode_count() == 1
    # Inside the pixel budget the file goes as it is (the server rounds 1200x800 to 1204x812
    # exactly as smart_resize does); the size the model sees is still the rounded one.
    assert first == "data:image/png;base64," + base64.b64encode(scene_path.read_bytes()).decode()
    assert store.resized_size("img0", profile) == (1204, 812)
    small = store.data_url("img0", profile.with_pixels(max_pixels=256 * 28 * 28))
    assert small != first and store.encode_count() == 2
    decoded = Image.open(io.BytesIO(base64.b64decode(small.split(",", 1)[1])))
    assert decoded.size == store.resized_size("img0", profile.with_pixels(max_pixels=256 * 28 * 28))
