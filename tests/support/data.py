"""Where the shared test data is (CLEVR, Geometry3K, reasoning traces), and what a test does
when it is missing.

The data lives beside a development checkout in ``../shared/data`` (see its README for
provenance); ``QVQ_AGENT_TEST_DATA`` points elsewhere. A user's fresh clone has none: tests that
need it skip, saying where it comes from. Where the environment asks for it (``CI=true``, which
CI sets, or ``QVQ_AGENT_REQUIRE_TEST_DATA=1``), a missing folder fails the test instead, so CI
never skips them silently.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def shared_data_dir() -> Path:
    """The shared data folder: ``$QVQ_AGENT_TEST_DATA`` or ``../shared/data`` beside the clone."""
    return Path(os.environ.get("QVQ_AGENT_TEST_DATA") or ROOT.parent / "shared" / "data")


def data_required() -> bool:
    """True where a missing data folder is a failure (CI, or asked for)."""
    return (
        os.environ.get("CI", "").lower() == "true"
        or os.environ.get("QVQ_AGENT_REQUIRE_TEST_DATA") == "1"
    )


def require(sub: str) -> Path:
    """The shared data folder ``sub`` (``clevr``, ``geometry3k``, ``traces``); skips the test when
    it is missing, or fails it where the data is required."""
    path = shared_data_dir() / sub
    if path.exists():
        return path
    message = (
        f"needs the shared test data {path} (CLEVR, Geometry3K and reasoning traces kept beside "
        "a development checkout in ../shared/data; set QVQ_AGENT_TEST_DATA to a copy)"
    )
    if data_required():
        pytest.fail(message + " — required here (CI=true or QVQ_AGENT_REQUIRE_TEST_DATA=1)")
    pytest.skip(message)
