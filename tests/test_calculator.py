"""`calculate` and `solve`: exact answers, and hostile input refused or stopped within 2 s."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from qvq_agent.images import ImageStore
from qvq_agent.profiles import get_profile
from qvq_agent.tools import ToolEnv, ToolResult, default_registry
from qvq_agent.tools.calculator import worker

ENV = ToolEnv(ImageStore(), get_profile("qvq"))
REGISTRY = default_registry()


@pytest.fixture(scope="module", autouse=True)
def warm_worker() -> Iterator[None]:
    worker().warm()
    yield


def call(name: str, **arguments: Any) -> ToolResult:
    found = REGISTRY.get(name)
    assert found is not None
    return found.run(ENV, arguments)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("sqrt(2*9.8*5)", "9.899494936611"),
        ("4 + 3", "= 7"),
        ("12 × 7", "= 84"),
        ("2.50 + 3.75 + 4.25", "10.5"),
        ("sin(30°)", "1/2"),
        ("√25 + 3²", "= 14"),
        ("log(8, 2)", "= 3"),
        ("atan2(1, 1)", "pi/4"),
        ("9.8 m/s**2 * 2 s", "19.6*meter/second"),
        ("1 km + 500 m", "1500*meter"),
        ("factorial(20)", "2432902008176640000"),
    ],
)
def test_calculate(expression: str, expected: str) -> None:
    result = call("calculate", expression=expression)
    assert result.ok, result.text
    assert expected in result.text


def test_adding_metres_to_seconds_is_refused() -> None:
    result = call("calculate", expression="2 m + 3 s")
    assert not result.ok and "units do not match" in result.text


def test_solve_linear_and_quadratic() -> None:
    result = call("solve", equations=["10*x + 20*x = 180"], unknowns=["x"])
    assert result.ok and result.text == "x = 6"
    result = call("solve", equations=["x**2 = 2"], unknowns=["x"])
    assert result.ok and "sqrt(2)" in result.text
    result = call("solve", equations=["a + b = 10", "a - b = 2"], unknowns=["a", "b"])
    assert result.ok and "a = 6" in result.text and "b = 4" in result.text


def test_solve_refuses_bad_unknowns_and_code() -> None:
    assert not call("solve", equations=["x = 1"], unknowns=["__class__"]).ok
    assert not call("solve", equations=["().__class__ = 1"], unknowns=["x"]).ok


def hostile(marker: Path) -> list[str]:
    return [
        f"__import__('os').system('touch {marker}')",
        "().__class__.__bases__[0].__subclasses__()",
        "[c for c in ().__class__.__base__.__subclasses__()]",
        f"exec(\"open('{marker}', 'w')\")",
        "eval('1+1')",
        f"open('{marker}', 'w')",
        "globals()",
        "lambda: 1",
        "x.__dict__",
        "9**9**9**9",
        "factorial(10**9)",
        "1+" * 100_000 + "1",
        "(" * 5000 + "1" + ")" * 5000,
        "integrate(exp(x**7)*sin(x**13)*log(x)**5, x)",
        "Matrix([[1]*1000]*1000)**100",
        "ones(10000, 10000)",
        "(10**50)**10000",
        "2**99999 * 3**99999",
        "'a' * 10**9",
        "sympify('__import__(\"os\")')",
    ]


def test_hostile_expressions_answered_or_refused_within_2s(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    cases = hostile(marker)
    assert len(cases) == 20
    for expression in cases:
        started = time.monotonic()
        result = call("calculate", expression=expression)
        elapsed = time.monotonic() - started
        assert elapsed < 2.0, (expression[:60], elapsed)
        assert not result.ok, (expression[:60], result.text)
        assert not marker.exists()
    # The worker was replaced after any timeout and still answers.
    assert call("calculate", expression="4 + 3").ok
