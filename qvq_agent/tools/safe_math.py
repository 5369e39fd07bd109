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
import re
import tokenize
from collections.abc import Collection

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
