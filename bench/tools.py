"""Image tools and encoding on a 12 MP photo: time per call against raw Pillow doing the least
the tool must do.

    python bench/tools.py [--repeat 15]

The photo is 4240x2832 of smooth colour fields with noise (a photograph's statistics: JPEG, not
PNG). Each tool runs through the registry as the model would call it (``Tool.run``), on a fresh
image store each time; the median of ``--repeat`` runs is reported, next to a baseline measured
in the same run: the raw Pillow operation that produces the same output size (for crop: the crop;
for zoom: resizing the region straight to the size sent; for rotate: nothing, it is refused
before work; for enhance: the image's own copy).
Also: loading the JPEG file, and the data URL the model is sent (first time, then from the
per-content cache a second run finds).
Goals (issue 15): every tool <= 50 ms except where the output itself must be large; rotate
refuses an over-large result before rotating; zoom never builds more pixels than it sends;
encoding <= 150 ms per 12 MP photo, cached per content across runs.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from qvq_agent.images import ImageStore, clear_caches
from qvq_agent.profiles import resolve_profile
from qvq_agent.tools import default_registry
from qvq_agent.tools.registry import ToolEnv

SIZE = (4240, 2832)
GOAL_MS = 50.0
GOAL_ENCODE_MS = 150.0


def photo(size: tuple[int, int], seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    w, h = size
    small = rng.integers(0, 256, (h // 64 + 1, w // 64 + 1, 3), dtype=np.uint8)
    base = Image.fromarray(small).resize(size, Image.Resampling.BICUBIC)
    noise = rng.normal(0, 12, (h, w, 3))
    return Image.fromarray(np.clip(np.asarray(base) + noise, 0, 255).astype(np.uint8))


def median_ms(fn: Callable[[], object], repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        runs.append((time.perf_counter() - t0) * 1000)
    return statistics.median(runs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    profile = resolve_profile("Qwen/QVQ-72B-Preview", None)
    registry = default_registry()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "photo.jpg"
        source = photo(SIZE)
        source.save(path, quality=92)
        print(f"12 MP photo {SIZE[0]}x{SIZE[1]}, {path.stat().st_size / 1e6:.1f} MB JPEG")

        base_store = ImageStore()
        base_store.add_file(path)
        image = base_store.get("img0").image

        def env() -> ToolEnv:
            store = ImageStore()
            store.add_image(image)
            return ToolEnv(store, profile)

        def call(name: str, arguments: dict[str, object]) -> Callable[[], object]:
            def run() -> object:
                result = registry.get(name).run(env(), {"image": "img0", **arguments})
                assert result.ok, result.text
                return result

            return run

        region = (image.width // 4, image.height // 4, image.width * 3 // 4, image.height * 3 // 4)
        seen = profile.max_pixels
        rw, rh = region[2] - region[0], region[3] - region[1]
        scale = min(2.0, (seen / (rw * rh)) ** 0.5)
        zoom_size = (round(rw * scale), round(rh * scale))
        rows: list[tuple[str, float, float, str]] = [
            (
                "crop (middle quarter)",
                median_ms(call("crop", {"bbox": [250, 250, 750, 750]}), args.repeat),
                median_ms(lambda: image.crop(region), args.repeat),
                "",
            ),
            (
                "zoom x2 (middle quarter)",
                median_ms(call("zoom", {"bbox": [250, 250, 750, 750], "factor": 2}), args.repeat),
                median_ms(
                    lambda: image.crop(region).resize(zoom_size, Image.Resampling.BICUBIC),
                    args.repeat,
                ),
                f"sent size {zoom_size[0]}x{zoom_size[1]}",
            ),
            (
                "zoom x4 (small box)",
                median_ms(call("zoom", {"bbox": [480, 480, 520, 520], "factor": 4}), args.repeat),
                0.0,
                "",
            ),
        ]
        refused = registry.get("rotate").run(env(), {"image": "img0", "degrees": 30})
        t_refuse = median_ms(
            lambda: registry.get("rotate").run(env(), {"image": "img0", "degrees": 30}),
            args.repeat,
        )
        rows.append(("rotate 30 (refused: over 16 MP)", t_refuse, 0.0, f"ok={refused.ok}"))
        rows.append(
            (
                "rotate 90",
                median_ms(call("rotate", {"degrees": 90}), args.repeat),
                median_ms(lambda: image.transpose(Image.Transpose.ROTATE_90), args.repeat),
                "output 12 MP",
            )
        )
        rows.append(
            (
                "rotate 5",
                median_ms(call("rotate", {"degrees": 5}), max(3, args.repeat // 3)),
                median_ms(image.copy, args.repeat),
                "output 13.8 MP",
            )
        )
        for mode in ("contrast", "sharpen", "grayscale", "invert", "threshold"):
            rows.append(
                (
                    f"enhance {mode}",
                    median_ms(call("enhance", {"mode": mode}), max(3, args.repeat // 3)),
                    median_ms(image.copy, args.repeat),
                    "output 12 MP",
                )
            )
        rows.append(
            (
                "grid 4x4",
                median_ms(call("grid", {"rows": 4, "cols": 4}), max(3, args.repeat // 3)),
                median_ms(image.copy, args.repeat),
                "output 12 MP",
            )
        )
        rows.append(
            (
                "mark 10 points",
                median_ms(
                    call("mark", {"points": [[100 * i, 100 * i] for i in range(1, 11)]}),
                    max(3, args.repeat // 3),
                ),
                median_ms(image.copy, args.repeat),
                "output 12 MP",
            )
        )

        def load() -> object:
            clear_caches()
            return ImageStore().add_file(path)

        def encode_fresh() -> object:
            clear_caches()
            store = ImageStore()
            store.add_file(path)
            return store.data_url("img0", profile)

        def encode_again() -> object:
            store = ImageStore()
            store.add_file(path)
            return store.data_url("img0", profile)

        encode_again()
        t_load = median_ms(load, max(3, args.repeat // 3))
        t_fresh = median_ms(encode_fresh, max(3, args.repeat // 3)) - t_load
        t_again = median_ms(encode_again, args.repeat)

    print(f"\n{'tool':34} {'ms':>8} {'baseline ms':>12}  note")
    for name, ms, base, note in rows:
        print(f"{name:34} {ms:8.1f} {base:12.1f}  {note}")
    print(f"\n{'load the 12 MP JPEG':34} {t_load:8.1f}")
    print(f"{'encode for the model (first time)':34} {t_fresh:8.1f}")
    print(f"{'load + encode, same content again':34} {t_again:8.1f}")
    small = [r for r in rows if "output 12 MP" not in r[3] and "13.8" not in r[3]]
    tools_ok = all(ms <= GOAL_MS for _, ms, _, _ in small) and not refused.ok
    encode_ok = t_fresh <= GOAL_ENCODE_MS
    print(
        f"\ngoals: tools with a small output <= {GOAL_MS:g} ms: {'ok' if tools_ok else 'MISSED'}; "
        f"encoding <= {GOAL_ENCODE_MS:g} ms: {'ok' if encode_ok else 'MISSED'} ({t_fresh:.0f} ms); "
        f"cached encoding {t_again:.0f} ms"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
