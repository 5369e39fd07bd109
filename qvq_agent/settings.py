"""Settings read from the environment (prefix ``QVQ_AGENT_``) and overridden by CLI flags.

This is the only place that reads ``os.environ``; nodes get their settings through the
graph's :class:`~qvq_agent.agent.context.Context`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_BASE_URL = "http://localhost:8000/v1"
DEFAULT_MODEL = "Qwen/QVQ-72B-Preview"


class Settings(BaseSettings):
    """Where the model is served and how a run is bounded.

    Precedence: explicit arguments (CLI flags) > environment (``QVQ_AGENT_*``) > defaults.
    """

    model_config = SettingsConfigDict(env_prefix="QVQ_AGENT_", extra="ignore")

    base_url: str = Field(DEFAULT_BASE_URL, description="OpenAI-compatible endpoint (vLLM).")
    model: str = Field(DEFAULT_MODEL, description="Model name as the server lists it.")
    api_key: str = Field("EMPTY", description="API key; vLLM accepts any unless started with one.")
    profile: str | None = Field(None, description="Model profile; picked from the model name.")
    max_steps: int = Field(12, ge=1, description="Model calls per run, revisions included.")
    max_revisions: int = Field(2, ge=0, description="Verifier critiques before giving up.")
    max_tokens: int | None = Field(
        None, ge=1, description="Completion tokens per request (default: the profile's)."
    )
    max_total_tokens: int = Field(
        60_000, ge=1, description="Completion tokens per run, all requests together."
    )
    max_wall_s: float = Field(900.0, gt=0, description="Wall-clock budget of one run, seconds.")
    request_timeout_s: float = Field(600.0, gt=0, description="Timeout of one model request.")
    retries: int = Field(2, ge=0, description="Retries of a failed request (connection, 5xx).")
    temperature: float | None = Field(None, description="Sampling temperature (default: profile).")
    extra_body: dict[str, Any] = Field(
        default_factory=dict,
        description="Passed through in every request body (vLLM: structured_outputs, ...).",
    )
    data_dir: Path = Field(Path(".qvq-agent"), description="Where runs and checkpoints go.")

    def with_overrides(self, **overrides: Any) -> Settings:
        """A copy with the given fields replaced; ``None`` values are ignored."""
        given = {k: v for k, v in overrides.items() if v is not None}
        return type(self)(**{**self.model_dump(), **given})
