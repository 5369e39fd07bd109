"""``qvq-agent doctor``: check a server the way the agent will use it, with a fix per failure.

Checks, in order (later ones are skipped when the server cannot be reached): reachable, model
listed, accepts an image, honours stop strings, streams, accepts the profile's number of
images, context length, prefix caching (when ``/metrics`` is readable), tool protocols (text
always; native when the server takes ``tools`` with ``tool_choice: auto``).
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import httpx
from PIL import Image

from qvq_agent.profiles import ModelProfile
from qvq_agent.serving import vllm_command
from qvq_agent.untrusted import UntrustedJSONError, load_json

Outcome = Literal["pass", "fail", "skip"]
STOP_PROBE = "alpha </tool_call> beta"


@dataclass(frozen=True)
class CheckResult:
    """One row of the doctor's table."""

    name: str
    outcome: Outcome
    detail: str
    fix: str = ""


def _png(size: int = 56, colour: str = "red") -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (size, size), colour).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _clip(text: str, limit: int = 120) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
        error = body.get("error", body)
        return str(error.get("message", error) if isinstance(error, dict) else error)[:200]
    except (ValueError, AttributeError):
        return response.text[:200]


def required_context(profile: ModelProfile) -> int:
    """Context the agent needs: a full reply plus room for images and the conversation."""
    return profile.max_new_tokens + 8192


@dataclass
class Doctor:
    """Runs the checks against one server."""

    base_url: str
    model: str
    profile: ModelProfile
    api_key: str = "EMPTY"
    timeout_s: float = 60.0

    def __post_init__(self) -> None:
        self.client = httpx.Client(
            timeout=self.timeout_s, headers={"Authorization": f"Bearer {self.api_key}"}
        )
        self.models: list[dict[str, Any]] = []

    def _chat(self, messages: list[dict[str, Any]], **extra: Any) -> httpx.Response:
        body = {
            "model": self.model,
            "messages": messages,
            "max_tokens": 8,
            "temperature": 0,
            **extra,
        }
        return self.client.post(f"{self.base_url.rstrip('/')}/chat/completions", json=body)

    def run(self) -> list[CheckResult]:
        """All checks, in order."""
        results = [self.reachable()]
        if results[0].outcome != "pass":
            return results
        steps: list[Callable[[], CheckResult]] = [
            self.model_listed,
            self.image,
            self.stop_strings,
            self.streaming,
            self.image_limit,
            self.context_length,
            self.prefix_caching,
            self.tool_protocol,
        ]
        for step in steps:
            name = step.__name__.replace("_", " ")
            try:
                results.append(step())
            except httpx.HTTPError as exc:
                results.append(CheckResult(name, "fail", f"request failed: {exc}"))
            except (ValueError, KeyError, TypeError, AttributeError, IndexError) as exc:
                results.append(
                    CheckResult(
                        name,
                        "fail",
                        f"the server's answer could not be read ({type(exc).__name__})",
                    )
                )
        return results

    def reachable(self) -> CheckResult:
        try:
            response = self.client.get(f"{self.base_url.rstrip('/')}/models")
        except httpx.HTTPError as exc:
            return CheckResult(
                "reachable",
                "fail",
                f"cannot connect to {self.base_url} ({type(exc).__name__})",
                f"start the server: {vllm_command(self.profile, self.model)}",
            )
        if response.status_code != 200:
            return CheckResult(
                "reachable",
                "fail",
                f"GET /models answered {response.status_code}: {_message(response)}",
                "check --base-url (it ends in /v1) and --api-key",
            )
        try:
            listing = load_json(response.content)
            models = listing.get("data") if isinstance(listing, dict) else None
            if not isinstance(models, list):
                raise UntrustedJSONError('no "data" list')
        except UntrustedJSONError as exc:
            return CheckResult(
                "reachable",
                "fail",
                f"GET /models did not answer with an OpenAI model list ({exc}): "
                f"{_clip(response.text)}",
                "check --base-url: it must be the OpenAI-compatible API root, ending in /v1",
            )
        self.models = [m for m in models if isinstance(m, dict)]
        return CheckResult("reachable", "pass", f"{self.base_url} answers")

    def model_listed(self) -> CheckResult:
        ids = [str(m.get("id")) for m in self.models]
        if self.model in ids:
            return CheckResult("model listed", "pass", self.model)
        return CheckResult(
            "model listed",
            "fail",
            f"{self.model!r} is not served (served: {', '.join(ids) or 'none'})",
            f"use --model {ids[0]}" if ids else "start the server with this model",
        )

    def image(self) -> CheckResult:
        text_only = self._chat([{"role": "user", "content": "hi"}])
        with_image = self._chat(
            [
                {
                    "role": "user",
                    "content": [
                        {"type": "image_url", "image_url": {"url": _png()}},
                        {"type": "text", "text": "hi"},
                    ],
                }
            ]
        )
        if with_image.status_code != 200:
            return CheckResult(
                "accepts an image",
                "fail",
                f"{with_image.status_code}: {_message(with_image)}",
                "serve a vision-language model (QVQ, Qwen2-VL)",
            )
        if text_only.status_code == 200:
            extra = (
                with_image.json()["usage"]["prompt_tokens"]
                - text_only.json()["usage"]["prompt_tokens"]
            )
            return CheckResult(
                "accepts an image", "pass", f"a 56x56 image costs {extra} prompt tokens"
            )
        return CheckResult("accepts an image", "pass", "image request answered")

    def stop_strings(self) -> CheckResult:
        response = self._chat(
            [{"role": "user", "content": f"Repeat exactly: {STOP_PROBE}"}],
            max_tokens=32,
            stop=["</tool_call>"],
            structured_outputs={"regex": STOP_PROBE.replace(" ", r"\s")},
        )
        if response.status_code != 200:
            return CheckResult(
                "honours stop strings",
                "fail",
                f"{response.status_code}: {_message(response)}",
                "the agent needs `stop`: use vLLM or another server that supports it",
            )
        content = response.json()["choices"][0]["message"]["content"] or ""
        if "</tool_call>" in content:
            return CheckResult(
                "honours stop strings",
                "fail",
                f"reply went past the stop string: {content[:60]!r}",
                "use a server that applies `stop` (vLLM does)",
            )
        return CheckResult(
            "honours stop strings", "pass", f"reply cut before the stop string: {content[:40]!r}"
        )

    def streaming(self) -> CheckResult:
        body = {
            "model": self.model,
            "messages": [{"role": "user", "content": "hi"}],
            "max_tokens": 8,
            "stream": True,
        }
        chunks, done = 0, False
        with self.client.stream(
            "POST", f"{self.base_url.rstrip('/')}/chat/completions", json=body
        ) as response:
            if response.status_code != 200:
                return CheckResult(
                    "streams", "fail", f"{response.status_code}", "enable streaming on the server"
                )
            for line in response.iter_lines():
                if line.startswith("data: [DONE]"):
                    done = True
                elif line.startswith("data: "):
                    chunks += 1
        if chunks and done:
            return CheckResult("streams", "pass", f"{chunks} chunks")
        return CheckResult(
            "streams", "fail", "no event stream", "serve with an OpenAI-compatible streaming API"
        )

    def tool_protocol(self) -> CheckResult:
        """Which tool protocols the server supports: text always (stop strings are checked
        above); native when it accepts ``tools`` with ``tool_choice: auto``."""
        calculate = {
            "type": "function",
            "function": {
                "name": "calculate",
                "description": "Compute an expression.",
                "parameters": {
                    "type": "object",
                    "properties": {"expression": {"type": "string"}},
                    "required": ["expression"],
                },
            },
        }
        response = self._chat(
            [{"role": "user", "content": "What is 4 + 3?"}], tools=[calculate], tool_choice="auto"
        )
        native = self.profile.tool_protocol == "native"
        if response.status_code == 200:
            detail = "text and native (tools with tool_choice auto accepted)"
            return CheckResult("tool protocol", "pass", detail)
        enable = "start vLLM with --enable-auto-tool-choice --tool-call-parser hermes"
        if native:
            detail = f"native tool calling refused: {_message(response)}"
            return CheckResult(
                "tool protocol", "fail", detail, f"{enable}, or use the text protocol"
            )
        detail = f"text only (for --tool-protocol native, {enable})"
        return CheckResult("tool protocol", "pass", detail)

    def image_limit(self) -> CheckResult:
        n = self.profile.max_images
        parts: list[dict[str, Any]] = [
            {"type": "image_url", "image_url": {"url": _png(28)}} for _ in range(n)
        ]
        response = self._chat(
            [{"role": "user", "content": [*parts, {"type": "text", "text": "hi"}]}]
        )
        if response.status_code == 200:
            return CheckResult("image limit", "pass", f"{n} images in one request accepted")
        return CheckResult(
            "image limit",
            "fail",
            f"{n} images refused: {_message(response)}",
            f"start vLLM with --limit-mm-per-prompt '{json.dumps({'image': n})}' "
            "(the original plus the crops a conversation collects)",
        )

    def context_length(self) -> CheckResult:
        needed = required_context(self.profile)
        entry = next((m for m in self.models if m.get("id") == self.model), {})
        length = entry.get("max_model_len")
        if not isinstance(length, int):
            return CheckResult("context length", "skip", "the server does not report max_model_len")
        if length >= needed:
            return CheckResult("context length", "pass", f"{length} tokens (needs {needed})")
        return CheckResult(
            "context length",
            "fail",
            f"{length} tokens; the {self.profile.name} profile needs {needed}",
            f"start vLLM with --max-model-len {max(needed, 32768)}",
        )

    def _metrics(self) -> dict[str, float] | None:
        root = self.base_url.rstrip("/").removesuffix("/v1")
        try:
            response = self.client.get(f"{root}/metrics")
        except httpx.HTTPError:
            return None
        if response.status_code != 200:
            return None
        values: dict[str, float] = {}
        for line in response.text.splitlines():
            for name in ("vllm:prefix_cache_queries_total", "vllm:prefix_cache_hits_total"):
                if line.startswith(name):
                    values[name] = values.get(name, 0.0) + float(line.rsplit(" ", 1)[1])
        return values

    def prefix_caching(self) -> CheckResult:
        before = self._metrics()
        if not before:
            return CheckResult("prefix caching", "skip", "/metrics not readable")
        long_prompt = "Describe the image. " * 80
        for _ in range(2):
            self._chat(
                [
                    {
                        "role": "user",
                        "content": [
                            {"type": "image_url", "image_url": {"url": _png(112)}},
                            {"type": "text", "text": long_prompt},
                        ],
                    }
                ]
            )
        after = self._metrics() or {}
        hits = after.get("vllm:prefix_cache_hits_total", 0) - before.get(
            "vllm:prefix_cache_hits_total", 0
        )
        queries = after.get("vllm:prefix_cache_queries_total", 0) - before.get(
            "vllm:prefix_cache_queries_total", 0
        )
        if hits > 0:
            return CheckResult(
                "prefix caching",
                "pass",
                f"a repeated request hit {hits:.0f} of {queries:.0f} prompt tokens",
            )
        return CheckResult(
            "prefix caching",
            "fail",
            "a repeated request hit no cached tokens",
            "start vLLM with --enable-prefix-caching (on by default in vLLM 1.x)",
        )
