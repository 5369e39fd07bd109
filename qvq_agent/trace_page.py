"""The trace page of a run record: one self-contained HTML file (``--trace``, ``qvq-agent show
--html``), and the terminal rendering of ``qvq-agent show``.

The page shows the original image with every derived image's box drawn on it (numbered by the
step that made it; for counts, the tiles and the points coloured by tile), the lineage as a
tree, a timeline of steps (the reasoning with each verifier finding highlighted at its span and
its critique beside it, where a stream was cut, each tool call with the image it returned) and
the outcome. Images are embedded as data URLs; nothing is fetched.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from rich.console import Console, Group
from rich.markup import escape
from rich.panel import Panel
from rich.text import Text
from rich.tree import Tree

UNPLACED = frozenset({"no_final_answer", "budget"})
"""Checks whose span marks where the text ends, not where a problem is: listed, not highlighted."""
TILE_COLOURS = ("#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6")


def _data_url(folder: Path, relative: str) -> str:
    path = folder / relative
    try:
        data = path.read_bytes()
    except OSError:
        return ""
    mime = "image/jpeg" if path.suffix.lower() in (".jpg", ".jpeg") else "image/png"
    return f"data:{mime};base64," + base64.b64encode(data).decode("ascii")


def segments(text: str, findings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``text`` cut into pieces, each plain or inside one finding's span (the first finding
    wins where spans overlap; :data:`UNPLACED` checks are not highlighted)."""
    marks = sorted(
        (
            (max(0, int(f["start"] or 0)), min(len(text), int(f["end"] or 0)), i)
            for i, f in enumerate(findings)
            if f.get("start") is not None and f.get("check") not in UNPLACED
        ),
        key=lambda m: (m[0], -m[1]),
    )
    out: list[dict[str, Any]] = []
    pos = 0
    for start, end, index in marks:
        if start < pos:
            continue
        if start > pos:
            out.append({"text": text[pos:start], "finding": None})
        out.append({"text": text[start:end], "finding": index})
        pos = max(pos, end)
    if pos < len(text):
        out.append({"text": text[pos:], "finding": None})
    return out


def _made_by(record: dict[str, Any]) -> dict[str, int]:
    """Which step made each derived image."""
    made: dict[str, int] = {}
    for step in record.get("steps", []):
        for call in step.get("tools", []):
            for image_id in call.get("images") or []:
                made.setdefault(image_id, step["step"])
    return made


def page_context(record: dict[str, Any], folder: Path) -> dict[str, Any]:
    """What the template needs, computed once: images as data URLs, boxes, steps, lineage."""
    images = record.get("images", {})
    made = _made_by(record)
    urls = {i: _data_url(folder, info["file"]) for i, info in images.items()}
    roots = [i for i in record.get("user_images", []) if i in images] or [
        i for i, info in images.items() if info.get("parent") is None
    ]
    children: dict[str | None, list[str]] = {}
    for image_id, info in images.items():
        children.setdefault(info.get("parent"), []).append(image_id)
    boxes = [
        {
            "image": image_id,
            "root": info["root"],
            "box": info["box"],
            "step": made.get(image_id),
            "operation": info["operation"],
            "label": f"{made[image_id]}·{image_id}" if image_id in made else image_id,
        }
        for image_id, info in images.items()
        if info.get("parent") is not None and info["params"].get("purpose") != "tile"
    ]
    tiles = [i for i, info in images.items() if info["params"].get("purpose") == "tile"]
    if record.get("kind") == "count":
        boxes = []  # the tiles are drawn instead; marks sit on the tiles
    checks = _tile_checks(record, images)
    steps = []
    for step in record.get("steps", []):
        verdict = step.get("verdict") or {}
        findings = verdict.get("findings", [])
        steps.append({**step, "segments": segments(step.get("text", ""), findings)})
    points_by_tile: dict[int, list[list[float]]] = {}
    for count in record.get("tile_counts", []):
        if count.get("round") == 0:
            points_by_tile.setdefault(int(count["tile"]), []).extend(count["points"])
    verified = [c for c in record.get("tile_counts", []) if c.get("round", 0) > 0]
    return {
        "record": record,
        "images": images,
        "urls": urls,
        "roots": roots,
        "children": children,
        "boxes": boxes,
        "steps": steps,
        "colours": TILE_COLOURS,
        "points_by_tile": points_by_tile,
        "verified": verified,
        "tile_images": tiles,
        "tile_checks": checks,
        "usage": record.get("usage", {}),
        "as_json": lambda value: json.dumps(value, ensure_ascii=False),
    }


def _tile_checks(record: dict[str, Any], images: dict[str, Any]) -> list[dict[str, Any]]:
    """Per tile: its first count, each verification round's count, the marked images, and
    whether the checks confirmed the first count."""
    out = []
    for tile in record.get("tiles", []):
        rounds = sorted(
            (c for c in record.get("tile_counts", []) if int(c["tile"]) == int(tile["index"])),
            key=lambda c: int(c.get("round", 0)),
        )
        counts = [len(c["points"]) for c in rounds]
        marks = [
            i
            for i, info in images.items()
            if info["operation"] == "mark" and info.get("parent") == tile.get("image_id")
        ]
        out.append(
            {
                "tile": tile["index"],
                "image": tile.get("image_id"),
                "counts": counts,
                "marks": marks,
                "confirmed": len(counts) > 1 and len(set(counts)) == 1,
                "checked": len(counts) > 1,
            }
        )
    return out


def render_html(record: dict[str, Any], folder: Path) -> str:
    """The trace page of ``record`` (its images read from ``folder``)."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("qvq_agent", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env.get_template("trace.html.j2").render(**page_context(record, folder))


def print_record(record: dict[str, Any], console: Console) -> None:
    """``qvq-agent show`` without ``--html``: the run in the terminal."""
    images = record.get("images", {})
    status = record.get("status")
    colour = {"verified": "green", "unverified": "yellow", "error": "red"}.get(str(status), "white")
    head = Text.assemble(
        ("Question: ", "bold"),
        str(record.get("question")),
        "\n",
        ("Answer: ", "bold"),
        str(record.get("answer")),
        "  ",
        (str(status), colour),
    )
    if record.get("replay"):
        head.append("\n(a replay: scripted model answers, no real model)", style="magenta")
    title = Text(f"{record.get('graph')} run · {record.get('model')}")  # a record is untrusted
    console.print(Panel(head, title=title))
    tree = Tree("images")
    made = _made_by(record)

    def add(node: Tree, parent: str | None) -> None:
        for image_id, info in images.items():
            if info.get("parent") == parent:
                step = f" (step {made[image_id]})" if image_id in made else ""
                label = f"{image_id} {info['operation']} {info['size'][0]}x{info['size'][1]}"
                box = f" box {info['box']}" if parent is not None else ""
                add(node.add(escape(label + step + box)), image_id)

    add(tree, None)
    console.print(tree)
    for step in record.get("steps", []):
        parts: list[Any] = []
        text = step.get("text", "")
        parts.append(Text(text[-1200:] if len(text) > 1200 else text))
        if step.get("cancelled"):
            cut = step["cancelled"]
            parts.append(Text(f"✂ stream cut ({cut['reason']}) at character {cut['at']}", "red"))
        for call in step.get("tools", []):
            mark = "ok" if call.get("ok") else "refused"
            parts.append(
                Text(
                    f"tool {call['name']} {json.dumps(call.get('arguments'))} → {mark}: "
                    f"{call.get('text')}",
                    "cyan" if call.get("ok") else "red",
                )
            )
        verdict = step.get("verdict")
        if verdict:
            parts.append(Text(f"verifier: {verdict['verdict']}", "magenta"))
            for finding in verdict.get("findings", []):
                parts.append(Text(f"  {finding['check']}: {finding['message']}", "yellow"))
        console.print(Panel(Group(*parts), title=f"step {step['step']}"))
    usage = record.get("usage", {})
    console.print(
        Text(
            f"{usage.get('requests', 0)} requests · {usage.get('prompt_tokens', 0)} prompt + "
            f"{usage.get('completion_tokens', 0)} completion tokens · {record.get('wall_s')} s"
        )
    )
