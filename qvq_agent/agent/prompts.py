"""Every prompt text the agent sends, in one place.

Templates use ``str.format`` fields; they are filled in by :func:`render` helpers next to the
code that needs them, never assembled inside control flow.
"""

from __future__ import annotations

QVQ_SYSTEM = (
    "You are a helpful and harmless assistant. You are Qwen developed by Alibaba. "
    "You should think step-by-step."
)

GENERIC_SYSTEM = (
    "You are a careful visual reasoning assistant. Think step by step and look at the image "
    "again whenever you are unsure."
)

FRAME_DESCRIPTIONS = {
    "norm1000": "integers from 0 to 1000 relative to the image's width and height "
    "([0, 0, 1000, 1000] is the whole image)",
    "pixels": "pixels of the image as you see it (its size is given with each image)",
    "norm1": "fractions from 0 to 1 of the image's width and height "
    "([0, 0, 1, 1] is the whole image)",
}

TOOL_MANIFEST = """\

# Tools

You can look at the image again or compute exactly by calling a tool. To call one, write
<tool_call>
{{"name": <tool name>, "arguments": <arguments as a JSON object>}}
</tool_call>
and stop. The result comes back in the next message inside <tool_response></tool_response>,
with any new image attached. You may call several tools, one <tool_call> block each.

Images are named by id: the user's images are {image_ids}; every image a tool makes gets the
next id. Boxes are [x1, y1, x2, y2] and points are [x, y], in {frame}.

Available tools (JSON schema of the arguments):
{tools}

When you are done, end with a line "**Final Answer**" followed by the answer alone."""

QUESTION = "{question}"

TOOL_RESPONSE = "<tool_response>\n{body}\n</tool_response>"

TOOL_ERROR = "Error in `{name}`: {message}"

TOOL_REPEATED = (
    "You already have this result ({result}). Use it, or look somewhere else "
    "(another box, another tool)."
)

TOOL_PARSE_ERROR = (
    "Your tool call could not be read: {message}. Write exactly one JSON object "
    '{{"name": ..., "arguments": {{...}}}} between <tool_call> and </tool_call>.'
)

TOOL_UNKNOWN = "There is no tool named `{name}`. Available tools: {available}."

IMAGE_RESULT = "{what}. New image {image_id}: {width}x{height} pixels."

STEP_BUDGET_SPENT = (
    "You have no tool calls left. Answer now from what you have, ending with "
    '"**Final Answer**" and the answer.'
)

CRITIQUE_HEADER = "Your answer was not accepted yet. Please fix the following and answer again."

CRITIQUE_LINE = "- {message}"

CRITIQUE_FOOTER = 'End with "**Final Answer**" followed by the answer alone.'

CRITIQUE_NO_FINAL_ANSWER = (
    'You did not give a final answer. Finish your reasoning and end with "**Final Answer**" '
    "followed by the answer."
)

CRITIQUE_LOOP = (
    'You started repeating yourself ("{evidence}"). Stop re-stating it: take one new step '
    "(look at another part of the image with `crop` or `zoom`, or compute with `calculate`), "
    "then give the final answer."
)

CHOICES = "Choices:\n{choices}\nAnswer with the letter of the right choice."
