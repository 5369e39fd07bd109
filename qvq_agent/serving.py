"""How to serve a model for the agent: the vLLM command for a profile, explained flag by flag."""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from pathlib import Path

from qvq_agent.profiles import ModelProfile
from qvq_agent.settings import DEFAULT_MODEL


@dataclass(frozen=True)
class ServeFlag:
    """One command-line flag of ``vllm serve`` and why it is set."""

    flag: str
    value: str | None
    why: str


def vllm_flags(
    profile: ModelProfile,
    *,
    gpus: int = 4,
    max_model_len: int = 32768,
    port: int = 8000,
    data_parallel: int = 1,
) -> list[ServeFlag]:
    """The flags that serve ``profile``'s model the way the agent uses it (``gpus`` per model
    replica, ``data_parallel`` replicas behind the one port)."""
    flags = [
        ServeFlag("--port", str(port), "where the agent connects (http://localhost:PORT/v1)"),
        ServeFlag(
            "--max-model-len",
            str(max_model_len),
            "room for the images, tool results and up to 8k tokens of reasoning",
        ),
        ServeFlag(
            "--limit-mm-per-prompt",
            json.dumps({"image": profile.max_images}),
            "the original plus the crops the conversation accumulates",
        ),
        ServeFlag(
            "--mm-processor-kwargs",
            json.dumps({"max_pixels": profile.max_pixels}),
            "the same pixel budget the agent resizes to, so token estimates match",
        ),
    ]
    if profile.tool_protocol == "native":
        flags.append(
            ServeFlag("--enable-auto-tool-choice", None, "the server parses tool calls (native)")
        )
        flags.append(ServeFlag("--tool-call-parser", "hermes", "Qwen's <tool_call> JSON blocks"))
    if profile.reasoning_field == "reasoning_content" and profile.name == "qwen3-vl":
        flags.append(
            ServeFlag("--reasoning-parser", "qwen3", "thinking arrives apart, in `reasoning`")
        )
    if data_parallel > 1:
        flags.insert(
            0,
            ServeFlag(
                "--data-parallel-size",
                str(data_parallel),
                f"{data_parallel} replicas behind this one port; vLLM balances the requests "
                f"(needs {data_parallel * gpus} GPUs)",
            ),
        )
    if gpus > 1:
        flags.insert(
            0,
            ServeFlag(
                "--tensor-parallel-size",
                str(gpus),
                "split the 72B weights over the GPUs (about 150 GB in bf16)",
            ),
        )
    return flags


def vllm_command(
    profile: ModelProfile,
    model: str = DEFAULT_MODEL,
    *,
    gpus: int = 4,
    max_model_len: int = 32768,
    port: int = 8000,
    data_parallel: int = 1,
) -> str:
    """The ``vllm serve`` command line, shell-quoted."""
    parts = ["vllm", "serve", model]
    flags = vllm_flags(
        profile, gpus=gpus, max_model_len=max_model_len, port=port, data_parallel=data_parallel
    )
    for flag in flags:
        parts.append(flag.flag)
        if flag.value is not None:
            parts.append(flag.value)
    return shlex.join(parts)


def tiny_server_command(port: int = 8000) -> tuple[list[str], Path] | None:
    """The command (and the folder to run it in) that builds and serves the tiny random-weight
    Qwen2-VL on the CPU, or ``None`` outside a source checkout (the builder is test tooling
    under ``tests/support``)."""
    import sys

    root = Path(__file__).resolve().parents[1]
    if not (root / "tests" / "support" / "vllm_cpu.py").is_file():
        return None
    return [sys.executable, "-m", "tests.support.vllm_cpu", "serve", str(port)], root
