"""Run records: everything a run did, as JSON beside its images (``--record run.json``).

A record holds the question, the images (files beside the record, named by content hash,
never base64 inside it) with their lineage and each derived image's box mapped back to the
original, every step (the reasoning text, where the stream was cut, the tool calls with their
results and images, the verifier's verdict with each finding's span and the critique sent back,
the tokens it cost), and the outcome. The trace page (:mod:`qvq_agent.trace_page`) and
``qvq-agent show`` render it. Records are written atomically: a crash never leaves half a file.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qvq_agent.images import ImageStore, save_by_hash, write_atomic

RECORD_VERSION = 1
IMAGES_DIR = "images"
"""Folder beside the record that holds its images."""

Event = dict[str, Any]


@dataclass
class Recorder:
    """Collects a run's live events into steps; pass :meth:`on_event` as the run's listener
    (it forwards every event to ``forward`` too)."""

    forward: Callable[[Event], None] | None = None
    steps: list[dict[str, Any]] = field(default_factory=list)
    started_at: float = field(default_factory=time.time)

    def _step(self, number: int | None = None) -> dict[str, Any]:
        if number is not None and (not self.steps or self.steps[-1]["step"] != number):
            self.steps.append(
                {
                    "step": number,
                    "text": "",
                    "cancelled": None,
                    "tools": [],
                    "verdict": None,
                    "usage": None,
                }
            )
        if not self.steps:
            self._step(1)
        return self.steps[-1]

    def on_event(self, event: Event) -> None:
        kind = event.get("event")
        if kind == "step":
            self._step(int(event["step"]))
        elif kind == "token":
            self._step(int(event["step"]))["text"] += str(event["text"])
        elif kind == "reply":
            step = self._step(int(event["step"]))
            step["text"], step["usage"] = str(event["text"]), dict(event["usage"])
        elif kind == "cancelled":
            step = self._step(int(event["step"]))
            step["cancelled"] = {"reason": event["reason"], "at": int(event["at"])}
        elif kind == "tool":
            self._step()["tools"].append(
                {k: event.get(k) for k in ("name", "arguments", "ok", "text", "images")}
            )
        elif kind == "verdict":
            self._step()["verdict"] = {
                "verdict": event["verdict"],
                "findings": [_finding(f) for f in event.get("details", [])],
                "critique": event.get("critique"),
                "answer": event.get("answer"),
            }
        if self.forward is not None:
            self.forward(event)


def steps_from_state(values: dict[str, Any]) -> list[dict[str, Any]]:
    """The steps as the conversation in the state tells them (for a run resumed from a
    checkpoint, whose first steps no listener saw): each reply, the tool calls answered after
    it, and the critique that sent it back."""
    from langchain_core.messages import AIMessage, ToolMessage

    from qvq_agent import prompts

    calls = list(values.get("tool_calls", []))
    steps: list[dict[str, Any]] = []
    for message in values.get("messages", []):
        if isinstance(message, AIMessage):
            steps.append(
                {
                    "step": len(steps) + 1,
                    "text": str(message.content),
                    "cancelled": None,
                    "tools": [],
                    "verdict": None,
                    "usage": None,
                }
            )
            continue
        if not steps:
            continue
        if isinstance(message, ToolMessage):
            answered = 1
            text = ""
        else:
            parts = message.content if isinstance(message.content, list) else [message.content]
            text = "".join(p if isinstance(p, str) else str(p.get("text", "")) for p in parts)
            answered = text.count("<tool_response>")
        for _ in range(answered):
            if calls:
                call = calls.pop(0)
                steps[-1]["tools"].append(
                    {k: call.get(k) for k in ("name", "arguments", "ok", "text", "images")}
                )
        if text.startswith(prompts.CRITIQUE_HEADER):
            steps[-1]["verdict"] = {"verdict": "revise", "findings": [], "critique": text}
    return steps


def merge_steps(
    from_state: list[dict[str, Any]], from_events: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The state's steps, each replaced by the live events' version where a listener saw it."""
    seen = {step["step"]: step for step in from_events}
    merged = [seen.pop(step["step"], step) for step in from_state]
    return merged + sorted(seen.values(), key=lambda s: s["step"])


def _finding(finding: dict[str, Any]) -> dict[str, Any]:
    keys = ("check", "severity", "message", "start", "end", "evidence", "confidence")
    return {k: finding.get(k) for k in keys}


def save_images(store: ImageStore, folder: Path) -> dict[str, dict[str, Any]]:
    """Write every image of ``store`` into ``folder/images`` (file name: content hash; the
    bytes the model was sent where they show the image whole, else PNG); their lineage, sizes
    and boxes in original pixels."""
    out: dict[str, dict[str, Any]] = {}
    for image_id in store.ids:
        record = store.get(image_id)
        name = save_by_hash(folder / IMAGES_DIR, *store.file_bytes(image_id))
        width, height = record.size
        box = store.box_to_root(image_id, (0, 0, width, height))
        out[image_id] = {
            "file": f"{IMAGES_DIR}/{name}",
            "size": [width, height],
            "parent": record.parent,
            "root": store.root(image_id),
            "operation": record.operation,
            "params": _jsonable(record.params),
            "box": [round(v, 1) for v in box],
            "source": record.source if record.parent is None else None,
        }
    return out


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=lambda v: getattr(v, "tolist", lambda: str(v))()))


def solve_record(
    values: dict[str, Any],
    store: ImageStore,
    recorder: Recorder,
    folder: Path,
    *,
    graph: str,
    model: str,
    profile: str,
    error: str | None,
) -> dict[str, Any]:
    """The record of a solve (or physics) run from its last state, store and events."""
    from qvq_agent.results import findings_json

    extra: dict[str, Any] = {}
    for key in ("givens", "equations", "choice"):
        if key in values:
            extra[key] = _jsonable(values[key])
    return {
        "version": RECORD_VERSION,
        "kind": "solve",
        "graph": graph,
        "model": model,
        "profile": profile,
        "question": values.get("question"),
        "choices": list(values.get("choices", [])),
        "user_images": list(values.get("image_ids", [])),
        "images": save_images(store, folder),
        "steps": merge_steps(steps_from_state(values), recorder.steps),
        "answer": values.get("answer"),
        "status": "error" if error else values.get("status", "unverified"),
        "revisions": values.get("revisions", 0),
        "findings": findings_json(list(values.get("findings", []))),
        "notes": findings_json(list(values.get("notes", []))),
        "usage": dict(values.get("usage") or {}),
        "error": error,
        "started_at": recorder.started_at,
        "wall_s": round(time.time() - recorder.started_at, 3),
        **extra,
    }


def count_record(
    values: dict[str, Any],
    store: ImageStore,
    recorder: Recorder,
    folder: Path,
    *,
    model: str,
    profile: str,
    error: str | None,
) -> dict[str, Any]:
    """The record of a count: the tiles, each tile's points per round, the merged points."""
    from qvq_agent.results import findings_json

    return {
        "version": RECORD_VERSION,
        "kind": "count",
        "graph": "count",
        "model": model,
        "profile": profile,
        "question": values.get("question"),
        "user_images": [values["image_id"]] if values.get("image_id") else [],
        "images": save_images(store, folder),
        "steps": recorder.steps,
        "tiles": _jsonable(values.get("plan", [])),
        "overlap": values.get("overlap", 0),
        "tile_counts": _jsonable(values.get("tile_counts", [])),
        "points": _jsonable(values.get("points", [])),
        "method": values.get("method"),
        "target": values.get("target"),
        "answer": values.get("answer"),
        "status": "error" if error else values.get("status", "unverified"),
        "findings": findings_json(list(values.get("findings", []))),
        "usage": dict(values.get("usage") or {}),
        "error": error,
        "started_at": recorder.started_at,
        "wall_s": round(time.time() - recorder.started_at, 3),
    }


def write_record(record: dict[str, Any], path: Path) -> None:
    """Write ``record`` as JSON at ``path``, atomically (a crash leaves the old file or none)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(record, ensure_ascii=False, indent=1).encode())


def read_record(path: Path) -> dict[str, Any]:
    """A record written by :func:`write_record`.

    Raises:
        ValueError: not a readable record (the message names the file).
    """
    from qvq_agent.untrusted import UntrustedJSONError, load_json

    try:
        data = load_json(path.read_bytes())
    except FileNotFoundError:
        raise ValueError(f"{path}: no such file") from None
    except (OSError, UntrustedJSONError) as exc:
        raise ValueError(f"{path}: not a readable run record ({exc})") from None
    if not isinstance(data, dict) or data.get("version") != RECORD_VERSION:
        raise ValueError(f"{path}: not a qvq-agent run record (version {RECORD_VERSION})")
    return data
