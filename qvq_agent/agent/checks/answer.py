"""The ``no_final_answer`` check: the reply must end with a marked final answer."""

from __future__ import annotations

from qvq_agent.agent.checks.base import Finding, TraceInput, make_finding, register_check
from qvq_agent.answers import find_final_answers

NO_ANSWER_MESSAGE = (
    'You did not give a final answer. Finish your reasoning and end with "**Final Answer**" '
    "followed by the answer alone."
)
CUT_MESSAGE = (
    "Your reasoning was stopped because it was repeating, so it has no final answer. "
    'Give the final answer now, ending with "**Final Answer**" and the answer.'
)


@register_check("no_final_answer")
def check_no_final_answer(trace: TraceInput) -> list[Finding]:
    """No final answer marked in the trace."""
    if find_final_answers(trace.text, trace.answer_markers):
        return []
    start = max(0, len(trace.text) - 200)
    message = CUT_MESSAGE if trace.cut_by_guard else NO_ANSWER_MESSAGE
    return [make_finding("no_final_answer", message, trace.text, start, len(trace.text))]
