"""Reading JSON that a model, a server or a file wrote: bounded in size and nesting.

``json.loads`` recurses once per nesting level, so ``[`` x 50,000 raises ``RecursionError``
deep inside it; :func:`load_json` measures the nesting first (one linear pass) and refuses
with a ``ValueError`` that says why, like any other malformed JSON.
"""

from __future__ import annotations

import json
from typing import Any

MAX_DEPTH = 64
"""Deeper JSON is refused (no tool argument, block or stream chunk needs more)."""
MAX_CHARS = 5_000_000


class UntrustedJSONError(ValueError):
    """JSON that is malformed, too deep or too large; the message says which."""


def nesting_depth(text: str) -> int:
    """How deeply ``[``/``{`` nest in ``text`` (strings skipped), in one pass."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


def load_json(text: str | bytes, *, max_depth: int = MAX_DEPTH) -> Any:
    """``json.loads`` for untrusted text.

    Raises:
        UntrustedJSONError: malformed (the JSON error's message), nested deeper than
            ``max_depth``, or over :data:`MAX_CHARS` characters.
    """
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise UntrustedJSONError(f"not UTF-8 ({exc.reason})") from None
    if len(text) > MAX_CHARS:
        raise UntrustedJSONError(f"{len(text):,} characters of JSON is over {MAX_CHARS:,}")
    if nesting_depth(text) > max_depth:
        raise UntrustedJSONError(f"nested more than {max_depth} levels deep")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UntrustedJSONError(exc.msg + f" (line {exc.lineno}, column {exc.colno})") from None
    except RecursionError:
        raise UntrustedJSONError("nested too deeply to read") from None
