"""Solve a question about a figure drawn on the spot, against your vLLM server.

Run a server first (``qvq-agent serve --print`` shows the command), then:

    python examples/solve_drawn_figure.py --base-url http://localhost:8000/v1
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from PIL import Image, ImageDraw

from qvq_agent import Settings, solve


def draw_triangle(path: Path) -> None:
    """A right triangle with legs labelled 3 and 4."""
    image = Image.new("RGB", (800, 600), "white")
    draw = ImageDraw.Draw(image)
    draw.polygon([(100, 500), (700, 500), (100, 50)], outline="black", width=4)
    draw.text((380, 520), "4", fill="black", font_size=40)
    draw.text((50, 260), "3", fill="black", font_size=40)
    draw.text((420, 230), "?", fill="black", font_size=40)
    image.save(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base-url", default=None)
    parser.add_argument("--model", default=None)
    args = parser.parse_args()
    settings = Settings().with_overrides(base_url=args.base_url, model=args.model)
    with tempfile.TemporaryDirectory() as folder:
        figure = Path(folder) / "triangle.png"
        draw_triangle(figure)
        result = solve(
            figure,
            "How long is the hypotenuse?",
            settings=settings,
            on_event=lambda e: print(e.get("text", ""), end="", flush=True),
        )
    print()
    print(result.to_json())


if __name__ == "__main__":
    main()
