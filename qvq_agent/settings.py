"""Every run setting, declared once: :class:`RunSettings` (names, types, bounds, defaults,
descriptions) and :class:`Settings`, the same fields read from the environment (``QVQ_AGENT_*``).

This is the only place that reads ``os.environ``; nodes get their settings through the graph's
:class:`~qvq_agent.agent.context.Context`, which holds a :class:`RunSettings`. The CLI's flags
take their help text from the descriptions here.
"""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_BASE_URL = "http://localhost:8000/v1"
DEFAULT_MODEL = "Qwen/QVQ-72B-Preview"
REVISE_CONFIDENCE = 0.65
"""Verifier findings at or above this confidence send the model back, by default."""


def check_base_url(url: str) -> str:
    """``url`` when it is a usable http(s) endpoint; a ``ValueError`` that says why, if not."""
    if url != url.strip() or any(ord(ch) < 32 or ch == " " for ch in url):
        raise ValueError(f"the URL {url!r} has spaces or control characters in it")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"the URL {url!r} cannot be read ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"the URL {url!r} must look like http://HOST:PORT/v1")
    if port is not None and not 0 < port < 65536:
        raise ValueError(f"the URL {url!r} has no valid port")
    return url


class RunSettings(BaseModel):
    """Where the model is served and how a run is bounded (no environment is read here)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    base_url: str = Field(DEFAULT_BASE_URL, description="OpenAI-compatible endpoint (vLLM).")
    model: str = Field(DEFAULT_MODEL, description="Model name as the server lists it.")
    api_key: str = Field("EMPTY", description="API key; vLLM accepts any unless started with one.")
    profile: str | None = Field(
        None,
        description="Model profile (qvq, qvq-max, qwen3-vl, qwen2-vl, qwen2.5-vl, openai); "
        "picked from the model name when not given.",
    )
    tool_protocol: Literal["text", "native"] | None = Field(
        None,
        description="How the model calls tools: text (<tool_call> blocks in the reply) or "
        "native (the server's tool calling: vLLM with --enable-auto-tool-choice "
        "--tool-call-parser hermes); default: the profile's.",
    )
    max_steps: int = Field(12, ge=1, description="Model requests per run, revisions included.")
    max_revisions: int = Field(2, ge=0, description="Verifier critiques before giving up.")
    max_tokens: int | None = Field(
        None, ge=1, description="Completion tokens per request (default: the profile's)."
    )
    max_total_tokens: int = Field(
        60_000, ge=1, description="Completion tokens per run, all requests together."
    )
    max_wall_s: float = Field(900.0, gt=0, description="Wall-clock budget of one run, seconds.")
    request_timeout_s: float = Field(600.0, gt=0, description="Timeout of one model request.")
    stream_idle_timeout_s: float = Field(
        120.0, gt=0, description="A streaming reply that sends nothing for this long fails."
    )
    retries: int = Field(2, ge=0, description="Retries of a failed request (connection, 5xx).")
    temperature: float | None = Field(None, description="Sampling temperature (default: profile).")
    revise_confidence: float = Field(
        REVISE_CONFIDENCE,
        ge=0,
        le=1,
        description="Verifier findings at or above this confidence send the model back; "
        "the rest are reported as notes.",
    )
    judge: bool = Field(
        False,
        description="Before a circular or answer_mismatch critique is sent, ask a model (one "
        "short request) whether the quoted span really is that; a 'no' makes it a note.",
    )
    judge_base_url: str | None = Field(
        None, description="OpenAI-compatible endpoint of the judge (default: base_url)."
    )
    judge_model: str | None = Field(None, description="Model name of the judge (default: model).")
    extra_body: dict[str, Any] = Field(
        default_factory=dict,
        description="JSON merged into every request body (vLLM: structured_outputs, ...).",
    )

    @field_validator("base_url")
    @classmethod
    def _readable_url(cls, value: str) -> str:
        return check_base_url(value)

    @field_validator("judge_base_url")
    @classmethod
    def _readable_judge_url(cls, value: str | None) -> str | None:
        return None if value is None else check_base_url(value)

    def with_overrides(self, **overrides: Any) -> RunSettings:
        """A copy with the given fields replaced (validated); ``None`` values are ignored.

        Raises:
            pydantic.ValidationError: a value out of its bounds, or a field that does not exist.
        """
        given = {k: v for k, v in overrides.items() if v is not None}
        return RunSettings.model_validate({**self.model_dump(), **given})


class Settings(BaseSettings, RunSettings):
    """:class:`RunSettings` read from the environment.

    Precedence: explicit arguments (CLI flags) > environment (``QVQ_AGENT_*``) > defaults.
    """

    model_config = SettingsConfigDict(env_prefix="QVQ_AGENT_", extra="ignore", frozen=True)
