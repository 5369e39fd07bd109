"""Build a checked expression tree (:func:`qvq_agent.tools.safe_math.parse`) into sympy objects.

Every step is bounded before sympy does it: literal digits, exponents, the bit size of integer
powers, factorial arguments; sums of different dimensions are refused. Used inside the math
worker process, which is killed when an evaluation runs past its time or memory limit.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import sympy as sp
from sympy.physics import units as u
from sympy.physics.units.systems.si import SI

from qvq_agent.tools.safe_math import (
    CONSTANT_NAMES,
    FUNCTION_NAMES,
    MAX_DIGITS,
    MAX_EXPONENT,
    MAX_FACTORIAL,
    MAX_NAME,
    MAX_POWER_BITS,
    SAFE_NAME,
    UNIT_MARK,
    UNIT_NAMES,
    MathError,
)


def _sqrt(x: Any) -> Any:
    return sp.sqrt(x)


def _log(x: Any, base: Any = None) -> Any:
    return sp.log(x) if base is None else sp.log(x, base)


def _round(x: Any, digits: Any = 0) -> Any:
    value = sp.Float(sp.N(x, 30))
    return sp.Float(round(float(value), int(digits))) if digits else sp.Integer(round(value))


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "sqrt": _sqrt,
    "cbrt": sp.cbrt,
    "root": sp.root,
    "exp": sp.exp,
    "log": _log,
    "ln": sp.log,
    "log10": lambda x: sp.log(x, 10),
    "log2": lambda x: sp.log(x, 2),
    "sin": sp.sin,
    "cos": sp.cos,
    "tan": sp.tan,
    "cot": sp.cot,
    "sec": sp.sec,
    "csc": sp.csc,
    "asin": sp.asin,
    "acos": sp.acos,
    "atan": sp.atan,
    "arcsin": sp.asin,
    "arccos": sp.acos,
    "arctan": sp.atan,
    "atan2": sp.atan2,
    "sinh": sp.sinh,
    "cosh": sp.cosh,
    "tanh": sp.tanh,
    "abs": sp.Abs,
    "floor": sp.floor,
    "ceil": sp.ceiling,
    "ceiling": sp.ceiling,
    "round": _round,
    "factorial": sp.factorial,
    "binomial": sp.binomial,
    "gcd": sp.gcd,
    "lcm": sp.lcm,
    "min": sp.Min,
    "max": sp.Max,
    "degrees": lambda x: x * 180 / sp.pi,
    "radians": lambda x: x * sp.pi / 180,
    "simplify": sp.simplify,
    "expand": sp.expand,
    "factor": sp.factor,
    "diff": sp.diff,
    "integrate": sp.integrate,
}
"""Functions the model may call, by name."""

CONSTANTS: dict[str, Any] = {
    "pi": sp.pi,
    "e": sp.E,
    "E": sp.E,
    "deg": sp.pi / 180,
    "degree": sp.pi / 180,
    "degrees_": sp.pi / 180,
}

UNITS: dict[str, Any] = {
    "m": u.meter,
    "meter": u.meter,
    "meters": u.meter,
    "cm": u.centimeter,
    "mm": u.millimeter,
    "km": u.kilometer,
    "um": u.micrometer,
    "nm": u.nanometer,
    "s": u.second,
    "sec": u.second,
    "ms": u.millisecond,
    "minute": u.minute,
    "hour": u.hour,
    "h": u.hour,
    "kg": u.kilogram,
    "g": u.gram,
    "mg": u.milligram,
    "N": u.newton,
    "J": u.joule,
    "kJ": u.kilo * u.joule,
    "W": u.watt,
    "kW": u.kilo * u.watt,
    "Pa": u.pascal,
    "kPa": u.kilo * u.pascal,
    "Hz": u.hertz,
    "V": u.volt,
    "A": u.ampere,
    "mA": u.milli * u.ampere,
    "ohm": u.ohm,
    "C": u.coulomb,
    "F": u.farad,
    "K": u.kelvin,
    "L": u.liter,
    "mol": u.mole,
    "eV": u.electronvolt,
    "T": u.tesla,
}
"""Unit names (``sympy.physics.units``); a name listed as an unknown is a symbol instead."""

_BINOPS: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
    ast.Mod: lambda a, b: sp.Mod(a, b),
    ast.FloorDiv: lambda a, b: sp.floor(a / b),
}


@dataclass
class Namespace:
    """What names mean while building: unknowns are symbols; units may be switched off."""

    unknowns: Mapping[str, sp.Symbol] = field(default_factory=dict)
    units: bool = True
    free_symbols: bool = True

    def lookup(self, name: str) -> Any:
        if name.startswith(UNIT_MARK):  # a one-letter unit written after a number
            unit = name.removeprefix(UNIT_MARK)
            return UNITS[unit] if self.units else sp.Symbol(unit)
        if name in self.unknowns:
            return self.unknowns[name]
        if name in CONSTANTS:
            return CONSTANTS[name]
        if self.units and name in UNITS and len(name) > 1:
            return UNITS[name]
        if name in FUNCTIONS:
            raise MathError(f"{name!r} is a function; call it as {name}(...)")
        if self.free_symbols and SAFE_NAME.match(name) and len(name) <= MAX_NAME:
            return sp.Symbol(name)
        raise MathError(f"unknown name {name!r}")


def build(node: ast.expr, ns: Namespace) -> Any:
    """Build the sympy object for a checked expression tree, refusing oversized steps."""
    if isinstance(node, ast.Constant):
        return _number(node.value)
    if isinstance(node, ast.Name):
        return ns.lookup(node.id)
    if isinstance(node, ast.UnaryOp):
        operand = build(node.operand, ns)
        return -operand if isinstance(node.op, ast.USub) else operand
    if isinstance(node, ast.BinOp):
        left, right = build(node.left, ns), build(node.right, ns)
        if isinstance(node.op, ast.Pow):
            return _power(left, right)
        if isinstance(node.op, ast.Div | ast.Mod | ast.FloorDiv) and right == 0:
            raise MathError("division by zero")
        if isinstance(node.op, ast.Mod | ast.FloorDiv):
            _require_dimensionless("// and %", left / right)
        result = _BINOPS[type(node.op)](left, right)
        if isinstance(node.op, ast.Add | ast.Sub):
            check_dimensions(result)
        return result
    if isinstance(node, ast.Call):
        assert isinstance(node.func, ast.Name)
        name = node.func.id
        args = [build(arg, ns) for arg in node.args]
        if name in ("factorial", "binomial"):
            for arg in args:
                if arg.is_number and abs(arg) > MAX_FACTORIAL:
                    raise MathError(f"{name} of a number over {MAX_FACTORIAL:,} is not allowed")
        _check_function_units(name, args)
        try:
            return FUNCTIONS[name](*args)
        except TypeError as exc:
            raise MathError(f"wrong arguments for {name}: {exc}") from None
    raise MathError(f"{type(node).__name__} is not allowed")


def _number(value: object) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise MathError(f"only numbers are allowed as literals, not {value!r}")
    if isinstance(value, int):
        if abs(value) >= 10**MAX_DIGITS:
            raise MathError(f"a number with more than {MAX_DIGITS} digits is not allowed")
        return sp.Integer(value)
    if not math.isfinite(value):
        raise MathError("the number is not finite")
    return sp.Float(value)


def _power(base: Any, exponent: Any) -> Any:
    if exponent.is_number and exponent.is_real:
        if abs(float(exponent)) > MAX_EXPONENT:
            raise MathError(f"an exponent over {MAX_EXPONENT:,} is not allowed")
        if base.is_Integer and exponent.is_Integer:
            bits = int(abs(base)).bit_length() * abs(int(exponent))
            if bits > MAX_POWER_BITS:
                raise MathError("the power is too large to compute")
    elif exponent.is_number:
        raise MathError("complex exponents are not allowed")
    return base**exponent


def check_dimensions(expr: Any) -> None:
    """Refuse sums of quantities of different dimensions (metres + seconds).

    Raises:
        MathError: naming both dimensions.
    """
    if not expr.has(u.Quantity):
        return
    try:
        SI._collect_factor_and_dimension(expr)
    except ValueError as exc:
        raise MathError(f"units do not match: {exc}") from None
    except TypeError:
        return


_DIMENSIONLESS_ARGS = frozenset(
    {
        "exp",
        "log",
        "ln",
        "log10",
        "log2",
        "sin",
        "cos",
        "tan",
        "cot",
        "sec",
        "csc",
        "asin",
        "acos",
        "atan",
        "arcsin",
        "arccos",
        "arctan",
        "sinh",
        "cosh",
        "tanh",
        "factorial",
        "binomial",
        "gcd",
        "lcm",
        "floor",
        "ceil",
        "ceiling",
        "round",
    }
)
"""Functions whose arguments must be plain numbers (``sin(3 m)`` means nothing)."""


def _dimensionless(expr: Any) -> bool:
    if not isinstance(expr, sp.Basic) or not expr.has(u.Quantity):
        return True
    try:
        _, dimension = SI._collect_factor_and_dimension(expr)
    except (ValueError, TypeError):
        return False
    return bool(SI.get_dimension_system().is_dimensionless(dimension))


def _require_dimensionless(what: str, expr: Any) -> None:
    if not _dimensionless(expr):
        raise MathError(f"units do not match: {what} needs plain numbers, not quantities")


def _check_function_units(name: str, args: list[Any]) -> None:
    """``sin(3 m)`` and ``max(2 m, 3 s)`` are refused; ``max(2 m, 300 cm)`` is fine."""
    if name in _DIMENSIONLESS_ARGS:
        for arg in args:
            _require_dimensionless(f"{name}()", arg)
    elif name in ("min", "max", "atan2") and len(args) > 1:
        for arg in args[1:]:
            check_dimensions(args[0] + arg)


assert set(FUNCTIONS) == FUNCTION_NAMES, "FUNCTIONS and safe_math.FUNCTION_NAMES disagree"
assert set(CONSTANTS) == CONSTANT_NAMES, "CONSTANTS and safe_math.CONSTANT_NAMES disagree"
assert set(UNITS) == UNIT_NAMES, "UNITS and safe_math.UNIT_NAMES disagree"
