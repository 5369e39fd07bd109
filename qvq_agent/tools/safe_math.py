"""Turn model-written math into sympy objects without ever executing it.

The text is parsed with Python's ``ast`` and walked under an allow-list: numbers, + - * / ** %,
unary minus, allow-listed function names, constants, units and plain symbol names. Attribute
access, subscripts, keywords, strings, lambdas, comprehensions and dunder names are refused.
Sizes are capped before anything is built: input length, nesting depth, node count, literal
digits, exponents, factorial arguments and the bit size of integer powers. Nothing here calls
``eval``, ``exec`` or ``sympify`` on the text.
"""

from __future__ import annotations

import ast
import io
import math
import re
import tokenize
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

import sympy as sp
from sympy.physics import units as u
from sympy.physics.units.systems.si import SI

MAX_CHARS = 2000
MAX_DEPTH = 50
MAX_NODES = 400
MAX_DIGITS = 60
MAX_EXPONENT = 10_000
MAX_POWER_BITS = 200_000
MAX_FACTORIAL = 2_000
MAX_NAME = 30


class MathError(ValueError):
    """Text that is not an allowed expression; the message says what to change."""


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

_SAFE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")

_BINOPS: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
    ast.Mod: lambda a, b: sp.Mod(a, b),
    ast.FloorDiv: lambda a, b: sp.floor(a / b),
}

_UNICODE = {
    "×": "*",
    "·": "*",
    "⋅": "*",
    "∗": "*",
    "÷": "/",
    "−": "-",
    "–": "-",
    "^": "**",
    "π": "pi",
    "²": "**2",
    "³": "**3",
    "°": "*deg",
    "√": "sqrt",
    "≤": "<=",
    "≥": ">=",
}


def normalize(text: str) -> str:
    """Map the unicode and TeX-ish spellings models use to Python operators."""
    for src, dst in _UNICODE.items():
        text = text.replace(src, dst)
    # sqrt written without parentheses: sqrt25, sqrt 2 -> sqrt(25), sqrt(2)
    text = re.sub(r"sqrt\s*(\d+(?:\.\d+)?|[A-Za-z_]\w*)(?!\s*\()", r"sqrt(\1)", text)
    return text


_FRAC = re.compile(r"\\[dt]?frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}")
_ROOT = re.compile(r"\\sqrt\s*\[([^\]]*)\]\s*\{([^{}]*)\}")
_SQRT = re.compile(r"\\sqrt\s*\{([^{}]*)\}")


def latex_to_math(text: str) -> str:
    """Rewrite LaTeX math into calculator syntax: ``\\frac`` (nested too), ``\\sqrt``,
    ``\\sqrt[n]``, ``\\pi``, ``\\cdot``, ``\\times``, ``\\div``; braces become parentheses and
    ``$`` goes. Other commands are left for the caller."""
    out = text
    for _ in range(4):  # \frac{2\sqrt{2}}{5}: inner groups first
        out = _FRAC.sub(r"((\1)/(\2))", out)
        out = _ROOT.sub(r"root(\2, \1)", out)
        out = _SQRT.sub(r"sqrt(\1)", out)
    out = re.sub(r"\\sqrt\s*(\d+)", r"sqrt(\1)", out)
    out = out.replace("\\pi", " pi ").replace("\\cdot", "*").replace("\\times", "*")
    return out.replace("\\div", "/").replace("{", "(").replace("}", ")").replace("$", " ")


def _implicit_products(text: str) -> str:
    """Insert ``*`` where a product is written by juxtaposition: ``2 s``, ``3x``, ``2(1+1)``."""
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, SyntaxError, IndentationError) as exc:
        raise MathError(f"cannot read the expression ({exc})") from None
    out: list[str] = []
    prev: tokenize.TokenInfo | None = None
    for tok in tokens:
        if tok.type in (
            tokenize.NEWLINE,
            tokenize.NL,
            tokenize.ENDMARKER,
            tokenize.INDENT,
            tokenize.DEDENT,
        ):
            continue
        if prev is not None:
            ends_value = prev.type == tokenize.NUMBER or prev.string == ")"
            starts_value = tok.type in (tokenize.NAME, tokenize.NUMBER) or tok.string == "("
            if (
                ends_value
                and starts_value
                and not (prev.type == tokenize.NUMBER and tok.type == tokenize.NUMBER)
            ) or (prev.type == tokenize.NAME and tok.type == tokenize.NUMBER):
                out.append("*")
        out.append(tok.string)
        prev = tok
    return " ".join(out)


def _check_depth(text: str) -> None:
    depth = deepest = 0
    for ch in text:
        if ch in "([{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in ")]}":
            depth -= 1
    if deepest > MAX_DEPTH:
        raise MathError(f"nested more than {MAX_DEPTH} levels deep; split the expression")


def parse(text: str, functions: Collection[str] | None = None) -> ast.expr:
    """Parse one expression under the size limits (no building yet).

    Args:
        text: the expression.
        functions: names of the functions allowed (default: all of :data:`FUNCTIONS`).


    Raises:
        MathError: too long, too deep, not an expression, or using anything not allowed.
    """
    if not isinstance(text, str):
        raise MathError("the expression must be a string")
    if len(text) > MAX_CHARS:
        raise MathError(f"the expression is {len(text):,} characters; the limit is {MAX_CHARS:,}")
    if not text.strip():
        raise MathError("the expression is empty")
    _check_depth(text)
    source = _implicit_products(normalize(text.strip()))
    if "=" in source.replace("==", "").replace("<=", "").replace(">=", ""):
        raise MathError("this is an equation; use the `solve` tool for equations")
    try:
        tree = ast.parse(source, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        message = exc.msg if isinstance(exc, SyntaxError) else type(exc).__name__
        raise MathError(f"not a valid expression ({message})") from None
    nodes = sum(1 for _ in ast.walk(tree))
    if nodes > MAX_NODES:
        raise MathError(f"the expression has {nodes} parts; the limit is {MAX_NODES}")
    _check_allowed(tree.body, FUNCTIONS if functions is None else functions)
    return tree.body


def _check_allowed(node: ast.AST, functions: Collection[str]) -> None:
    if any(isinstance(child, ast.Attribute) for child in ast.walk(node)):
        raise MathError("attribute access (a.b) is not allowed")
    for child in ast.walk(node):
        if isinstance(child, ast.Name) and (child.id.startswith("_") or "__" in child.id):
            raise MathError(f"the name {child.id!r} is not allowed")
        if isinstance(child, ast.Call):
            if not isinstance(child.func, ast.Name) or child.func.id not in functions:
                name = child.func.id if isinstance(child.func, ast.Name) else "this call"
                allowed = ", ".join(sorted(functions))
                raise MathError(f"{name!r} is not an allowed function; allowed: {allowed}")
            if child.keywords:
                raise MathError("keyword arguments are not allowed")
        elif not isinstance(child, _ALLOWED_NODES):
            raise MathError(f"{type(child).__name__} is not allowed in an expression")


_ALLOWED_NODES = (
    ast.Expression,
    ast.BinOp,
    ast.UnaryOp,
    ast.Constant,
    ast.Name,
    ast.Load,
    ast.Add,
    ast.Sub,
    ast.Mult,
    ast.Div,
    ast.Pow,
    ast.Mod,
    ast.FloorDiv,
    ast.USub,
    ast.UAdd,
)


@dataclass
class Namespace:
    """What names mean while building: unknowns are symbols; units may be switched off."""

    unknowns: Mapping[str, sp.Symbol] = field(default_factory=dict)
    units: bool = True
    free_symbols: bool = True

    def lookup(self, name: str) -> Any:
        if name in self.unknowns:
            return self.unknowns[name]
        if name in CONSTANTS:
            return CONSTANTS[name]
        if self.units and name in UNITS:
            return UNITS[name]
        if name in FUNCTIONS:
            raise MathError(f"{name!r} is a function; call it as {name}(...)")
        if self.free_symbols and _SAFE_NAME.match(name) and len(name) <= MAX_NAME:
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


_LETTER_RUN = re.compile(r"[A-Za-z]+")


def split_letter_products(text: str) -> str:
    """``8ab`` -> ``8a*b``, ``mgLsin`` -> ``m*g*L*sin``: juxtaposed letters are a product, as in
    written math; function and constant names (``sqrt``, ``sin``, ``pi``) stay whole."""
    names = sorted([*FUNCTIONS, *CONSTANTS], key=len, reverse=True)

    def split(match: re.Match[str]) -> str:
        word, out, i = match.group(), [], 0
        while i < len(word):
            name = next((n for n in names if len(n) > 1 and word.startswith(n, i)), None)
            out.append(name or word[i])
            i += len(name) if name else 1
        return "*".join(out)

    return _LETTER_RUN.sub(split, text)
