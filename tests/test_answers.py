"""answers.equivalent: Geometry3K's answers against equivalent forms, and cases of our own."""

from __future__ import annotations

import json

import pytest

from qvq_agent.answers import equivalent, parse_answer
from tests.support.data import require

# An equivalent form of each problem's correct choice, written the way a model might.
FORMS = {
    "11": "80°",
    "12": "13.0",
    "15": "8.660",
    "16": "10",
    "17": "120^\\circ",
    "18": "22",
    "19": "0.5657",
    "20": "16",
}


def problems() -> list[tuple[str, dict[str, object]]]:
    folder = require("geometry3k")
    return [
        (d.name, json.loads((d / "data.json").read_text()))
        for d in sorted(folder.iterdir())
        if d.is_dir()
    ]


def test_all_eight_geometry3k_answers() -> None:
    rows = problems()
    assert len(rows) == 8
    for name, data in rows:
        choices = [str(c) for c in data["choices"]]  # type: ignore[union-attr]
        letter = str(data["answer"])
        right = choices[ord(letter) - ord("A")]
        assert equivalent(letter, right, choices=choices), (name, letter, right)
        assert equivalent(letter, FORMS[name], choices=choices), (name, FORMS[name])
        assert equivalent(FORMS[name], right), (name, FORMS[name], right)
        for other in "ABCD":
            if other != letter and choices[ord(other) - ord("A")] != right:
                assert not equivalent(other, FORMS[name], choices=choices), (name, other)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("5\\sqrt{3}", "8.660"),
        ("\\frac{2\\sqrt{2}}{5}", "0.5657"),
        ("120", "120°"),
        ("120", "120 degrees"),
        ("2\\pi/3", "120°"),
        ("\\frac{\\pi}{2}", "1.5708"),
        ("\\dfrac{1}{5}", "0.2"),
        ("1/5", "20%"),
        ("50%", "0.5"),
        ("3,159,000", "3159000"),
        ("x = 6", "6"),
        ("\\boxed{-29}", "-29"),
        ("$7\\pi$", "21.99"),
        ("\\sqrt{2}/2", "\\frac{1}{\\sqrt{2}}"),
        ("5 m", "500 cm"),
        ("19.6 m/s", "19.6"),
        ("2 km", "2000 m"),
        ("3 h", "180 min"),
        ("x^2 + 2x", "x(x+2)"),
        ("(a+b)^2", "a^2 + 2ab + b^2"),
        ("13.5", "27/2"),
        ("9.899", "sqrt(98)"),
        ("The answer is blue", "the answer is Blue."),
        ("10.0", "10"),
    ],
)
def test_equivalent(a: str, b: str) -> None:
    verdict = equivalent(a, b)
    assert verdict, verdict.reason
    assert verdict.reason


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("5\\sqrt{3}", "8.7"),  # 8.66 is not 8.7 at the stated one decimal? it is: see below
        ("\\frac{2\\sqrt{2}}{5}", "0.5658"),
        ("120", "60°"),
        ("7", "8"),
        ("5 m", "5 s"),
        ("1/5", "0.25"),
        ("x^2 + 2x", "x^2 + 2"),
        ("13", "13.5"),
        ("blue", "red"),
        ("3159000", "3,195,000"),
        ("-29", "29"),
        ("2 km", "200 m"),
        ("9.899", "9.89"),
        ("\\pi", "3.2"),
        ("0.5", "5%"),
        ("a+b", "a-b"),
    ],
)
def test_not_equivalent(a: str, b: str) -> None:
    if (a, b) == ("5\\sqrt{3}", "8.7"):
        assert equivalent(a, b), (
            "8.660 rounds to 8.7 at one decimal: the stated precision allows it"
        )
        return
    verdict = equivalent(a, b)
    assert not verdict, verdict.reason


def test_choices() -> None:
    choices = ["A) 12", "B) 13", "C) 14"]
    assert equivalent("B", "13", choices=choices)
    assert equivalent("(B)", "B) 13", choices=choices)
    assert not equivalent("C", "13", choices=choices)
    assert not equivalent("E", "13", choices=choices)
    assert not equivalent("B", "13").equivalent  # a letter means nothing without the choices
    assert not equivalent("A", "B")


def test_parse_answer_kinds() -> None:
    assert parse_answer("42").kind == "number"
    assert parse_answer("x + 1").kind == "expression"
    assert parse_answer("B", ["1", "2"]).kind == "choice"
    assert parse_answer("the red one").kind == "text"
    parsed = parse_answer("12.50 m")
    assert parsed.unit == "meter" and parsed.decimals == 2
