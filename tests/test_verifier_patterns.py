"""The verifier's patterns from real traces (issue 9), each with its hard negatives: answer
formats, arithmetic only where it is arithmetic, conclusions in words, option values, word
flip-flops, confidences and the threshold."""

from __future__ import annotations

import pytest

from qvq_agent.agent.checks import TraceInput, get_check
from qvq_agent.agent.checks.base import blocks, split_findings
from qvq_agent.agent.verifier import decide
from qvq_agent.answers import extract_final_answer, find_final_answers
from tests.test_hostile import finishes


def fired(check: str, text: str, question: str = "") -> list[str]:
    return [f["message"] for f in get_check(check)(TraceInput(text, question=question))]


# ---------------------------------------------------------------- final answers in every format


@pytest.mark.parametrize(
    ("trace", "answer"),
    [
        ("So x = 4.\n\n**Final Answer**\n\n4", "4"),
        ("The area is $\\boxed{12}$.", "12"),
        ("Two roots: \\boxed{2} and \\boxed{3}.", "2, 3"),
        ("<think>add them</think>\n<answer> 55 - 16 + 39 </answer>", "55 - 16 + 39"),
        ("Working...\n<SOLUTION>28</SOLUTION>", "28"),
        ("Reasoning done.\nAnswer: B", "B"),
        ("Many steps here. Putting it together, the answer is 42.", "42"),
        ("所以面积是 12。\n\n**最终答案**\n\n12", "12"),
        ("因此，答案：C", "C"),
    ],
)
def test_final_answers_in_every_common_format(trace: str, answer: str) -> None:
    assert extract_final_answer(trace) == answer
    assert fired("no_final_answer", trace) == []


def test_the_answer_is_only_counts_near_the_end() -> None:
    head = "At first I thought the answer is 5, but the figure says otherwise. "
    trace = head + "Let me measure each side again and think about the angles. " * 30
    assert find_final_answers(trace) == []
    assert fired("no_final_answer", trace)


# ---------------------------------------------------------------- arithmetic only where it is


@pytest.mark.parametrize(
    "text",
    [
        "From the second equation, 2x₂ = 28, so x₂ = 14.",  # a subscript, not 2 × 2
        "The trip took 1 hour + 6 minutes = 1 hour 6 minutes.",  # units as words
        "The drop time is t = sqrt(2h/g) = sqrt(40/9.8) ≈ 2.02 s.",  # a substitution step
        "The steps are:\n1. Read the chart.\n2. Add the bars.\n3. Compare.\n4. Answer.\n"
        "So the total is 54.",  # a list of 4 steps is not a count of 54
        "Let f(x) = x + 3; then f(2) = 5.",  # function values after a definition
    ],
)
def test_arithmetic_hard_negatives_from_real_traces(text: str) -> None:
    assert fired("arithmetic", text) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("If I subtract 57 from 63, I get 7. Then 25 - 7 = 18.", "6"),
        ("55 + 39 - 16 = 84 - 16 = 68, too low.", "is 78, not 84 - 16"),
    ],
)
def test_verbal_and_chained_slips(text: str, expected: str) -> None:
    messages = fired("arithmetic", text)
    assert messages and expected in messages[0]


# ---------------------------------------------------------------- answer_mismatch


KITCHEN = (
    'The legend lists "K - Kitchen Staff" and "W - Waiters". The letter sits in the evening '
    'rows, next to the cooking tasks. So "K" stands for "Kitchen Staff."\n\n'
)


def test_conclusion_in_words_then_a_number() -> None:
    question = 'What does the letter "K" stand for in the schedule?'
    messages = fired("answer_mismatch", KITCHEN + "Final Answer: <answer>3</answer>", question)
    assert messages and '"Kitchen Staff' in messages[0]
    assert fired("answer_mismatch", KITCHEN + "<answer>Kitchen Staff</answer>", question) == []


def test_cannot_tell_then_a_number() -> None:
    trace = "The table does not show the cost for attendees at all.\n\n**Final Answer**\n\n12"
    assert fired("answer_mismatch", trace, "What is the cost per attendee?")


def test_option_letter_that_disagrees_with_the_value_concluded() -> None:
    trace = "So angle 1 is 105°, which is option C.\n\n**Final Answer**\n\nC"
    assert fired("answer_mismatch", trace, "Find angle 1. A: 75 B: 105 C: 140 D: 145")


@pytest.mark.parametrize(
    ("trace", "question"),
    [
        # an intermediate value before the conclusion
        ("x + 2 = 0 gives x = -2, and then y = x + 2 = 0. So y is 0.\n\n**Final Answer**\n\n0", ""),
        # the option's value instead of its letter
        ("Angle 1 is 105°.\n\n**Final Answer**\n\n105°", "Find angle 1. A: 75 B: 105 C: 140"),
        # the letter of the value concluded
        ("So angle 1 is 105°, option B.\n\n**Final Answer**\n\nB", "A: 75 B: 105 C: 140"),
        # the same answer twice in two notations
        ("The answer is \\boxed{15}.\n\n**Final Answer**\n\n15.0", ""),
    ],
)
def test_answer_mismatch_hard_negatives(trace: str, question: str) -> None:
    assert fired("answer_mismatch", trace, question) == []


# ---------------------------------------------------------------- circular: words, not numbers


def test_words_that_flip_back_are_circular() -> None:
    trace = (
        "The tallest bar is in March, so the answer is March. Hmm, no, looking at the axis "
        "the tallest is April, so the answer is April. Wait, so the answer is March after all. "
        "Actually the answer is April. So it must be March."
    )
    assert fired("circular", trace, "In which month were sales highest?")


def test_a_word_corrected_once_is_not_circular() -> None:
    trace = (
        "The tallest bar looks like March. Reading the axis labels closely, it is April, "
        "which is 40 units.\n\n**Final Answer**\n\nApril"
    )
    assert fired("circular", trace, "In which month were sales highest?") == []


def test_self_contradiction_about_one_object() -> None:
    trace = "The large red sphere is of the shape of a cylinder, so it is not counted."
    assert fired("circular", trace, "How many spheres are there?")


# ---------------------------------------------------------------- confidence and threshold


def test_every_finding_carries_a_confidence_and_the_threshold_decides() -> None:
    trace = "这句话有点 tricky。所以答案是 5。"
    (finding,) = get_check("language_mixing")(TraceInput(trace, question="请解答这道题"))
    assert 0 < finding["confidence"] < 1
    assert blocks(finding, 0.65) and not blocks(finding, 0.9)
    assert decide([finding], True, 0.65) == "revise"
    assert decide([finding], True, 0.9) == "pass"
    assert split_findings([finding], 0.9) == ([], [finding])


def test_a_long_run_of_digits_does_not_hang_the_check() -> None:
    # 5,000 nines once took 2 s, 20,000 about half a minute (the verbal patterns restarted
    # inside the number); the hang bound of the hostile-input tests applies.
    text = "**Final Answer**\n\n" + "9" * 20000
    assert finishes(lambda: fired("arithmetic", text)) == []


def test_verbal_computation_reads_whole_numbers() -> None:
    (message,) = fired("arithmetic", "Adding 1,200 and 300 gives 1,600, so 63 is left.")
    assert message.startswith("1,200 + 300 is 1500, not 1,600")
