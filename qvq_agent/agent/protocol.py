"""The text tool-call protocol: find ``<tool_call>`` blocks in a reply, render ``<tool_response>``.

The parser is tolerant of what models really write: surrounding whitespace, code fences, trailing
commas, ``arguments`` given as a JSON string, and a missing ``</tool_call>`` (the stop string
cuts it off). What it cannot read becomes a :class:`CallParseError` that the tool node reports
back to the model.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from qvq_agent.profiles import TOOL_CALL_STOP
from qvq_agent.untrusted import UntrustedJSONError, load_json

TOOL_CALL_OPEN = "<tool_call>"
_BLOCK = re.compile(r"<tool_call>(.*?)(?:</tool_call>|(?=<tool_call>)|\Z)", re.DOTALL)
_FENCE = re.compile(r"^```[a-zA-Z]*\s*|\s*```$")
_TRAILING_COMMA = re.compile(r",\s*([}\]])")


@dataclass(frozen=True)
class ToolCall:
    """A tool call read from the model's text."""

    name: str
    arguments: dict[str, Any]

    def key(self) -> str:
        """Canonical form, to recognise an identical repeated call."""
        return json.dumps({"name": self.name, "arguments": self.arguments}, sort_keys=True)


@dataclass(frozen=True)
class CallParseError:
    """A ``<tool_call>`` block that could not be read."""

    message: str
    raw: str


def _loads(raw: str) -> Any:
    body = _FENCE.sub("", raw.strip()).strip()
    try:
        return load_json(body)
    except UntrustedJSONError:
        pass
    cleaned = _TRAILING_COMMA.sub(r"\1", body)
    start, end = cleaned.find("{"), cleaned.rfind("}")
    if start == -1 or end <= start:
        raise ValueError("no JSON object found")
    try:
        return load_json(cleaned[start : end + 1])
    except UntrustedJSONError as exc:
        raise ValueError(f"invalid JSON ({exc})") from None


def read_native_call(name: str, arguments: str) -> ToolCall | CallParseError:
    """A tool call the server parsed (native protocol): its name and its arguments' JSON text,
    read as untrusted text like a written call."""
    return _to_call(json.dumps({"name": name, "arguments": arguments or "{}"}))


def _to_call(raw: str) -> ToolCall | CallParseError:
    try:
        data = _loads(raw)
    except ValueError as exc:
        return CallParseError(str(exc), raw)
    if not isinstance(data, dict):
        return CallParseError("the call must be a JSON object", raw)
    name = data.get("name")
    if not isinstance(name, str) or not name:
        return CallParseError('the call has no "name"', raw)
    arguments = data.get("arguments", data.get("parameters", {}))
    if isinstance(arguments, str):
        try:
            arguments = load_json(arguments)
        except UntrustedJSONError:
            return CallParseError('"arguments" is a string that is not JSON', raw)
    if not isinstance(arguments, dict):
        return CallParseError('"arguments" must be a JSON object', raw)
    return ToolCall(name, arguments)


def parse_tool_calls(text: str) -> list[ToolCall | CallParseError]:
    """Every ``<tool_call>`` block in ``text``, in order, read or reported as unreadable."""
    return [_to_call(match.group(1)) for match in _BLOCK.finditer(text)]


def has_open_call(text: str) -> bool:
    """True when the text ends inside a ``<tool_call>`` block (the stop string cut the close)."""
    last_open = text.rfind(TOOL_CALL_OPEN)
    return last_open != -1 and text.find(TOOL_CALL_STOP, last_open) == -1


def close_open_call(text: str) -> str:
    """Restore the ``</tool_call>`` that the stop string removed, so the history reads well."""
    return text.rstrip() + "\n" + TOOL_CALL_STOP if has_open_call(text) else text
