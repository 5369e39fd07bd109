"""Run settings, passed to the graph as LangGraph context (``context_schema``).

Nodes read their settings here and nowhere else (never ``os.environ``): the CLI and
:class:`~qvq_agent.settings.Settings` build a :class:`Context` once, at the edge.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from langchain_core.language_models import BaseChatModel

from qvq_agent.agent.checks import DEFAULT_CHECKS
from qvq_agent.images import ImageStore
from qvq_agent.profiles import PROFILES, ModelProfile
from qvq_agent.settings import DEFAULT_BASE_URL, DEFAULT_MODEL
from qvq_agent.tools import ToolRegistry, default_registry


@dataclass(kw_only=True)
class Context:
    """Everything a run needs besides its state; every field has a default that works."""

    base_url: str = DEFAULT_BASE_URL
    """OpenAI-compatible endpoint serving the model (vLLM)."""
    model: str = DEFAULT_MODEL
    """Model name sent with each request."""
    api_key: str = "EMPTY"
    """API key for the endpoint."""
    profile: ModelProfile = field(default_factory=lambda: PROFILES["qvq"])
    """Model family: coordinate frame, prompts, pixel budget, stop strings, answer markers."""
    chat_model: BaseChatModel | None = None
    """A ready chat model (tests, other providers); built from the fields above when ``None``."""
    store: ImageStore = field(default_factory=ImageStore)
    """Where the run's images live (ids in state, pixels here)."""
    tools: ToolRegistry = field(default_factory=default_registry)
    """Tools the model may call."""
    checks: tuple[str, ...] = DEFAULT_CHECKS
    """Verifier checks to run on each final reply."""
    max_steps: int = 12
    """Model requests per run, revisions included."""
    max_revisions: int = 2
    """Critiques the verifier may send before it gives up."""
    max_tokens: int | None = None
    """Completion tokens per request; the profile's ``max_new_tokens`` when ``None``."""
    max_total_tokens: int = 60_000
    """Completion tokens per run."""
    max_wall_s: float = 900.0
    """Wall-clock budget of the run in seconds."""
    request_timeout_s: float = 600.0
    """Timeout of one model request."""
    retries: int = 2
    """Retries of a failed request (connection errors, 5xx)."""
    temperature: float | None = None
    """Sampling temperature; the profile's when ``None``."""
    extra_body: dict[str, Any] = field(default_factory=dict)
    """Passed through in every request body (vLLM: ``structured_outputs``, ``mm_processor_kwargs``)."""
    loop_guard: bool = True
    """Cancel a streaming reply as soon as it starts looping."""

    @property
    def recursion_limit(self) -> int:
        """LangGraph recursion limit for this run: every node visit the budgets allow (up to three nodes a step), plus slack."""
        return 3 * self.max_steps + self.max_revisions + 8
