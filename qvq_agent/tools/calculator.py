"""The `calculate` and `solve` tools: exact math with sympy, never running model-written code.

The text is checked under the allow-list of :mod:`qvq_agent.tools.safe_math` here (fast
refusals), then built and evaluated by the worker process of :mod:`qvq_agent.tools.math_worker`,
which is killed when it runs past its time or memory limit.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from qvq_agent.tools import safe_math
from qvq_agent.tools.math_worker import MathWorkerError, worker
from qvq_agent.tools.math_worker import clip as _clip
from qvq_agent.tools.registry import ToolEnv, ToolError, ToolResult, tool

MAX_EQUATIONS = 8


class CalculateArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    expression: str = Field(
        description="math expression, e.g. sqrt(2*9.8*5), 12*7, sin(30*deg), 9.8 m/s**2 * 2 s "
        "(a unit follows its number; a lone letter such as g or h is a variable)"
    )


class SolveArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    equations: list[str] = Field(
        description='equations, e.g. ["10*x + 20*x = 180"]', min_length=1, max_length=MAX_EQUATIONS
    )
    unknowns: list[str] = Field(
        description='names to solve for, e.g. ["x"]', min_length=1, max_length=MAX_EQUATIONS
    )


@tool(CalculateArgs)
def tool_calculate(env: ToolEnv, args: CalculateArgs) -> ToolResult:
    """Compute an expression exactly with sympy (units like m, s, kg, N allowed); gives exact and numeric values."""
    try:
        safe_math.parse(args.expression)
    except safe_math.MathError as exc:
        raise ToolError(f"cannot calculate {_clip(args.expression)}: {exc}") from None
    result = _ask({"kind": "calculate", "expression": args.expression})
    text = f"{_clip(args.expression)} = {result['exact']}"
    if result["numeric"] is not None:
        text += f" ≈ {result['numeric']}"
    return ToolResult(True, text, value=result["numeric"] or result["exact"])


@tool(SolveArgs)
def tool_solve(env: ToolEnv, args: SolveArgs) -> ToolResult:
    """Solve equations for the unknowns with sympy; write each equation as `left = right`."""
    for name in args.unknowns:
        if not safe_math.SAFE_NAME.match(name) or len(name) > safe_math.MAX_NAME:
            raise ToolError(f"unknowns: {name!r} is not a plain name like x or v0")
    for i, equation in enumerate(args.equations):
        for side in equation.split("="):
            try:
                safe_math.parse(side)
            except safe_math.MathError as exc:
                raise ToolError(f"equation {i + 1} ({_clip(equation)}): {exc}") from None
    solutions: list[dict[str, str]] | str = _ask(
        {"kind": "solve", "equations": args.equations, "unknowns": args.unknowns}
    )
    if isinstance(solutions, str):  # no solution, or every value is one
        return ToolResult(True, solutions, value=solutions)
    rendered = [", ".join(f"{k} = {v}" for k, v in row.items()) for row in solutions]
    text = "; or ".join(rendered)
    return ToolResult(True, text, value=text)


def _ask(request: dict[str, Any]) -> Any:
    try:
        return worker().ask(request)
    except MathWorkerError as exc:
        raise ToolError(str(exc)) from None


MATH_TOOLS = (tool_calculate, tool_solve)
