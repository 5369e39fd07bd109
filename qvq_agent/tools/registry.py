"""The tool registry: typed tools, argument validation, readable errors for the model.

A tool is a function ``(env, args) -> ToolResult`` with a pydantic model for its arguments and a
docstring that the model reads in the tool manifest. Mistakes the model can fix (bad arguments,
a box outside the image) are raised as :class:`ToolError` and come back as text; anything else is
a bug and propagates.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from qvq_agent.images import ImageStore, UnknownImageError
from qvq_agent.profiles import ModelProfile

ArgsT = TypeVar("ArgsT", bound=BaseModel)


class ToolError(Exception):
    """A mistake in a tool call that the model can fix; the message is shown to it."""


@dataclass(frozen=True)
class ToolResult:
    """What a tool call produced."""

    ok: bool
    """False when the call was refused; ``text`` then says why."""
    text: str
    """What was done (or what went wrong), for the model."""
    images: tuple[str, ...] = ()
    """Ids of new images, handed back to the model with the text."""
    value: str | None = None
    """The main result as plain text (a number, a solution), for checks that compare answers."""


@dataclass(frozen=True)
class ToolEnv:
    """What a tool may use: the image store and the model profile (for the coordinate frame)."""

    store: ImageStore
    profile: ModelProfile


@dataclass(frozen=True)
class Tool(Generic[ArgsT]):
    """One tool the model can call."""

    name: str
    description: str
    args_model: type[ArgsT]
    fn: Callable[[ToolEnv, ArgsT], ToolResult]

    def schema(self) -> dict[str, Any]:
        """JSON schema of the arguments, without pydantic's titles (the model needs none)."""
        return _schema_of(self.args_model)

    def run(self, env: ToolEnv, arguments: dict[str, Any]) -> ToolResult:
        """Validate ``arguments`` and run; model mistakes come back as a refused result."""
        try:
            args = self.args_model.model_validate(arguments)
        except ValidationError as exc:
            return ToolResult(False, f"bad arguments for `{self.name}`: {describe_errors(exc)}")
        try:
            return self.fn(env, args)
        except (ToolError, UnknownImageError) as exc:
            return ToolResult(False, str(exc))


@lru_cache(maxsize=256)
def _schema_of(args_model: type[BaseModel]) -> dict[str, Any]:
    """An arguments model's JSON schema, built once (pydantic takes milliseconds per build)."""
    schema: dict[str, Any] = _strip_titles(args_model.model_json_schema())
    return schema


def _strip_titles(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _strip_titles(v) for k, v in node.items() if k != "title"}
    if isinstance(node, list):
        return [_strip_titles(v) for v in node]
    return node


def describe_errors(exc: ValidationError) -> str:
    """One readable line per argument problem: ``bbox: must be four numbers ...``."""
    parts = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"]) or "arguments"
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "is not an argument of this tool"
        parts.append(f"{where}: {message}")
    return "; ".join(parts)


def tool(
    args_model: type[ArgsT],
) -> Callable[[Callable[[ToolEnv, ArgsT], ToolResult]], Tool[ArgsT]]:
    """Make a :class:`Tool` from a function; its name and docstring are what the model sees."""

    def wrap(fn: Callable[[ToolEnv, ArgsT], ToolResult]) -> Tool[ArgsT]:
        doc = inspect.getdoc(fn) or fn.__name__
        description = doc.split("\n\n", 1)[0].replace("\n", " ")
        return Tool(fn.__name__.removeprefix("tool_"), description, args_model, fn)

    return wrap


class ToolRegistry:
    """Tools by name; refuses duplicate names."""

    def __init__(self, tools: Iterable[Tool[Any]] = ()) -> None:
        self._tools: dict[str, Tool[Any]] = {}
        self._manifest: str | None = None
        self._openai_tools: list[dict[str, Any]] | None = None
        for t in tools:
            self.register(t)

    def register(self, new: Tool[Any]) -> None:
        """Add a tool.

        Raises:
            ValueError: a tool with this name is already registered.
        """
        if new.name in self._tools:
            raise ValueError(f"a tool named {new.name!r} is already registered")
        self._tools[new.name] = new
        self._manifest = None
        self._openai_tools = None

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    @property
    def names(self) -> list[str]:
        """Tool names in registration order."""
        return list(self._tools)

    def get(self, name: str) -> Tool[Any] | None:
        """The tool called ``name``, if any."""
        return self._tools.get(name)

    def openai_tools(self) -> list[dict[str, Any]]:
        """The tools as the OpenAI API takes them (``tools=``), for the native protocol; built
        once (they go with every request)."""
        if self._openai_tools is None:
            self._openai_tools = [
                {
                    "type": "function",
                    "function": {
                        "name": t.name,
                        "description": t.description,
                        "parameters": t.schema(),
                    },
                }
                for t in self._tools.values()
            ]
        return self._openai_tools

    def manifest(self) -> str:
        """One JSON line per tool, ``{"name", "description", "parameters"}``, for the prompt."""
        if self._manifest is None:
            self._manifest = "\n".join(
                json.dumps(
                    {"name": t.name, "description": t.description, "parameters": t.schema()},
                    ensure_ascii=False,
                )
                for t in self._tools.values()
            )
        return self._manifest
