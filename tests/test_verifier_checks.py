"""Each verifier check alone: positives and hard negatives written here (not the shared data)."""

from __future__ import annotations

import pytest

from qvq_agent.agent.checks import ToolOutcome, TraceInput, get_check


def fired(check: str, text: str, question: str = "", **kw: object) -> list[str]:
    findings = get_check(check)(TraceInput(text, question=question, **kw))  # type: ignore[arg-type]
    return [f["message"] for f in findings]


# ---------------------------------------------------------------- arithmetic


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The area is 12 × 7 = 74 square units.", "12 × 7 is 84, not 74"),
        ("So sqrt(3^2 + 4^2) = sqrt(25) = 6.", "sqrt(25) is 5, not 6"),
        ("Total: 2.50 + 3.75 + 4.25 = 11.50 dollars", "is 10.5, not 11.50"),
        ("angle D = 180° - 50° - 25° - 25° = 75°.", "is 80, not 75°"),
        ("√2 ≈ 1.5", "is 1.41421, not 1.5"),
        ("The cost is 1,200 + 350 = 1,650.", "is 1550, not 1,650"),
        ("25% of the total: 0.25 × 80 = 25", "is 20, not 25"),
        ("S = (1/2)(-8ab/5)\n\n= (4ab)/5", "is not equal to"),
        ("x = 3·4 − 2 = 11", "is 10, not 11"),
        ("$\\frac{3}{4} \\times 8 = 5$", "is 6, not 5"),
    ],
)
def test_arithmetic_slips_are_reported_with_the_right_value(text: str, expected: str) -> None:
    messages = fired("arithmetic", text)
    assert messages and expected in messages[0]


@pytest.mark.parametrize(
    "text",
    [
        "So 4 + 2 = 6 pelicans.",
        "sqrt(2*9.8*5) ≈ 9.9 m/s",
        "6.4 kg / 151 days ≈ 0.0424 kg per day",
        "Volume = 300 cm x 90 cm x 90 cm = 2,430,000 cubic cm",
        "$\\frac{\\pi}{2} + 2\\pi + \\frac{9\\pi}{2} = 5\\pi + 2\\pi = 7\\pi$",
        "2019 ÷ 5 = 403 with a remainder of 4",
        "AB = 1.8 * BC / 1.5 = 1.8 * 9.0 / 1.5 = 10.8",
        "b x + 4b x = 4ab, so 5b x = 4ab",  # an equation to solve, not a simplification
        "y = (b/(2a))*(4a/5) = (4ab)/(10a) = (2b)/5",
        "Meeting on 2024-11-16 = Saturday; call 555-1234.",
        "h'(2) = f'(2)*g(2) + f(2)*g'(2) = (-8)*(1) + (-3)*(7) = -8 + (-21) = -29",
        "The ratio is 3:4 = 0.75",
    ],
)
def test_arithmetic_hard_negatives(text: str) -> None:
    assert fired("arithmetic", text) == []


def test_sum_of_listed_counts() -> None:
    text = "- There are 2 small cubes.\n- There is 1 large cylinder.\n- There is 1 sphere.\n\nAdding these together: 1 + 2 = 3 objects."
    assert "You listed counts 2 + 1 + 1 = 4" in fired("arithmetic", text)[0]
    right = text.replace("1 + 2 = 3", "2 + 1 + 1 = 4")
    assert fired("arithmetic", right) == []


# ---------------------------------------------------------------- language_mixing


def test_chinese_inside_an_english_answer() -> None:
    messages = fired(
        "language_mixing", "The angle is 55 degrees, 所以答案是 55.", "What is angle 2?"
    )
    assert messages and "Chinese" in messages[0] and "English only" in messages[0]


def test_english_word_inside_a_chinese_answer() -> None:
    text = "卵细胞减数第二次分裂时姐妹染色单体没有分离， still不符合患儿的基因型。所以答案是A。"
    messages = fired("language_mixing", text, "请解答这道题")
    assert messages and '"still"' in messages[0] and "Chinese only" in messages[0]


def test_whole_reply_in_the_other_language() -> None:
    messages = fired(
        "language_mixing",
        "根据平行线的性质，两个角相等，所以是55度。",
        "As shown, what is angle 2?",
    )
    assert messages and "answered in another language" in messages[0]


def test_reasoning_in_another_latin_language() -> None:
    text = (
        "Saya perlu menghitung jumlah dari floor function untuk suku-suku dalam barisan ini. "
        "Suku pertama adalah 1, dan yang terakhir adalah 100."
    )
    messages = fired("language_mixing", text, "Compute the sum of the floor values.")
    assert messages and "answered in another language" in messages[0]


def test_a_sentence_switching_to_spanish() -> None:
    text = (
        "There are three cubes in the image and all of them are red, so I count them from the "
        "left to the right and there is no other cube behind them. Entonces el total es 3 y "
        "la respuesta es que hay tres cubos. So the answer is 3."
    )
    messages = fired("language_mixing", text, "How many cubes are there?")
    assert messages and "Spanish" in messages[0] and "English only" in messages[0]


def test_a_lone_english_word_in_chinese_prose() -> None:
    findings = get_check("language_mixing")(
        TraceInput("这句话有点 tricky。Q先生知道花色。", question="请问这张牌是什么牌？")
    )
    assert findings and '"tricky"' in findings[0]["message"]
    assert findings[0]["confidence"] < 1.0


def test_function_word_glued_to_chinese_even_in_quotes() -> None:
    text = '<think>No clear indication.</think>\n<answer>\n"Jobber not明确"\n</answer>'
    messages = fired("language_mixing", text, "Who is the jobber?")
    assert messages and "Chinese" in messages[0]


@pytest.mark.parametrize(
    ("text", "question"),
    [
        ('The sign on the door says "出口", so this is the exit.', "Where is the exit?"),
        ("The sign reads “出口” (exit).", "What does the sign say?"),
        ("设 AB = 10 cm，sinθ = 0.6，所以 BC = 6 cm。使用 Shoelace 公式计算面积。", "请解答这道题"),
        ("基因型为Xg1-Xg2-Y，CuFeS2 与 O2 反应，答案是A。", "请解答这道题"),
        ("We use $\\sin\\theta$ and the formula $a^2 + b^2 = c^2$ to get 5.", "Find c."),
        ("The answer is 5.", ""),
        ("Pierre de Fermat and la Place studied this; the answer is 5.", "Who proved it?"),
        (
            'The menu says "una tortilla con queso y pan", so it costs 4 dollars.',
            "What does it cost?",
        ),
        ("A. 6\nB. 5\nY. 3\nE. 2\nSo the answer is B.", "How many items are there?"),
        (
            "Hay tres cubos rojos, y el total es 3. La respuesta es 3.",
            "¿Cuántos cubos hay en la imagen?",
        ),
        ("用 sin 函数计算，所以答案是 5。", "请解答这道题"),
        ("已知 f(x) = x^2，所以答案是 4。", "请解答这道题"),
    ],
)
def test_language_hard_negatives(text: str, question: str) -> None:
    assert fired("language_mixing", text, question) == []


# ---------------------------------------------------------------- circular

PELICANS = (
    "Let me count the pelicans. On the left rock there are 4 pelicans standing together. "
    "On the right side I can see 2 more, one of them only partly in the frame. "
    "So 4 + 2 = 6. Let me double-check by counting again from left to right: 1, 2, 3, 4 on "
    "the rock, then 5 and 6 on the right. Yes, that is 6 pelicans.\n\n**Final Answer**\n\n6"
)


def test_rechecking_the_same_total_without_evidence_is_circular() -> None:
    text = (
        "I count 7 circles, so the total is 7. Wait, let me check again. Counting once more, "
        "the total is 7. Hmm, let me double-check. The total is 7. Wait, maybe I miscounted. "
        "Looking again, the total is 7. Let me verify one more time: so the total is 7. "
        "But wait, I am not sure about the corner. Counting the circles again gives 7. "
        "Hold on, let me recount them. Still the total is 7.\n\n"
        "**Final Answer**\n\n7"
    )
    messages = fired("circular", text, "How many circles?")
    assert messages and "re-checked the same conclusion" in messages[0]
    assert "crop or zoom" in messages[0]


def test_two_idle_rechecks_are_free() -> None:
    text = (
        "I count 7 circles, so the total is 7. Wait, let me check again. Counting once more, "
        "the total is 7. Hmm, let me double-check. The total is 7.\n\n**Final Answer**\n\n7"
    )
    assert fired("circular", text, "How many circles?") == []


def test_a_doubt_that_brings_new_facts_is_not_idle() -> None:
    text = (
        "The triangle has sides 3 and 4, so the hypotenuse is 5. Wait, the figure also marks "
        "angle C as 30 degrees, which gives the height from the opposite vertex as 2. "
        "Hmm, the shaded region then covers half the rectangle built on the base. "
        "Let me verify with coordinates: putting A at the origin, B sits at (4, 0) and the area "
        "of the shaded part equals 6. Hold on, the legend says units are centimetres, "
        "so the area is 6 square centimetres.\n\n**Final Answer**\n\n6"
    )
    assert fired("circular", text, "Find the shaded area.") == []


def test_rejected_result_computed_again_is_circular() -> None:
    text = (
        "If I subtract 66 from 80, I get 14. Then 14 + 59 = 73, which is too high. "
        "Let me try something else: 14 + 59 = 73, which is still not 45. "
        "What about (59 + 80) - 66? That equals 139 - 66, which is 73. "
        "Trying again: 80 - 66 is 14, then adding 59 gives 73. "
        "Finally 125 - 80 = 45.\n<answer>(59 + 66) - 80</answer>"
    )
    messages = fired("circular", text, "Using 59, 80, 66 make 45.")
    assert messages and "already rejected" in messages[0]


def test_a_rejected_result_mentioned_once_is_not_circular() -> None:
    text = (
        "14 + 59 = 73, which is too high. 125 - 80 = 45, which works. "
        "Another order: 66 + 59 - 80 = 45 as well.\n<answer>(59 + 66) - 80</answer>"
    )
    assert fired("circular", text, "Using 59, 80, 66 make 45.") == []


def test_flip_flopping_is_circular() -> None:
    text = (
        "Since a is parallel to b, angle 1 is 105°. But the other angle is 40°, so angle 1 is "
        "140°. Hmm, that does not seem right; angle 1 is 105° by corresponding angles. Wait, "
        "angle 1 is 140° after all."
    )
    assert fired("circular", text)


def test_self_contradiction_is_circular() -> None:
    text = (
        "But wait! Maybe the bed is higher than the doorway, but slightly lower than the doorway."
    )
    assert fired("circular", text)


@pytest.mark.parametrize(
    "text",
    [
        PELICANS,
        "h'(2) = (-8)(1) + (-3)(7) = -29. Let me verify: -8 times 1 is -8 and -3 times 7 is -21, "
        "which gives -29 again. So h'(2) = -29.\n\n**Final Answer**\n\n-29",
        "The three semicircles have radii 1, 2 and 3, so the areas are pi/2, 2pi and 9pi/2, "
        "7pi in total. Alternatively, integrating each one with u = x - 1, v = x - 4 and "
        "w = x - 9 gives the same 7pi.\n\n**Final Answer**\n\n7pi",
    ],
)
def test_double_checking_once_or_twice_is_not_circular(text: str) -> None:
    assert fired("circular", text) == []


# ---------------------------------------------------------------- answers


def test_several_final_answers() -> None:
    text = "**Final Answer**\n\n6\n\nWait, one more.\n\n**Final Answer**\n\n7"
    assert any("different final answers" in m for m in fired("answer_mismatch", text))


def test_answer_contradicts_the_last_conclusion() -> None:
    text = "Adding them, 4 + 2 = 6. So the total is 6.\n\n**Final Answer**\n\n7"
    assert any("contradicts your own conclusion" in m for m in fired("answer_mismatch", text))


def test_answer_contradicts_the_enumerated_list() -> None:
    text = "Objects:\n1. red cube\n2. blue sphere\n3. green cylinder\n4. gray cube\n\n**Final Answer**\n\n5"
    messages = fired("answer_mismatch", text, "How many objects are there?")
    assert any("You listed 4 items but answered 5" in m for m in messages)


def test_answer_contradicts_the_calculator() -> None:
    tools = (ToolOutcome("calculate", True, "12*7 = 84", "84"),)
    messages = fired(
        "answer_mismatch",
        "The area is what the tool said.\n\n**Final Answer**\n\n74",
        tool_results=tools,
    )
    assert any("`calculate` gave 84" in m for m in messages)


def test_choice_not_among_the_options() -> None:
    question = "What is angle 1? A:75 B:105 C:140 D:145"
    assert fired("answer_mismatch", "**Final Answer**\n\nE", question)
    assert fired("answer_mismatch", "**Final Answer**\n\nB", question) == []
    choices = ("A) 12", "B) 13")
    assert fired("answer_mismatch", "**Final Answer**\n\n13", choices=choices) == []
    assert fired("answer_mismatch", "**Final Answer**\n\n14", choices=choices)


@pytest.mark.parametrize(
    "text",
    [
        PELICANS,
        "So the answer is 6.\n\n**Final Answer**\n\n\\[ \\boxed{6} \\]",
        "Objects:\n1. red cube\n2. blue sphere\n\n**Final Answer**\n\n2",
    ],
)
def test_answer_hard_negatives(text: str) -> None:
    assert fired("answer_mismatch", text, "How many objects?") == []


def test_prose_conclusion_counts_as_an_answer_but_a_cut_line_does_not() -> None:
    assert (
        fired("no_final_answer", "AC = 4(1.5) + 1 = 7.\n\nTherefore, the length of AC is 7.") == []
    )
    assert fired("no_final_answer", "Therefore, angle AOC = angle AOM + angle A")


def test_a_flipped_sign_between_two_definitions() -> None:
    text = "So the energy is E2 = E1 + W\n\nThe friction work is W = -f*s.\n\nSo E2 = E1 - W = 10"
    messages = fired("arithmetic", text)
    assert any("E2 = E1 + W and later E2 = E1 - W" in m for m in messages)


@pytest.mark.parametrize(
    "text",
    [
        "x = (-b + sqrt(d))/(2a) or x = (-b - sqrt(d))/(2a)",
        "v = a*t\n\nLater the speed is v = a*t + v0 with a start speed.",
        "F = m*a\n\nThen F = m*a again.",
        "x = 5\n\nNow, for the second part, x = 6.",
    ],
)
def test_sign_flip_hard_negatives(text: str) -> None:
    assert not any("sign of one term" in m for m in fired("arithmetic", text))


def test_a_value_corrected_once_is_not_circular() -> None:
    text = (
        "Angle 1 is 140° at first sight. That does not use the parallel lines, so let me redo it: "
        "corresponding angles give angle 1 = 105°, and the straight line gives angle 2 = 75°, "
        "which adds up to 180°.\n\n**Final Answer**\n\n105°"
    )
    assert fired("circular", text, "Find angle 1. A:75 B:105 C:140 D:145") == []
