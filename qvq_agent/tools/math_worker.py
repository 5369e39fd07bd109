"""The one bounded path for sympy work on model-written math: worker processes, killed on timeout.

Run as ``python -m qvq_agent.tools.math_worker``; a worker reads one JSON request per line and
answers one JSON line. Requests: ``calculate`` (an expression), ``solve`` (equations) and
``compare`` (two answers, see :mod:`qvq_agent.tools.math_compare`). The parent kills a worker
whose answer takes longer than the time limit and starts another; every worker runs under a
memory limit. So no text a model writes can hang or exhaust the agent: the calculator tools,
``answers.equivalent`` and the verifier's checks that need sympy all come through here.

:class:`MathPool` keeps a few workers, so concurrent runs are served side by side and one slow
expression blocks only its own caller.
"""

from __future__ import annotations

import atexit
import json
import os
import queue
import select
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

from qvq_agent.tools import safe_math

TIME_LIMIT_S = 1.5
"""Wall time one request may take before its worker is killed."""
FIRST_REQUEST_ALLOWANCE_S = 3.0
"""Extra time for the first request a worker serves (it imports math-verify then)."""
MEMORY_LIMIT_BYTES = 2 * 1024**3
POOL_SIZE = 2
"""Workers the process-wide pool keeps at most."""


class MathWorkerError(Exception):
    """The worker refused or could not finish; the message is for the model."""


class MathTimeout(MathWorkerError):
    """The request ran past its time limit; its worker was killed."""


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


IDENTITY = "every value satisfies the equations (they reduce to 0 = 0)"
NO_SOLUTION = "no solution"


def solve_equations(equations: list[str], unknowns: list[str]) -> list[dict[str, str]] | str:
    """Solve equations for the unknowns (runs inside the worker).

    Returns the solutions, or a sentence when there is none or every value is one. A single
    polynomial equation that sympy cannot solve in radicals gets its real roots numerically.
    """
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
    if all(eq is sp.true for eq in eqs):
        return IDENTITY
    eqs = [eq for eq in eqs if eq is not sp.true]
    if any(eq is sp.false for eq in eqs):
        return NO_SOLUTION
    unknown_list = list(symbols.values())
    try:
        solutions = sp.solve(eqs, unknown_list, dict=True)
    except NotImplementedError:
        solutions = []
    if not solutions and len(eqs) == 1 and len(unknown_list) == 1:
        solutions = _real_roots(eqs[0], unknown_list[0])
    if not solutions:
        return NO_SOLUTION
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


def _real_roots(equation: Any, unknown: Any) -> list[dict[Any, Any]]:
    """Real roots of one polynomial equation, numerically (sympy's ``solve`` found none)."""
    import sympy as sp

    polynomial = sp.Poly(equation.lhs - equation.rhs, unknown) if equation.free_symbols else None
    if polynomial is None or polynomial.degree() > 50:
        return []
    return [{unknown: sp.Float(root, 15)} for root in sp.Poly(polynomial).nroots() if root.is_real]


HANDLERS = ("calculate", "solve", "compare", "to_si")


def _answer(request: dict[str, Any]) -> dict[str, Any]:
    """Serve one request inside the worker: ``{"ok": value}`` or ``{"error": text}``."""
    try:
        kind = request.get("kind")
        if kind == "calculate":
            result = evaluate_expression(request["expression"])
            return {"ok": {"exact": result.exact, "numeric": result.numeric}}
        if kind == "solve":
            return {"ok": solve_equations(request["equations"], request["unknowns"])}
        if kind == "compare":
            from qvq_agent.tools.math_compare import compare

            return {"ok": compare(request)}
        if kind == "to_si":
            from qvq_agent.tools.math_compare import to_si

            return {"ok": to_si(request)}
        return {"error": f"unknown request kind {kind!r}"}
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
        IndexError,
    ) as exc:
        return {"error": f"sympy could not do this: {type(exc).__name__}: {clip(str(exc))}"}


def _preload() -> None:
    """Import math-verify and pint while the worker waits for its first request."""
    from qvq_agent.tools.math_compare import preload

    try:
        preload()
    except Exception:  # a broken optional import shows up in the request that needs it
        return


def worker_main() -> None:
    """Entry point of the worker process: one JSON request per line in, one answer per line out."""
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT_BYTES, MEMORY_LIMIT_BYTES))
    except (ImportError, ValueError, OSError):
        pass
    import sympy  # noqa: F401  (import before saying ready)

    from qvq_agent.tools import sympy_build  # noqa: F401

    threading.Thread(target=_preload, daemon=True).start()
    sys.stdout.write('{"ready": true}\n')
    sys.stdout.flush()
    for line in sys.stdin:
        try:
            request = json.loads(line)
        except (json.JSONDecodeError, RecursionError):
            answer: dict[str, Any] = {"error": "bad request"}
        else:
            answer = _answer(request) if isinstance(request, dict) else {"error": "bad request"}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


class _Process:
    """One worker process (``python -m qvq_agent.tools.math_worker``); not thread-safe alone.

    A plain subprocess rather than ``multiprocessing``: it never re-imports the caller's
    ``__main__`` and needs no ``if __name__ == "__main__"`` guard in user scripts.
    """

    def __init__(self, start_timeout_s: float) -> None:
        self.start_timeout_s = start_timeout_s
        self.served = 0
        self._proc: subprocess.Popen[str] | None = None
        self._ready = False

    def spawn(self) -> None:
        env = {**os.environ, "PYTHONHASHSEED": "0"}
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "qvq_agent.tools.math_worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            bufsize=1,
            env=env,
        )
        self._ready = False
        self.served = 0

    def _read_line(self, timeout_s: float) -> str | None:
        assert self._proc is not None and self._proc.stdout is not None
        ready, _, _ = select.select([self._proc.stdout], [], [], max(0.0, timeout_s))
        if not ready:
            return None
        return self._proc.stdout.readline()

    def ensure_ready(self) -> None:
        if self._proc is None or self._proc.poll() is not None:
            self.kill()
            self.spawn()
        if not self._ready:
            line = self._read_line(self.start_timeout_s)
            if not line:
                self.kill()
                raise MathWorkerError("the math worker process did not start")
            self._ready = True

    def kill(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait(timeout=5)
            for stream in (self._proc.stdin, self._proc.stdout):
                if stream is not None:
                    stream.close()
        self._proc = None
        self._ready = False

    def ask(self, request: dict[str, Any], time_limit_s: float) -> Any:
        self.ensure_ready()
        assert self._proc is not None and self._proc.stdin is not None
        limit = time_limit_s + (FIRST_REQUEST_ALLOWANCE_S if self.served == 0 else 0.0)
        try:
            self._proc.stdin.write(json.dumps(request) + "\n")
            self._proc.stdin.flush()
        except (BrokenPipeError, OSError):
            self.kill()
            raise MathWorkerError("the math worker stopped; try again") from None
        line = self._read_line(limit)
        if line is None:
            self.kill()
            self.spawn()  # the next request finds a worker already importing sympy
            raise MathTimeout(
                f"the computation took longer than {time_limit_s:g} s and was stopped; "
                "simplify it or split it into smaller steps"
            )
        if not line:
            self.kill()
            raise MathWorkerError("the computation was too large for the math worker (memory)")
        self.served += 1
        answer = json.loads(line)
        if "error" in answer:
            raise MathWorkerError(str(answer["error"]))
        return answer["ok"]


class MathPool:
    """Up to ``size`` worker processes; each request takes an idle one (or waits for one).

    Thread-safe. A request that runs past its limit kills only its own worker (a fresh one
    starts at once), so one slow expression never blocks another caller's.
    """

    def __init__(
        self,
        size: int = POOL_SIZE,
        time_limit_s: float = TIME_LIMIT_S,
        start_timeout_s: float = 30.0,
    ) -> None:
        self.size = max(1, size)
        self.time_limit_s = time_limit_s
        self._start_timeout_s = start_timeout_s
        self._idle: queue.LifoQueue[_Process] = queue.LifoQueue()
        self._made = 0
        self._lock = threading.Lock()
        self._all: list[_Process] = []

    def _take(self, deadline: float) -> _Process:
        with self._lock:
            if self._idle.empty() and self._made < self.size:
                self._made += 1
                process = _Process(self._start_timeout_s)
                self._all.append(process)
                return process
        try:
            return self._idle.get(timeout=max(0.01, deadline - time.monotonic()))
        except queue.Empty:
            raise MathTimeout(
                "every math worker stayed busy past the time limit; try again"
            ) from None

    def ask(self, request: dict[str, Any], time_limit_s: float | None = None) -> Any:
        """Send one request; returns the value or raises :class:`MathWorkerError`.

        Waits for an idle worker at most the start timeout plus the limit.
        """
        limit = self.time_limit_s if time_limit_s is None else time_limit_s
        process = self._take(time.monotonic() + self._start_timeout_s + limit)
        try:
            return process.ask(request, limit)
        finally:
            self._idle.put(process)

    def warm(self) -> None:
        """Start one worker now (importing sympy takes about a second)."""
        process = self._take(time.monotonic() + self._start_timeout_s)
        try:
            process.ensure_ready()
        finally:
            self._idle.put(process)

    def close(self) -> None:
        """Stop every worker process."""
        with self._lock:
            for process in self._all:
                process.kill()


_POOL = MathPool()
atexit.register(_POOL.close)


def worker() -> MathPool:
    """The process-wide pool of math workers."""
    return _POOL


if __name__ == "__main__":
    worker_main()
