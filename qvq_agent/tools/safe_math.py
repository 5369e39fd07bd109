"""Turn model-written math into sympy objects without ever executing it.

The text is parsed with Python's ``ast`` and walked under an allow-list: numbers, + - * / ** %,
unary minus, allow-listed function names, constants, units and plain symbol names. Attribute
access, subscripts, keywords, strings, lambdas, comprehensions and dunder names are refused.
Sizes are capped before anything is built: input length, nesting depth, node count, literal
digits, exponents, factorial arguments and the bit size of integer powers. Nothing here calls
``eval``, ``exec`` or ``sympify`` on the text.

This module only parses and checks (no sympy is imported here, so checking is fast and light);
:mod:`qvq_agent.tools.sympy_build` builds the checked tree into sympy objects.
"""

from __future__ import annotations

import ast
import io
import math
import re
import tokenize
from collections.abc import Callable, Collection, Mapping

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


FUNCTION_NAMES = frozenset(
    {
        "sqrt",
        "cbrt",
        "root",
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
        "atan2",
        "sinh",
        "cosh",
        "tanh",
        "abs",
        "floor",
        "ceil",
        "ceiling",
        "round",
        "factorial",
        "binomial",
        "gcd",
        "lcm",
        "min",
        "max",
        "degrees",
        "radians",
        "simplify",
        "expand",
        "factor",
        "diff",
        "integrate",
    }
)
"""Functions the model may call, by name (built by :mod:`qvq_agent.tools.sympy_build`)."""

CONSTANT_NAMES = frozenset({"pi", "e", "E", "deg", "degree", "degrees_"})
"""Names that stand for constants."""

UNIT_NAMES = frozenset(
    {
        "m",
        "meter",
        "meters",
        "cm",
        "mm",
        "km",
        "um",
        "nm",
        "s",
        "sec",
        "ms",
        "minute",
        "hour",
        "h",
        "kg",
        "g",
        "mg",
        "N",
        "J",
        "kJ",
        "W",
        "kW",
        "Pa",
        "kPa",
        "Hz",
        "V",
        "A",
        "mA",
        "ohm",
        "C",
        "F",
        "K",
        "L",
        "mol",
        "eV",
        "T",
    }
)
"""Unit names (``sympy.physics.units``). A one-letter unit (``m``, ``g``, ``h``, ``C``...) is a
unit only where it follows a number (``9.8 m/s**2``, ``2 s``; marked as ``_u_m`` by the parser);
elsewhere it is a variable (``sqrt(2*g*h)``). Longer names (``kg``, ``cm``) are always units."""

UNIT_MARK = "_u_"
"""Prefix the parser gives a one-letter unit written after a number."""

SAFE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")

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


_SQRT_DIGITS = re.compile(r"\\sqrt\s*(\d+)")
_BRACES = str.maketrans({"{": "(", "}": ")", "$": " "})


def latex_to_math(text: str) -> str:
    """Rewrite LaTeX math into calculator syntax: ``\\frac`` (nested too), ``\\sqrt``,
    ``\\sqrt[n]``, ``\\pi``, ``\\cdot``, ``\\times``, ``\\div``; braces become parentheses and
    ``$`` goes. Other commands are left for the caller."""
    out = text
    if "\\" in out:
        for _ in range(4):  # \frac{2\sqrt{2}}{5}: inner groups first
            before = out
            out = _FRAC.sub(r"((\1)/(\2))", out)
            out = _ROOT.sub(r"root(\2, \1)", out)
            out = _SQRT.sub(r"sqrt(\1)", out)
            if out == before:
                break
        out = _SQRT_DIGITS.sub(r"sqrt(\1)", out)
        out = out.replace("\\pi", " pi ").replace("\\cdot", "*").replace("\\times", "*")
        out = out.replace("\\div", "/")
    return out.translate(_BRACES)


def _implicit_products(text: str) -> str:
    """Insert ``*`` where a product is written by juxtaposition (``2 s``, ``3x``, ``2(1+1)``) and
    mark the units that follow a number (``9.8 m/s**2`` -> ``9.8 * _u_m / _u_s ** 2``)."""
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, SyntaxError, IndentationError) as exc:
        raise MathError(f"cannot read the expression ({exc})") from None
    out: list[str] = []
    prev: tokenize.TokenInfo | None = None
    in_units = False  # inside "number unit [/ or *] unit ** 2 ..."
    for tok in tokens:
        if tok.type in (
            tokenize.NEWLINE,
            tokenize.NL,
            tokenize.ENDMARKER,
            tokenize.INDENT,
            tokenize.DEDENT,
        ):
            continue
        string = tok.string
        if prev is not None:
            ends_value = prev.type == tokenize.NUMBER or prev.string == ")"
            starts_value = tok.type in (tokenize.NAME, tokenize.NUMBER) or string == "("
            if (
                ends_value
                and starts_value
                and not (prev.type == tokenize.NUMBER and tok.type == tokenize.NUMBER)
            ) or (prev.type == tokenize.NAME and tok.type == tokenize.NUMBER):
                out.append("*")
        if tok.type == tokenize.NAME and string in UNIT_NAMES:
            after_number = prev is not None and prev.type == tokenize.NUMBER
            if after_number or (in_units and prev is not None and prev.string in ("/", "*")):
                in_units = True
                if len(string) == 1:
                    string = UNIT_MARK + string
            else:
                in_units = False
        elif tok.type == tokenize.NAME:
            in_units = False
        elif string in ("/", "*", "**"):
            pass  # the chain of units may go on
        elif not (tok.type == tokenize.NUMBER and prev is not None and prev.string == "**"):
            in_units = False  # (a number after ** is a unit's exponent)
        out.append(string)
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
        functions: names of the functions allowed (default: :data:`FUNCTION_NAMES`).


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
    _check_allowed(tree.body, FUNCTION_NAMES if functions is None else functions)
    return tree.body


def _check_allowed(node: ast.AST, functions: Collection[str]) -> None:
    if any(isinstance(child, ast.Attribute) for child in ast.walk(node)):
        raise MathError("attribute access (a.b) is not allowed")
    for child in ast.walk(node):
        if (
            isinstance(child, ast.Name)
            and (child.id.startswith("_") or "__" in child.id)
            and child.id.removeprefix(UNIT_MARK) not in UNIT_NAMES
        ):
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


_LETTER_RUN = re.compile(r"[A-Za-z]+")


def split_letter_products(text: str) -> str:
    """``8ab`` -> ``8a*b``, ``mgLsin`` -> ``m*g*L*sin``: juxtaposed letters are a product, as in
    written math; function and constant names (``sqrt``, ``sin``, ``pi``) stay whole."""
    names = sorted([*FUNCTION_NAMES, *CONSTANT_NAMES], key=len, reverse=True)

    def split(match: re.Match[str]) -> str:
        word, out, i = match.group(), [], 0
        while i < len(word):
            name = next((n for n in names if len(n) > 1 and word.startswith(n, i)), None)
            out.append(name or word[i])
            i += len(name) if name else 1
        return "*".join(out)

    return _LETTER_RUN.sub(split, text)


# ---- A float evaluator: bounded by construction (a checked tree of at most MAX_NODES float
# operations; overflow raises), used by the verifier's checks in the agent's own process.

_FLOAT_FUNCTIONS: dict[str, Callable[..., float]] = {
    "sqrt": math.sqrt,
    "cbrt": lambda x: math.copysign(abs(x) ** (1 / 3), x),
    "root": lambda x, n: x ** (1 / n),
    "exp": math.exp,
    "log": lambda x, base=None: math.log(x) if base is None else math.log(x, base),
    "ln": math.log,
    "log10": math.log10,
    "log2": math.log2,
    "sin": math.sin,
    "cos": math.cos,
    "tan": math.tan,
    "cot": lambda x: 1 / math.tan(x),
    "sec": lambda x: 1 / math.cos(x),
    "csc": lambda x: 1 / math.sin(x),
    "asin": math.asin,
    "acos": math.acos,
    "atan": math.atan,
    "arcsin": math.asin,
    "arccos": math.acos,
    "arctan": math.atan,
    "atan2": math.atan2,
    "sinh": math.sinh,
    "cosh": math.cosh,
    "tanh": math.tanh,
    "abs": abs,
    "floor": lambda x: float(math.floor(x)),
    "ceil": lambda x: float(math.ceil(x)),
    "ceiling": lambda x: float(math.ceil(x)),
    "round": lambda x, d=0: float(round(x, int(d))),
    "min": min,
    "max": max,
    "degrees": math.degrees,
    "radians": math.radians,
    "factorial": lambda x: (
        float(math.factorial(int(x))) if x == int(x) and 0 <= x <= 170 else _nan()
    ),
}
_FLOAT_CONSTANTS = {
    "pi": math.pi,
    "e": math.e,
    "E": math.e,
    "deg": math.pi / 180,
    "degree": math.pi / 180,
}


def _nan() -> float:
    raise MathError("not a number this evaluator computes")


def evaluate_float(
    node: ast.expr, values: Mapping[str, float] | None = None, *, degrees: bool = False
) -> float:
    """The value of a checked tree (:func:`parse`) in floats, names from ``values``; with
    ``degrees``, sin/cos/tan take their arguments in degrees.

    Raises:
        MathError: an unknown name, a function it does not compute, a complex or non-finite
            result, or an overflow.
    """
    try:
        result = _float(node, values or {}, degrees)
    except (OverflowError, ValueError, ZeroDivisionError, TypeError) as exc:
        raise MathError(f"cannot evaluate ({type(exc).__name__})") from None
    if isinstance(result, complex) or not math.isfinite(result):
        raise MathError("the value is not a finite real number")
    return result


_DEGREE_TRIG = {"sin", "cos", "tan", "cot", "sec", "csc"}


def _float(node: ast.expr, values: Mapping[str, float], degrees: bool = False) -> float:
    if isinstance(node, ast.Constant):
        value = node.value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise MathError(f"only numbers are allowed as literals, not {value!r}")
        if isinstance(value, int) and abs(value) >= 10**MAX_DIGITS:
            raise MathError(f"a number with more than {MAX_DIGITS} digits is not allowed")
        return float(value)
    if isinstance(node, ast.Name):
        name = node.id.removeprefix(UNIT_MARK)
        if name in values:
            return float(values[name])
        if name in _FLOAT_CONSTANTS:
            return _FLOAT_CONSTANTS[name]
        raise MathError(f"unknown name {name!r}")
    if isinstance(node, ast.UnaryOp):
        operand = _float(node.operand, values, degrees)
        return -operand if isinstance(node.op, ast.USub) else operand
    if isinstance(node, ast.BinOp):
        left, right = _float(node.left, values, degrees), _float(node.right, values, degrees)
        op = node.op
        if isinstance(op, ast.Add):
            return left + right
        if isinstance(op, ast.Sub):
            return left - right
        if isinstance(op, ast.Mult):
            return left * right
        if isinstance(op, ast.Div):
            return left / right
        if isinstance(op, ast.Pow):
            if abs(right) > MAX_EXPONENT:
                raise MathError(f"an exponent over {MAX_EXPONENT:,} is not allowed")
            result = left**right
            if isinstance(result, complex):
                raise MathError("the value is not a real number")
            return float(result)
        if isinstance(op, ast.Mod):
            return left % right
        if isinstance(op, ast.FloorDiv):
            return float(left // right)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        function = _FLOAT_FUNCTIONS.get(node.func.id)
        if function is None:
            raise MathError(f"{node.func.id!r} is not computed here")
        args = [_float(arg, values, degrees) for arg in node.args]
        if degrees and node.func.id in _DEGREE_TRIG:
            args = [math.radians(a) for a in args]
        called: float = float(function(*args))
        return called
    raise MathError(f"{type(node).__name__} is not allowed")


def names_in(node: ast.expr) -> set[str]:
    """Variable names in a checked tree (not functions; unit marks removed)."""
    called = {id(n.func) for n in ast.walk(node) if isinstance(n, ast.Call)}
    return {
        n.id.removeprefix(UNIT_MARK)
        for n in ast.walk(node)
        if isinstance(n, ast.Name) and id(n) not in called
    }
