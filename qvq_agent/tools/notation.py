"""How answers are written: pure string functions that read numbers, units, percent and degree
signs, number bases and number words, and tidy LaTeX wrappers, without evaluating anything.

Used on both sides of the math path: :mod:`qvq_agent.answers` reads plain numbers here in the
agent's own process (fast and bounded: regular expressions and ``Decimal`` only), and the math
worker (:mod:`qvq_agent.tools.math_compare`) reads the rest. Every regular expression here is
linear (no nested quantifiers) and every input is capped at :data:`MAX_ANSWER_CHARS`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

MAX_ANSWER_CHARS = 400
"""Longer answers are compared as text only."""
MAX_EXPONENT_DIGITS = 4
"""``1e9999`` is read; ``1e99999`` is not a number here (it goes to the math worker)."""

_WRAPPERS = re.compile(
    r"\\(?:text|textbf|textit|mathrm|mathbf|mathit|operatorname|mbox|textnormal)\s*\{([^{}]*)\}"
)
_SPACING = re.compile(r"\\[,;: ]|\\q?quad\b|~")
_DOLLAR_CURRENCY = re.compile(r"^(?:\\\$|\$(?=\s*\d)|US\$|€|£|¥)\s*")
_THOUSANDS = re.compile(r"(?<=\d)(?:\{,\}|,\\!|,(?=\d{3}(?:\D|$))|\s(?=\d{3}(?:[^\d]|$)))")
_NUMBER = re.compile(
    r"^(?P<sign>[-+−]?)\s*(?P<int>\d+)(?:\.(?P<frac>\d+))?"
    r"(?:\s*(?:[eE](?P<e1>[-+]?\d{1,4})|(?:\\times|×|\*|x)\s*10\s*\^\s*\{?\s*(?P<e2>[-+−]?\d{1,4})\s*\}?))?"
)
_LEADING_POINT = re.compile(r"^(?P<sign>[-+−]?)\.(?P<frac>\d+)")
_PERCENT = re.compile(r"^\s*(?:\\%|%|percent\b|pct\b|per\s*cent\b)", re.IGNORECASE)
_DEGREES = re.compile(
    r"^\s*(?:\^\s*\{?\s*\\circ\s*\}?|°|º|\\degree\b|degrees?\b|deg\b)", re.IGNORECASE
)
_BASE = re.compile(r"^([0-9A-Za-z]+)_\{?(\d{1,2})\}?$")
_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"

NUMBER_WORDS = {
    "zero": 0,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "seventeen": 17,
    "eighteen": 18,
    "nineteen": 19,
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
    "hundred": 100,
    "a dozen": 12,
    "dozen": 12,
    "none": 0,
    "no": 0,
}
"""An answer that is one of these words alone is that number (counting answers)."""

UNIT_WORDS = frozenset(
    {
        # length
        "m",
        "meter",
        "meters",
        "metre",
        "metres",
        "cm",
        "centimeter",
        "centimeters",
        "centimetre",
        "centimetres",
        "mm",
        "millimeter",
        "millimeters",
        "km",
        "kilometer",
        "kilometers",
        "kilometre",
        "kilometres",
        "um",
        "µm",
        "micrometer",
        "micrometers",
        "nm",
        "nanometer",
        "nanometers",
        "ft",
        "foot",
        "feet",
        "inch",
        "inches",
        "mi",
        "mile",
        "miles",
        "yd",
        "yard",
        "yards",
        # time
        "s",
        "sec",
        "secs",
        "second",
        "seconds",
        "ms",
        "millisecond",
        "milliseconds",
        "min",
        "mins",
        "minute",
        "minutes",
        "h",
        "hr",
        "hrs",
        "hour",
        "hours",
        "day",
        "days",
        # mass
        "kg",
        "kilogram",
        "kilograms",
        "g",
        "gram",
        "grams",
        "mg",
        "milligram",
        "milligrams",
        "lb",
        "lbs",
        "pound",
        "pounds",
        "oz",
        "ounce",
        "ounces",
        "t",
        "tonne",
        "tonnes",
        # mechanics, electricity, heat
        "N",
        "newton",
        "newtons",
        "kN",
        "J",
        "joule",
        "joules",
        "kJ",
        "cal",
        "kcal",
        "W",
        "watt",
        "watts",
        "kW",
        "kWh",
        "Pa",
        "pascal",
        "pascals",
        "kPa",
        "MPa",
        "atm",
        "bar",
        "Hz",
        "hertz",
        "kHz",
        "MHz",
        "V",
        "volt",
        "volts",
        "kV",
        "mV",
        "A",
        "amp",
        "amps",
        "ampere",
        "amperes",
        "mA",
        "ohm",
        "ohms",
        "Ω",
        "kΩ",
        "kohm",
        "C",
        "coulomb",
        "coulombs",
        "F",
        "farad",
        "farads",
        "uF",
        "µF",
        "K",
        "kelvin",
        "T",
        "tesla",
        "eV",
        "keV",
        "MeV",
        "mol",
        "mole",
        "moles",
        # volume, speed, angle
        "L",
        "l",
        "liter",
        "liters",
        "litre",
        "litres",
        "mL",
        "ml",
        "milliliter",
        "milliliters",
        "mph",
        "kph",
        "rad",
        "rads",
        "radian",
        "radians",
    }
)
"""Unit names read as units (pint knows them all); any other word after a number is a label."""

_UNIT_TOKEN = re.compile(r"[A-Za-zµΩ]+")
_UNIT_SHAPE = re.compile(
    r"^(?:square |cubic |sq\.? )?[A-Za-zµΩ]+(?:\s*(?:\^|\*\*)\s*\{?[-−]?\d\}?|[²³])?"
    r"(?:\s*(?:/|\*|·|⋅|\s|\s?per\s)\s*(?:square |cubic )?[A-Za-zµΩ]+"
    r"(?:\s*(?:\^|\*\*)\s*\{?[-−]?\d\}?|[²³])?){0,4}$"
)


def unwrap_latex(text: str) -> str:
    """``\\text{5 cm}`` -> ``5 cm``; LaTeX spacing and ``\\left``/``\\right`` dropped."""
    out = text
    for _ in range(3):
        out = _WRAPPERS.sub(r"\1", out)
    out = _SPACING.sub(" ", out).replace("\\!", "").replace("\\left", "").replace("\\right", "")
    return " ".join(out.split())


def drop_thousands(text: str) -> str:
    """``14{,}916``, ``11,\\!111``, ``1,000,000`` and ``1 000`` -> plain digits.

    A comma counts only before exactly three digits (``1,2`` is two numbers, not 1.2).
    """
    return _THOUSANDS.sub("", text)


def looks_like_unit(text: str) -> bool:
    """True when ``text`` is a unit written with known names (``m/s``, ``kg*m/s^2``,
    ``meters per second``, ``cm^2``); a count noun (``apples``, ``units``) is not."""
    body = unwrap_latex(text).strip().rstrip(".")
    if not body or len(body) > 40 or not _UNIT_SHAPE.match(body):
        return False
    words = [w for w in _UNIT_TOKEN.findall(body) if w not in ("per", "square", "cubic", "sq")]
    return bool(words) and all(w in UNIT_WORDS for w in words)


@dataclass(frozen=True)
class Number:
    """A number as written: its value, and what was written around it."""

    value: Decimal
    decimals: int
    """Digits after the point (the precision it states); 0 for integers, negative for
    ``3e8``."""
    significant: int
    """Significant digits written."""
    exponent: bool
    """Written in scientific notation."""
    percent: bool = False
    degrees: bool = False
    unit: str | None = None
    """A unit (``m/s``) after the number, as written."""
    label: str | None = None
    """A word after the number that is not a unit (``5 apples``, ``10 units``)."""
    exact: bool = False
    """Written as a whole number (``60``, ``three``, ``204_5``): exact, not rounded."""


def read_number(text: str) -> Number | None:
    """A whole answer that is one number, with optional currency, percent, degree sign, unit
    or label word; a base-n literal (``204_5`` = 54); a number word (``three``). ``None``
    for anything else (an expression, a list, a fraction: the math worker reads those)."""
    if len(text) > MAX_ANSWER_CHARS:
        return None
    body = unwrap_latex(drop_thousands(text)).strip().rstrip(".").strip()
    if not body:
        return None
    word = NUMBER_WORDS.get(body.lower())
    if word is not None:
        return Number(Decimal(word), 0, len(str(word)), False, exact=True)
    based = _read_base(body)
    if based is not None:
        return based
    body = _DOLLAR_CURRENCY.sub("", body)
    body = drop_thousands(body)
    match = _NUMBER.match(body) or _LEADING_POINT.match(body)
    if match is None:
        return None
    groups = match.groupdict()
    sign = "-" if groups.get("sign") in ("-", "−") else ""
    digits_int = groups.get("int") or "0"
    digits_frac = groups.get("frac") or ""
    exp_text = groups.get("e1") or groups.get("e2")
    exponent = int(exp_text.replace("−", "-")) if exp_text else 0
    try:
        value = Decimal(f"{sign}{digits_int}.{digits_frac or '0'}").scaleb(exponent)
    except InvalidOperation:
        return None
    significant = len((digits_int + digits_frac).lstrip("0")) or 1
    rest = body[match.end() :]
    percent = degrees = False
    if (found := _PERCENT.match(rest)) is not None:
        percent, rest = True, rest[found.end() :]
    elif (found := _DEGREES.match(rest)) is not None:
        degrees, rest = True, rest[found.end() :]
    rest = rest.strip()
    if rest.startswith(("*", "\\cdot", "·")) and looks_like_unit(rest.lstrip("*·\\cdot ")):
        rest = rest.lstrip("*·\\cdot ")  # sympy writes 19.6*meter/second
    unit = label = None
    if rest:
        if looks_like_unit(rest):
            unit = rest
        elif re.fullmatch(r"[A-Za-z]{3,}[A-Za-z -]{0,30}", rest) and not re.search(
            r"\b(?:or|and|to|times|plus|minus)\b", rest
        ):
            label = rest.lower()
        else:
            return None
    return Number(
        value,
        len(digits_frac) - exponent,
        significant,
        exp_text is not None,
        percent,
        degrees,
        unit,
        label,
        exact=not digits_frac and exp_text is None,
    )


def _read_base(body: str) -> Number | None:
    """``204_5`` -> 54, ``1011_2`` -> 11, ``FF_{16}`` -> 255; ``None`` when not a valid one."""
    match = _BASE.match(body)
    if not match:
        return None
    digits, base = match.group(1).lower(), int(match.group(2))
    if not 2 <= base <= 36 or any(_DIGITS.find(d) not in range(base) for d in digits):
        return None
    value = int(digits, base)
    return Number(Decimal(value), 0, len(str(value)), False, exact=True)


_LONE_LETTER = re.compile(r"^\(?([A-Za-z])\)?\.?$")


def lone_letter(text: str) -> str | None:
    """The letter of an answer that is one letter alone (``A``, ``(b)``, ``C.``), else ``None``."""
    match = _LONE_LETTER.match(unwrap_latex(text).strip())
    return match.group(1) if match else None


_WORD = re.compile(r"[A-Za-z]{3,}")
_MATH_WORDS = frozenset(
    {
        "sqrt",
        "frac",
        "dfrac",
        "tfrac",
        "cfrac",
        "pi",
        "sin",
        "cos",
        "tan",
        "cot",
        "sec",
        "csc",
        "log",
        "ln",
        "exp",
        "arcsin",
        "arccos",
        "arctan",
        "infty",
        "infinity",
        "inf",
        "cup",
        "cap",
        "cdot",
        "times",
        "div",
        "pm",
        "mp",
        "leq",
        "geq",
        "neq",
        "le",
        "ge",
        "lt",
        "gt",
        "begin",
        "end",
        "pmatrix",
        "bmatrix",
        "matrix",
        "vmatrix",
        "left",
        "right",
        "circ",
        "degree",
        "degrees",
        "deg",
        "boxed",
        "mathbb",
        "emptyset",
        "varnothing",
        "alpha",
        "beta",
        "gamma",
        "delta",
        "theta",
        "lambda",
        "mu",
        "sigma",
        "omega",
        "phi",
        "and",
        "or",
        "text",
        "mathrm",
        "overline",
        "angle",
        "triangle",
        "perp",
        "parallel",
        "sim",
        "cong",
        "approx",
        "ldots",
        "cdots",
        "dots",
        "max",
        "min",
        "lim",
        "sum",
        "int",
        "percent",
        "pct",
        "root",
        "abs",
    }
)


def is_prose(text: str) -> bool:
    """True when the answer has words that are not math, units or number words (``Technology
    Group``, ``the left one``): such answers are compared as text."""
    body = unwrap_latex(text)
    words = [w for w in _WORD.findall(body) if f"\\{w}" not in body]
    return any(
        w.lower() not in _MATH_WORDS and w not in UNIT_WORDS and w.lower() not in NUMBER_WORDS
        for w in words
    )


def normalise_text(text: str) -> str:
    """Text for a text comparison: LaTeX wrappers gone, case and spacing folded, a final period
    dropped; no other punctuation is touched (``1,2`` stays unlike ``1.2``)."""
    return " ".join(unwrap_latex(text).strip().rstrip(".").lower().split())


STRICT_RELATIVE = Decimal("1e-9")
"""Under either policy, two values this close (relative) are the same number (float noise)."""


def tolerance(
    x: Decimal, y: Decimal, a: Number | None, b: Number | None, precision: str
) -> tuple[Decimal, str]:
    """How far apart ``x`` (written as ``a``) and ``y`` (as ``b``) may be, and why.

    ``strict``: float noise only (``1/3`` is not ``0.333``). ``stated``: a rounded decimal
    with at least three significant digits also stands for the values within half a unit of
    its last digit, when the other side is exact (a whole number or an expression) or more
    precise (``5\\sqrt{3}`` is ``8.660``; ``0.5`` is not ``0.46``). ``a``/``b`` are ``None``
    for exact expressions.
    """
    scale = max(abs(x), abs(y))
    tol = STRICT_RELATIVE * scale
    why = ""
    if precision == "stated":
        for rounded, other in ((a, b), (b, a)):
            if rounded is None or rounded.significant < 3 or rounded.decimals <= 0:
                continue
            if other is not None and not other.exact and other.decimals <= rounded.decimals:
                continue
            stated = Decimal("0.5").scaleb(-rounded.decimals) * Decimal("1.000000001")
            if stated > tol:
                tol, why = stated, f"as stated to {rounded.decimals} decimals"
    return tol, why


def compare_numbers(
    x: Decimal, y: Decimal, a: Number | None, b: Number | None, precision: str
) -> tuple[bool, str]:
    """Are ``x`` (written as ``a``) and ``y`` (as ``b``) the same number under ``precision``,
    the percent and degree signs optional on one side? With the reason."""

    candidates: list[tuple[Decimal, Decimal, str]] = [(x, y, "")]
    a_percent, b_percent = bool(a and a.percent), bool(b and b.percent)
    a_degrees, b_degrees = bool(a and a.degrees), bool(b and b.degrees)
    if a_percent != b_percent:
        candidates.append(
            (x / 100 if a_percent else x, y / 100 if b_percent else y, "percent as a fraction")
        )
    if a_degrees != b_degrees:
        to_rad = Decimal(repr(math.pi / 180))
        candidates.append(
            (x * to_rad if a_degrees else x, y * to_rad if b_degrees else y, "degrees as radians")
        )
    for u, v, how in candidates:
        tol, why = tolerance(u, v, a, b, precision)
        if how:  # a converted value is no longer exact: allow the conversion's float noise
            tol = max(tol, Decimal("1e-12") * max(abs(u), abs(v), Decimal(1)))
        if abs(u - v) <= tol:
            notes = ", ".join(n for n in (how, why) if n)
            return True, f"{fmt_number(u)} = {fmt_number(v)}" + (f" ({notes})" if notes else "")
    return False, f"{fmt_number(x)} ≠ {fmt_number(y)}"


def fmt_number(value: Decimal) -> str:
    """A number for a verdict's reason (six significant digits)."""
    return f"{value:.6g}" if abs(value) < Decimal("1e16") else f"{value:.6e}"
