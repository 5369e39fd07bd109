"""Image tools and the registry: boxes in the profile's frame, clamping, refusals."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from pydantic import BaseModel

from qvq_agent.images import ImageStore
from qvq_agent.profiles import get_profile
from qvq_agent.tools import ToolEnv, ToolRegistry, ToolResult, default_registry, tool
from tests.conftest import draw_scene

REGISTRY = default_registry()


def run(env: ToolEnv, name: str, **arguments: Any) -> ToolResult:
    found = REGISTRY.get(name)
    assert found is not None
    return found.run(env, arguments)


@pytest.fixture
def env() -> ToolEnv:
    store = ImageStore()
    store.add_image(draw_scene())
    return ToolEnv(store, get_profile("qvq"))


def test_the_design_tools_are_registered() -> None:
    assert REGISTRY.names == [
        "crop",
        "zoom",
        "rotate",
        "enhance",
        "grid",
        "mark",
        "calculate",
        "solve",
    ]
    manifest = REGISTRY.manifest()
    assert '"name": "crop"' in manifest and '"bbox"' in manifest


def test_registry_refuses_duplicate_names() -> None:
    class NoArgs(BaseModel):
        pass

    @tool(NoArgs)
    def tool_crop(env: ToolEnv, args: NoArgs) -> ToolResult:
        """Another crop."""
        return ToolResult(True, "")

    registry: ToolRegistry = default_registry()
    with pytest.raises(ValueError, match="already registered"):
        registry.register(tool_crop)


def test_crop_left_half_is_pixel_identical(env: ToolEnv) -> None:
    result = run(env, "crop", image="img0", bbox=[0, 0, 500, 1000])
    assert result.ok and result.images == ("img1",)
    crop = env.store.get("img1").image
    assert crop.size == (600, 800)
    left = env.store.get("img0").image.crop((0, 0, 600, 800))
    assert np.array_equal(np.asarray(crop), np.asarray(left))


def test_zoom_doubles_the_region(env: ToolEnv) -> None:
    result = run(env, "zoom", image="img0", bbox=[500, 500, 1000, 1000], factor=2)
    assert result.ok
    assert env.store.get(result.images[0]).size == (1200, 800)


@pytest.mark.parametrize(
    "bbox", [[600, 600, 100, 100], [0, 0, 0, 0], [2000, 2000, 3000, 3000], [1, 2, 3], "left", None]
)
def test_bad_boxes_are_refused_naming_bbox(env: ToolEnv, bbox: Any) -> None:
    result = run(env, "crop", image="img0", bbox=bbox)
    assert not result.ok
    assert "bbox" in result.text
    assert len(env.store) == 1


def test_partly_outside_box_is_clamped_with_a_note(env: ToolEnv) -> None:
    result = run(env, "crop", image="img0", bbox=[-100, 0, 500, 1200])
    assert result.ok and "clamped" in result.text
    assert env.store.get(result.images[0]).size == (600, 800)


def test_unknown_image_and_unknown_argument(env: ToolEnv) -> None:
    result = run(env, "crop", image="img5", bbox=[0, 0, 10, 10])
    assert not result.ok and "img5" in result.text
    result = run(env, "crop", image="img0", bbox=[0, 0, 10, 10], colour="red")
    assert not result.ok and "colour" in result.text


def test_zoom_factor_is_bounded(env: ToolEnv) -> None:
    result = run(env, "zoom", image="img0", bbox=[0, 0, 100, 100], factor=10)
    assert not result.ok and "factor" in result.text


def test_pixels_frame_uses_the_resized_image() -> None:
    store = ImageStore()
    store.add_image(draw_scene())  # seen as 1204x812 under the default budget
    env = ToolEnv(store, get_profile("qwen2.5-vl"))
    result = run(env, "crop", image="img0", bbox=[0, 0, 602, 812])
    assert result.ok and "You see it as" in result.text
    assert store.get(result.images[0]).size == (600, 800)


def test_norm1_frame() -> None:
    store = ImageStore()
    store.add_image(draw_scene())
    env = ToolEnv(store, get_profile("openai"))
    result = run(env, "crop", image="img0", bbox=[0.5, 0.5, 1, 1])
    assert result.ok and store.get(result.images[0]).size == (600, 400)


@pytest.mark.parametrize("mode", ["contrast", "sharpen", "grayscale", "invert", "threshold"])
def test_enhance_modes_keep_geometry(env: ToolEnv, mode: str) -> None:
    result = run(env, "enhance", image="img0", mode=mode)
    assert result.ok
    assert env.store.get(result.images[0]).size == (1200, 800)
    assert env.store.get(result.images[0]).parent == "img0"


def test_enhance_refuses_unknown_mode(env: ToolEnv) -> None:
    result = run(env, "enhance", image="img0", mode="sepia")
    assert not result.ok and "mode" in result.text


def test_grid_lists_cells(env: ToolEnv) -> None:
    result = run(env, "grid", image="img0", rows=2, cols=3)
    assert result.ok and "A1=[0, 0, 333.333, 500]" in result.text and "B3=" in result.text


def test_mark_draws_numbered_points(env: ToolEnv) -> None:
    result = run(env, "mark", image="img0", points=[[100, 100], [900, 900]])
    assert result.ok and "numbered 1 to 2" in result.text
    marked = np.asarray(env.store.get(result.images[0]).image).astype(int)
    original = np.asarray(env.store.get("img0").image).astype(int)
    assert (marked != original).any()
    refused = run(env, "mark", image="img0", points=[[100, 1500]])
    assert not refused.ok and "outside" in refused.text


# ---- 12 MP: sizes known before work, no pixels built that are not sent ------------------------


def big_env(size: tuple[int, int] = (4000, 3000)) -> ToolEnv:
    from PIL import Image, ImageDraw

    image = Image.new("RGB", size, "white")
    ImageDraw.Draw(image).ellipse([2890, 590, 2910, 610], fill=(255, 0, 0))
    store = ImageStore()
    store.add_image(image)
    return ToolEnv(store, get_profile("qvq"))


def test_zoom_never_builds_more_pixels_than_the_model_is_sent() -> None:
    env = big_env()
    result = run(env, "zoom", image="img0", bbox=[500, 0, 1000, 500], factor=2)
    width, height = env.store.get("img1").size
    assert result.ok and width * height <= env.profile.max_pixels
    assert "the model is sent at most" in result.text
    # The map back is exact: the dot's centre maps to where it is on the original.
    (x, y) = env.store.points_to_root("img1", [(900.5 * width / 2000, 600.5 * height / 1500)])[0]
    assert abs(x - 2900.5) < 1 and abs(y - 600.5) < 1


def test_rotation_is_refused_before_any_pixel_is_rotated(monkeypatch: pytest.MonkeyPatch) -> None:
    import cv2

    def no_work(*args: object, **kwargs: object) -> None:
        raise AssertionError("rotated before checking the size")

    monkeypatch.setattr(cv2, "warpAffine", no_work)
    result = run(big_env(), "rotate", image="img0", degrees=30)
    assert not result.ok and "over 16,000,000 pixels" in result.text


@pytest.mark.parametrize("degrees", [30, 90, -45, 180, 270, 12.5])
def test_rotation_maps_back_exactly(degrees: float) -> None:
    env = big_env((400, 300))
    from PIL import ImageDraw

    image = env.store.get("img0").image
    ImageDraw.Draw(image).ellipse([290, 60, 310, 80], fill=(255, 0, 0))
    assert run(env, "rotate", image="img0", degrees=degrees).ok
    out = np.asarray(env.store.get("img1").image).astype(int)
    ys, xs = np.where((out[:, :, 0] > 200) & (out[:, :, 1] < 80) & (out[:, :, 2] < 80))
    (x, y) = env.store.points_to_root("img1", [(xs.mean() + 0.5, ys.mean() + 0.5)])[0]
    assert abs(x - 300.5) < 0.5 and abs(y - 70.5) < 0.5


def test_a_photo_is_decoded_and_encoded_once_per_process(tmp_path: Any) -> None:
    from PIL import Image

    from qvq_agent import images

    images.clear_caches()
    path = tmp_path / "photo.jpg"
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (1500, 2000, 3), dtype=np.uint8)).save(path)
    profile = get_profile("qvq")
    first, second = ImageStore(), ImageStore()
    first.add_file(path)
    url = first.data_url("img0", profile)
    calls = []
    real = images.encode
    images.encode = lambda *a, **k: calls.append(1) or real(*a, **k)  # type: ignore[assignment]
    try:
        second.add_file(path)
        assert second.data_url("img0", profile) == url and calls == []
        path.write_bytes(path.read_bytes() + b"\0")  # other content: encoded again
        third = ImageStore()
        third.add_file(path)
        third.data_url("img0", profile)
        assert calls == [1]
    finally:
        images.encode = real
        images.clear_caches()
