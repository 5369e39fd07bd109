"""The math worker: a separate process that builds and evaluates sympy expressions.

Run as ``python -m qvq_agent.tools.math_worker``; it reads one JSON request per line and answers
one JSON line. The parent kills it when an answer takes longer than the time limit, and it runs
under a memory limit, so no expression can hang or exhaust the agent. It imports only sympy and
:mod:`qvq_agent.tools.safe_math`, so a fresh worker is ready in about a second.
"""

from __future__ import annotations

import atexit
import json
import select
import subprocess
import sys
import threading
from dataclasses import dataclass
from typing import Any

from qvq_agent.tools import safe_math

TIME_LIMIT_S = 1.5
"""Wall time one evaluation may take before its worker is killed."""
MEMORY_LIMIT_BYTES = 2 * 1024**3


class MathWorkerError(Exception):
    """The worker refused or could not finish; the message is for the model."""


def clip(text: str, limit: int = 120) -> str:
    """``text`` cut to ``limit`` characters with an ellipsis."""
    return text if len(text) <= limit else text[:limit] + "…"


def _format_number(value: Any) -> str:
    text = str(value)
    if "." in text and "e" not in text.lower():
        text = text.rstrip("0").rstrip(".")
    return text


@dataclass(frozen=True)
class Evaluation:
    """An evaluated expression: exact form, numeric value (if any) and units."""

    exact: str
    numeric: str | None


def evaluate_expression(text: str) -> Evaluation:
    """Build and evaluate one expression (runs inside the worker)."""
    import sympy as sp
    from sympy.physics import units as u

    from qvq_agent.tools import sympy_build

    expr = sympy_build.build(safe_math.parse(text), sympy_build.Namespace())
    if isinstance(expr, sp.Basic) and expr.has(sp.Integral):
        raise safe_math.MathError("sympy could not do this integral in closed form")
    if _is_numeric_quantity(expr) and isinstance(expr, sp.Add):
        # A sum of compatible units (1 km + 500 m): express it in SI base units.
        expr = u.convert_to(expr, [u.meter, u.kilogram, u.second, u.ampere, u.kelvin, u.mole])
    numeric = None
    if getattr(expr, "is_number", False) or _is_numeric_quantity(expr):
        numeric = clip(_format_number(sp.N(expr, 15)), 300)
    exact = clip(str(expr), 300)
    if isinstance(expr, sp.Float) or (
        numeric is not None
        and not expr.atoms(sp.Rational)
        and not expr.atoms(sp.NumberSymbol)
        and expr.atoms(sp.Float)
    ):
        exact = numeric or exact
    return Evaluation(exact=exact, numeric=numeric if numeric != exact else None)


def _is_numeric_quantity(expr: Any) -> bool:
    """A number times units, with no unknowns (``19.6*meter/second``)."""
    import sympy as sp
    from sympy.physics import units as u

    if not isinstance(expr, sp.Basic) or not expr.atoms(u.Quantity):
        return False
    return not any(isinstance(sym, sp.Symbol) for sym in expr.free_symbols)


def solve_equations(equations: list[str], unknowns: list[str]) -> list[dict[str, str]]:
    """Solve equations for the unknowns (runs inside the worker)."""
    import sympy as sp

    from qvq_agent.tools import sympy_build

    symbols = {name: sp.Symbol(name) for name in unknowns}
    ns = sympy_build.Namespace(unknowns=symbols, units=False)
    eqs = []
    for i, equation in enumerate(equations):
        sides = equation.split("=")
        if len(sides) == 1:
            left, right = sides[0], "0"
        elif len(sides) == 2:
            left, right = sides
        else:
            raise safe_math.MathError(f"equation {i + 1} has more than one '='")
        try:
            lhs = sympy_build.build(safe_math.parse(left), ns)
            rhs = sympy_build.build(safe_math.parse(right), ns)
        except safe_math.MathError as exc:
            raise safe_math.MathError(f"equation {i + 1}: {exc}") from None
        eqs.append(sp.Eq(lhs, rhs))
    solutions = sp.solve(eqs, list(symbols.values()), dict=True)
    out = []
    for solution in solutions:
        row = {}
        for sym, value in solution.items():
            exact = str(value)
            numeric = _format_number(sp.N(value, 15)) if value.is_number else None
            exact = clip(exact, 300)
            row[str(sym)] = exact if numeric in (None, exact) else f"{exact} ≈ {numeric}"
        out.append(row)
    return out


def _answer(request: dict[str, Any]) -> dict[str, Any]:
    """Serve one request inside the worker: ``{"ok": value}`` or ``{"error": text}``."""
    try:
        if request["kind"] == "calculate":
            result = evaluate_expression(request["expression"])
            return {"ok": {"exact": result.exact, "numeric": result.numeric}}
        return {"ok": solve_equations(request["equations"], request["unknowns"])}
    except safe_math.MathError as exc:
        return {"error": str(exc)}
    except MemoryError:
        return {"error": "the computation needs too much memory"}
    except (
        RecursionError,
        ValueError,
        TypeError,
        ArithmeticError,
        NotImplementedError,
        AttributeError,
        KeyError,
    ) as exc:
        return {"error": f"sympy could not do this: {type(exc).__name__}: {exc}"}


def worker_main() -> None:
    """Entry point of the worker process: one JSON request per line in, one answer per line out."""
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT_BYTES, MEMORY_LIMIT_BYTES))
    except (ImportError, ValueError, OSError):
        pass
    import sympy  # noqa: F401  (import before saying ready)

    from qvq_agent.tools import sympy_build  # noqa: F401

    sys.stdout.write('{"ready": true}\n')
    sys.stdout.flush()
    for line in sys.stdin:
        try:
            request = json.loads(line)
        except json.JSONDecodeError:
            answer: dict[str, Any] = {"error": "bad request"}
        else:
            answer = _answer(request)
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


class SympyWorker:
    """A worker process (``python -m qvq_agent.tools.calculator``), killed on timeout and replaced.

    A plain subprocess rather than ``multiprocessing``: it never re-imports the caller's
    ``__main__`` and needs no ``if __name__ == "__main__"`` guard in user scripts.
    """

    def __init__(self, time_limit_s: float = TIME_LIMIT_S, start_timeout_s: float = 30.0) -> None:
        self.time_limit_s = time_limit_s
        self.start_timeout_s = start_timeout_s
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[str] | None = None
        self._ready = False

    def _spawn(self) -> None:
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "qvq_agent.tools.math_worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            bufsize=1,
        )
        self._ready = False

    def _read_line(self, timeout_s: float) -> str | None:
        assert self._proc is not None and self._proc.stdout is not None
        ready, _, _ = select.select([self._proc.stdout], [], [], timeout_s)
        if not ready:
            return None
        return self._proc.stdout.readline()

    def _ensure_ready(self) -> None:
        if self._proc is None or self._proc.poll() is not None:
            self._kill()
            self._spawn()
        if not self._ready:
            line = self._read_line(self.start_timeout_s)
            if not line:
                self._kill()
                raise RuntimeError("the sympy worker process did not start")
            self._ready = True

    def _kill(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait(timeout=5)
            for stream in (self._proc.stdin, self._proc.stdout):
                if stream is not None:
                    stream.close()
        self._proc = None
        self._ready = False

    def warm(self) -> None:
        """Start the worker now (importing sympy takes about a second)."""
        with self._lock:
            self._ensure_ready()

    def ask(self, request: dict[str, Any]) -> Any:
        """Send one request; returns the value or raises :class:`MathWorkerError`."""
        with self._lock:
            self._ensure_ready()
            assert self._proc is not None and self._proc.stdin is not None
            try:
                self._proc.stdin.write(json.dumps(request) + "\n")
                self._proc.stdin.flush()
            except BrokenPipeError:
                self._kill()
                raise MathWorkerError("the math worker stopped; try again") from None
            line = self._read_line(self.time_limit_s)
            if line is None:
                self._kill()
                self._spawn()  # the next call finds a worker already importing sympy
                raise MathWorkerError(
                    f"the computation took longer than {self.time_limit_s:g} s and was stopped; "
                    "simplify it or split it into smaller steps"
                )
            if not line:
                self._kill()
                raise MathWorkerError("the computation was too large for the math worker (memory)")
        answer = json.loads(line)
        if "error" in answer:
            raise MathWorkerError(str(answer["error"]))
        return answer["ok"]

    def close(self) -> None:
        """Stop the worker process."""
        with self._lock:
            self._kill()


_WORKER = SympyWorker()
atexit.register(_WORKER.close)


def worker() -> SympyWorker:
    """The process-wide worker."""
    return _WORKER


if __name__ == "__main__":
    worker_main()
