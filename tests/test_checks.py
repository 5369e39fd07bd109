"""The verifier's checks as pure functions: positives and hard negatives written here."""

from __future__ import annotations

import itertools

import pytest

from qvq_agent.agent.checks import TraceInput, check_names, get_check, run_checks
from qvq_agent.agent.checks.loop import LoopDetector, detect_loop
from qvq_agent.agent.verifier import critique, decide

PELICANS = (
    "Let me count the pelicans. On the left rock there are 4 pelicans standing together. "
    "On the right side I can see 2 more, one of them only partly in the frame. "
    "So 4 + 2 = 6. Let me double-check by counting again from left to right: 1, 2, 3, 4 on "
    "the rock, then 5 and 6 on the right. Yes, that is 6 pelicans.\n\n**Final Answer**\n\n6"
)
CLEAN_MATH = (
    "We need h'(2) with the product rule: h'(x) = f'(x)g(x) + f(x)g'(x). From the table, "
    "f(2) = -3, f'(2) = -8, g(2) = 1 and g'(2) = 7. So h'(2) = (-8)(1) + (-3)(7) = -8 - 21 = -29. "
    "Let me verify: -8 times 1 is -8, and -3 times 7 is -21; adding gives -29. "
    "That matches.\n\n**Final Answer**\n\n\\[ \\boxed{-29} \\]"
)
TABLE = "\n".join(
    f"Row {i}: the value in column A is {i * 3} and in column B is {i * 7 + 1}."
    for i in range(1, 30)
)


def loop_text() -> str:
    intro = "The triangle ABC has AB = 10, AC = 8 and BC = 6, so it is a right triangle. "
    block = (
        "The length of PQ is the diameter of the circle. The diameter of the circle is the "
        "distance between P and Q. The distance between P and Q is the length of PQ. "
    )
    return intro + block * 12


def test_registered_checks() -> None:
    assert {"loop", "no_final_answer"} <= set(check_names())
    with pytest.raises(KeyError, match="known"):
        get_check("telepathy")


def test_loop_found_with_its_onset() -> None:
    text = loop_text()
    hit = detect_loop(text)
    assert hit is not None
    first_block = text.index("The length of PQ")
    second_block = text.index("The length of PQ", first_block + 1)
    assert first_block <= hit.onset <= second_block + 5
    (finding,) = get_check("loop")(TraceInput(text))
    assert finding["check"] == "loop" and finding["severity"] == "error"
    assert finding["start"] == hit.onset and "repeating" in finding["message"]


def test_fuzzy_template_loop_is_found() -> None:
    things = [
        "order",
        "pattern",
        "location",
        "space",
        "orientation",
        "direction",
        "size",
        "shape",
        "colour",
        "shade",
        "texture",
        "material",
        "surface",
        "background",
    ]
    lines = [
        f"The objects are not in a specific {a}, and they are not in a specific {b}."
        for a, b in itertools.pairwise(things)
    ]
    text = "There are five objects: a car, a bus, a bike, a van and a truck.\n" + "\n".join(
        lines * 2
    )
    assert detect_loop(text) is not None


def test_online_guard_fires_soon_after_onset_and_stays_fired() -> None:
    text = loop_text()
    guard = LoopDetector()
    fired_at = None
    for i in range(0, len(text), 5):
        if guard.feed(text[i : i + 5]) is not None:
            fired_at = i + 5
            break
    assert fired_at is not None and guard.hit is not None
    assert fired_at - guard.hit.onset < 1200  # well under 300 tokens of loop
    assert guard.feed("more") is guard.hit


@pytest.mark.parametrize(
    "text", [PELICANS, CLEAN_MATH, TABLE, "Short answer.\n\n**Final Answer**\n\n3"]
)
def test_no_loop_in_clean_text(text: str) -> None:
    assert detect_loop(text) is None


def test_no_final_answer() -> None:
    check = get_check("no_final_answer")
    assert check(TraceInput(PELICANS)) == []
    (finding,) = check(TraceInput("I think it is six."))
    assert finding["end"] == len("I think it is six.")
    (cut,) = check(TraceInput("loop loop", cut_by_guard=True))
    assert "stopped because it was repeating" in cut["message"]


def test_verdicts_and_critique() -> None:
    findings = run_checks(["loop", "no_final_answer"], TraceInput(loop_text()))
    assert [f["check"] for f in findings] == ["loop", "no_final_answer"]
    assert decide(findings, can_revise=True) == "revise"
    assert decide(findings, can_revise=False) == "give_up"
    assert decide([], can_revise=True) == "pass"
    text = critique(findings)
    assert "repeating" in text and "**Final Answer**" in text
