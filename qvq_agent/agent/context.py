"""Run settings, passed to the graph as LangGraph context (``context_schema``).

Nodes read their settings here and nowhere else (never ``os.environ``): the CLI and
:func:`~qvq_agent.solver.solve` build a :class:`Context` once, at the edge. The settings
themselves are declared once, in :class:`~qvq_agent.settings.RunSettings`; the context adds
what a run needs besides them (the resolved profile, the chat model, the image store, the tools,
the checks).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal, cast

from langchain_core.language_models import BaseChatModel

from qvq_agent.agent.checks import DEFAULT_CHECKS
from qvq_agent.images import ImageStore
from qvq_agent.profiles import ModelProfile, resolve_profile
from qvq_agent.settings import RunSettings
from qvq_agent.tools import ToolRegistry, default_registry

if TYPE_CHECKING:
    from langgraph.runtime import Runtime

Event = dict[str, Any]
"""A live event: ``{"event": "token" | "tool" | "verdict" | "cancelled" | "step", ...}``."""


@dataclass(kw_only=True)
class Context:
    """Everything a run needs besides its state; every field has a default that works."""

    settings: RunSettings = field(default_factory=RunSettings)
    """Server, model and budgets. A dict (as the LangGraph server sends it) is validated."""
    profile: ModelProfile = field(default=cast(ModelProfile, None))
    """Model family: coordinate frame, prompts, pixel budget, stop strings, answer markers.
    Resolved from ``settings.profile`` or the model name when not given."""
    chat_model: BaseChatModel | None = None
    """A ready chat model (tests, other providers); built from the settings when ``None``."""
    store: ImageStore = field(default_factory=ImageStore)
    """Where the run's images live (ids in state, pixels here)."""
    tools: ToolRegistry = field(default_factory=default_registry)
    """Tools the model may call."""
    checks: tuple[str, ...] = DEFAULT_CHECKS
    """Verifier checks to run on each final reply."""
    loop_guard: bool = True
    """Cancel a streaming reply as soon as it starts looping."""
    stream_tokens: bool = True
    """Send a ``token`` event for each piece of a streaming reply (live output). Batch runs turn
    it off: the ``reply`` event after each reply carries its whole text."""
    http_backend: Literal["httpx", "aiohttp"] = "httpx"
    """The OpenAI client's transport. ``aiohttp`` (the SDK's own option for high concurrency;
    ``openai[aiohttp]``, in the ``eval`` extra) takes about half the CPU per request with many
    requests in flight; the eval runner uses it when installed. Whoever uses it closes the
    clients at the end (:func:`qvq_agent.agent.llm.aclose_clients`)."""
    on_event: Callable[[Event], None] | None = None
    """Called with each live event, on the run's event loop, as it happens. Events also go to
    LangGraph's ``custom`` stream for a caller that streams it (the LangGraph server); this
    direct path spares a local run that stream's cost (a wake-up of the loop per event)."""

    def __post_init__(self) -> None:
        raw: Any = self.settings
        if isinstance(raw, dict):
            self.settings = RunSettings.model_validate(raw)
        if self.profile is None:
            self.profile = resolve_profile(self.settings.model, self.settings.profile)
        protocol = self.settings.tool_protocol
        if protocol is not None and protocol != self.profile.tool_protocol:
            self.profile = replace(self.profile, tool_protocol=protocol)

    @property
    def recursion_limit(self) -> int:
        """LangGraph recursion limit for this run: every node visit the budgets allow (up to
        three nodes a step), plus slack."""
        return 3 * self.settings.max_steps + self.settings.max_revisions + 8


def chain_listeners(
    first: Callable[[Event], None] | None, second: Callable[[Event], None]
) -> Callable[[Event], None]:
    """A listener that calls ``first`` (when there is one), then ``second``."""
    if first is None:
        return second

    def both(event: Event) -> None:
        first(event)
        second(event)

    return both


def event_sink(runtime: Runtime[Context]) -> Callable[[Event], None]:
    """Where a node sends its live events: the context's listener, and LangGraph's custom
    stream (a no-op unless the caller streams ``custom``)."""
    return chain_listeners(runtime.context.on_event, runtime.stream_writer)
