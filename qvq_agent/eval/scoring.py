"""Scoring an answer against a benchmark item, each dataset's convention in one place.

Multiple choice: the answer names the gold option by letter, by the option's text or value
(:func:`qvq_agent.answers.equivalent` with the choices). Numbers: by value under the item's
precision policy. Counts: whole numbers (number words allowed). Free form: ``equivalent``.
When a reply has no marked final answer, a multiple-choice item still takes a lone option
letter or ``(B)`` at the end of the reply.
"""

from __future__ import annotations

import re

from qvq_agent.answers import equivalent, option_letter
from qvq_agent.eval.datasets import Item

_TRAILING_LETTER = re.compile(r"(?:^|[\s(*])\(?([A-H])\)?[\s.*)]*$")


def score(item: Item, answer: str | None) -> bool:
    """Is ``answer`` right for ``item``?"""
    if answer is None or not answer.strip():
        return False
    if item.kind == "choice":
        letter = option_letter(answer, item.choices)
        if letter is not None:
            return letter == item.answer.strip().upper()
        return bool(equivalent(answer, item.answer, choices=item.choices, precision=item.precision))
    verdict = equivalent(answer, item.answer, precision=item.precision)
    return bool(verdict)


def answer_from_reply(item: Item, reply: str, extracted: str | None) -> str | None:
    """The answer to score: the marked final answer, or for multiple choice a trailing option
    letter (``... so the answer is (B).``)."""
    if extracted is not None:
        return extracted
    if item.kind == "choice":
        tail = reply.strip()[-200:]
        match = _TRAILING_LETTER.search(tail)
        if match and option_letter(match.group(1), item.choices):
            return match.group(1)
    return None
