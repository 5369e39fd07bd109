"""Shared fixtures: a guard against real network calls, and images drawn by the tests."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageDraw

_real_connect = socket.socket.connect


def _loopback_only(self: socket.socket, address: Any) -> Any:
    if self.family in (socket.AF_INET, socket.AF_INET6):
        host = address[0]
        try:
            allowed = host == "localhost" or ipaddress.ip_address(host).is_loopback
        except ValueError:
            allowed = False
        if not allowed:
            raise RuntimeError(f"tests may only connect to loopback, not {host!r}")
    return _real_connect(self, address)


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Refuse any connection that is not to 127.0.0.1 / ::1 (unit tests never call out)."""
    monkeypatch.setattr(socket.socket, "connect", _loopback_only)
    yield


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings from the developer's shell must not leak into tests."""
    for name in (
        "QVQ_AGENT_BASE_URL",
        "QVQ_AGENT_MODEL",
        "QVQ_AGENT_API_KEY",
        "QVQ_AGENT_PROFILE",
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
    ):
        monkeypatch.delenv(name, raising=False)


def draw_scene(width: int = 1200, height: int = 800) -> Image.Image:
    """A test picture with distinct content everywhere (so crops are checkable)."""
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    for i in range(0, width, 40):
        draw.line([(i, 0), (i, height)], fill=((i * 7) % 256, 80, 160), width=3)
    draw.ellipse([100, 100, 300, 300], fill="red")
    draw.rectangle([700, 400, 900, 700], fill="blue")
    draw.text((500, 50), "A=12", fill="black")
    return image


@pytest.fixture
def scene_path(tmp_path: Path) -> Path:
    """A 1200x800 PNG drawn by the test."""
    path = tmp_path / "scene.png"
    draw_scene().save(path)
    return path


_VLLM_OUTCOMES: list[tuple[str, str]] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Remember how each test against the real vLLM server ended (for the CI log)."""
    if "vllm" in report.keywords and (report.when == "call" or report.outcome != "passed"):
        _VLLM_OUTCOMES.append((report.nodeid.split("::")[-1], report.outcome))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Say which real-vLLM tests ran, and what they measured."""
    import sys

    if not _VLLM_OUTCOMES:
        return
    write = terminalreporter.write_line
    passed = sum(1 for _, outcome in _VLLM_OUTCOMES if outcome == "passed")
    write(f"real vLLM (CPU) tests: {passed} passed of {len(_VLLM_OUTCOMES)}")
    for name, outcome in _VLLM_OUTCOMES:
        write(f"  {outcome:7} {name}")
    module = sys.modules.get("tests.test_vllm") or sys.modules.get("test_vllm")
    for key, value in getattr(module, "REPORT", {}).items():
        write(f"  [measured] {key}: {value}")
