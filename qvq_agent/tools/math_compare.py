"""Compare two answers with math-verify and pint (runs inside the math worker process).

:mod:`qvq_agent.answers` handles option letters, prose and plain numbers in the agent's own
process and sends everything else here: LaTeX and expressions, sets, tuples and intervals,
inequalities, equations up to sign and labels, matrices, and quantities with units. The worker
is killed when a comparison runs past its time limit, so math-verify's own ``signal`` timeouts
are a second line only.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from qvq_agent.tools.notation import (
    Number,
    compare_numbers,
    fmt_number,
    is_prose,
    normalise_text,
    read_number,
    tolerance,
    unwrap_latex,
)

PARSE_TIMEOUT_S = 2


def preload() -> None:
    """Import math-verify and build the unit registry (a worker does this while it idles)."""
    _parsers()
    _units()


@lru_cache(maxsize=1)
def _parsers() -> list[Any]:
    from latex2sympy2_extended import NormalizationConfig
    from math_verify import ExprExtractionConfig, LatexExtractionConfig

    return [
        LatexExtractionConfig(
            normalization_config=NormalizationConfig(
                basic_latex=True, units=True, malformed_operators=True, nits=True, boxed="all"
            )
        ),
        ExprExtractionConfig(),
    ]


@lru_cache(maxsize=1)
def _units() -> Any:
    import pint

    return pint.UnitRegistry(autoconvert_offset_to_baseunit=True)


@lru_cache(maxsize=4096)
def _parse(text: str) -> tuple[Any, ...]:
    from math_verify import parse

    body = text.strip()
    if not body.startswith("$"):
        body = f"${body}$"
    return tuple(parse(body, _parsers(), parsing_timeout=PARSE_TIMEOUT_S))


def _decimal(value: Any) -> Decimal | None:
    """A sympy number as a Decimal (30 digits), or ``None`` when it is not a real number."""
    import sympy as sp

    try:
        number = sp.N(value, 30)
        if not number.is_real or not number.is_finite:
            return None
        return Decimal(str(number))
    except (TypeError, ValueError, InvalidOperation, AttributeError):
        return None


def _verdict(same: bool, reason: str) -> dict[str, Any]:
    return {"equivalent": same, "reason": reason}


def compare(request: dict[str, Any]) -> dict[str, Any]:
    """``{"a", "b", "precision"}`` -> ``{"equivalent", "reason"}``."""
    a, b = str(request["a"]), str(request["b"])
    precision = str(request.get("precision", "strict"))
    na, nb = read_number(a), read_number(b)
    if (na is not None and na.unit) or (nb is not None and nb.unit):
        return _compare_quantities(a, b, na, nb, precision)
    pa, pb = _parse(_math_text(a, na)), _parse(_math_text(b, nb))
    if not pa or not pb:
        if is_prose(a) or is_prose(b) or not (pa or pb):
            same = normalise_text(a) == normalise_text(b)
            return _verdict(same, "same text" if same else "different text (not read as math)")
        return _verdict(False, f"{'the first' if not pa else 'the second'} is not read as math")
    xa, xb = _number(pa[0], na), _number(pb[0], nb)
    if xa is not None and xb is not None:
        same, reason = compare_numbers(xa, xb, na, nb, precision)
        return _verdict(same, reason)
    from math_verify import verify

    same = verify(
        list(pa), list(pb), float_rounding=9, strict=True, timeout_seconds=None
    ) or verify(list(pb), list(pa), float_rounding=9, strict=True, timeout_seconds=None)
    shown = f"{_show(pa[0])} {'=' if same else '≠'} {_show(pb[0])}"
    return _verdict(bool(same), ("equal: " if same else "different: ") + shown)


def _math_text(text: str, number: Number | None) -> str:
    """What math-verify reads: a plain number as digits (thousands separators, words and
    bases already read), anything else as written."""
    if number is not None:
        return str(number.value)
    return unwrap_latex(text)


def _number(value: Any, written: Number | None) -> Decimal | None:
    if written is not None:
        return written.value
    import sympy as sp

    if isinstance(value, sp.Basic) and value.is_number:
        return _decimal(value)
    return None


def _show(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 60 else text[:59] + "…"


_PINT_UNIT = [
    (re.compile(r"\^\s*\{?\s*([-−]?\d)\s*\}?"), r"**\1"),
    (re.compile(r"²"), "**2"),
    (re.compile(r"³"), "**3"),
    (re.compile(r"[·⋅]"), "*"),
    (re.compile(r"−"), "-"),
    (re.compile(r"µ"), "u"),
    (re.compile(r"Ω"), "ohm"),
]


def _pint_unit(text: str) -> Any:
    body = unwrap_latex(text)
    for pattern, replacement in _PINT_UNIT:
        body = pattern.sub(replacement, body)
    return _units().parse_units(body)


def _compare_quantities(
    a: str, b: str, na: Number | None, nb: Number | None, precision: str
) -> dict[str, Any]:
    """Quantities through pint: compound units, unit words, prefixes (``2.5 m/s`` = ``250
    cm/s``; ``1 N`` = ``1 kg*m/s^2``)."""
    if na is None or nb is None:
        return _verdict(False, "a quantity and an expression")
    if na.unit and nb.unit:
        try:
            qa = (float(na.value) * _pint_unit(na.unit)).to_base_units()
            qb = (float(nb.value) * _pint_unit(nb.unit)).to_base_units()
        except Exception as exc:  # pint raises many kinds for odd units
            return _verdict(False, f"units could not be read ({type(exc).__name__})")
        if qa.dimensionality != qb.dimensionality:
            return _verdict(False, f"different quantities ({na.unit} vs {nb.unit})")
        x, y = Decimal(repr(float(qa.magnitude))), Decimal(repr(float(qb.magnitude)))
        tol, why = tolerance(x, y, _scaled(na, x), _scaled(nb, y), precision)
        tol = max(tol, Decimal("1e-12") * max(abs(x), abs(y)))  # unit factors are floats
        same = abs(x - y) <= tol
        reason = f"{fmt_number(x)} {'=' if same else '≠'} {fmt_number(y)} in SI units"
        return _verdict(same, reason + (f" ({why})" if same and why else ""))
    same, reason = compare_numbers(na.value, nb.value, na, nb, precision)
    return _verdict(same, reason + (" (unit omitted on one side)" if same else ""))


def _scaled(written: Number, si_value: Decimal) -> Number:
    """The written number's precision carried over to its SI value (5.00 cm -> 0.0500 m)."""
    if written.value == 0:
        return written
    shift = (si_value / written.value).adjusted() if si_value else 0
    return Number(
        si_value,
        written.decimals - shift,
        written.significant,
        written.exponent,
        exact=written.exact,
    )


def to_si(request: dict[str, Any]) -> list[list[Any]]:
    """``{"quantities": [[value, unit], ...]}`` -> ``[[value in SI base units, dimension], ...]``
    (``[null, null]`` for a unit pint cannot read)."""
    out: list[list[Any]] = []
    for value, unit in request["quantities"][:64]:
        try:
            quantity = (float(value) * _pint_unit(str(unit)[:40])).to_base_units()
            out.append([float(quantity.magnitude), str(quantity.dimensionality)])
        except Exception:  # pint raises many kinds for odd units
            out.append([None, None])
    return out
