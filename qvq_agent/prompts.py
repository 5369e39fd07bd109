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

NATIVE_TOOLS_NOTE = """
You can look at the image again or compute exactly by calling the tools you are given; a tool's
new image comes back in the next user message. Images are named by id: the user's images are
{image_ids}; every image a tool makes gets the next id. Boxes are [x1, y1, x2, y2] and points
are [x, y], in {frame}.

When you are done, end with a line "**Final Answer**" followed by the answer alone."""

TOOL_IMAGES = "Images made by {name}:"

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

CRITIQUE_QUOTE = '  You wrote: "{evidence}"'

CRITIQUE_FOOTER = 'End with "**Final Answer**" followed by the answer alone.'


CHOICES = "Choices:\n{choices}\nAnswer with the letter of the right choice."


# ---- Findings: what each check tells the model (the verifier sends them as the critique). ----

FINDING_LOOP = (
    'You started repeating yourself from here on ("{unit}"), without new evidence. Stop '
    "re-stating it: take one new step (look at another part of the image with `crop` or "
    "`zoom`, or compute with `calculate`), then give the final answer."
)

FINDING_NO_ANSWER = (
    'You did not give a final answer. Finish your reasoning and end with "**Final Answer**" '
    "followed by the answer alone."
)

FINDING_CUT = (
    "Your reasoning was stopped because it was repeating, so it has no final answer. "
    'Give the final answer now, ending with "**Final Answer**" and the answer.'
)

FINDING_ARITHMETIC = (
    "{shown} is {correct}, not {wrong}: redo this step with `calculate` and carry the correct "
    "value forward."
)

FINDING_ALGEBRA = (
    "{left} is not equal to {right}: redo this simplification step (check signs and factors) "
    "with `calculate`."
)

FINDING_SIGN_FLIP = (
    "You wrote {first} and later {second}: the sign of one term flipped. Decide which is right "
    "and redo the steps that follow from it."
)

FINDING_LISTED_SUM = (
    "You listed counts {listed} = {total}, but added {added} = {stated}: add the counts you listed."
)

FINDING_LANGUAGE_SWITCH = (
    'You switched to {other} ("{quoted}"): answer in {want} only. Quote text read off the image '
    "in quotation marks."
)

FINDING_LANGUAGE_REPLY = (
    "The question is in {want} but you answered in another language: answer in {want} only."
)

FINDING_CIRCULAR = (
    "{reason}. Stop re-deriving it: get one piece of new evidence (crop or zoom the part of the "
    "image that decides it, or compute with `calculate`), then commit to one final answer."
)

CIRCULAR_REASONS = {
    "re-check": "You re-checked the same conclusion {n} times without new evidence",
    "repeat": "You redid the same computation again and again",
    "flip-flop": "Your conclusion keeps flipping back to an answer you had already left",
    "disagree": "You noticed your results disagree but kept going back and forth",
    "alternative": "You keep proposing alternatives without new evidence",
    "contradiction": "You contradict yourself about the same object",
    "dead-end": "You computed again a result you had already rejected",
}

FINDING_SEVERAL_ANSWERS = "You gave different final answers ({answers}): decide on one."

FINDING_ANSWER_VS_CONCLUSION = (
    "Your final answer {answer} contradicts your own conclusion just before it ({concluded}): "
    "check which one is right."
)

FINDING_ANSWER_VS_LIST = (
    "You listed {n} items but answered {answer}: recount the list, or mark the objects with "
    "`mark` and count the marks."
)

FINDING_ANSWER_VS_TOOL = "`calculate` gave {value} but you answered {answer}."

FINDING_LETTER_VS_VALUE = (
    "Your final answer {answer} is {chosen}, but your reasoning concluded {concluded}, which is "
    "option {other}: answer with the letter of the value you found."
)

FINDING_NOT_A_CHOICE = (
    "Your answer {answer} is not one of the choices ({letters}): answer with one letter."
)

GROUNDING_QUESTION = (
    'This is one region of the image. Someone claimed about this region: "{claim}"\n'
    'Looking only at this region, is the claim true? Answer "yes" or "no", then one short '
    "reason."
)

JUDGE_QUESTION = (
    "A checker read a model's reasoning and flagged this passage.\n\n"
    "Question the model was answering: {question}\n\n"
    "Passage (the flagged part between >>> and <<<):\n{excerpt}\n\n"
    "The checker says: {claim}\n\n"
    'Is the checker right about this passage? Answer "yes" or "no" first, then one short reason.'
)

JUDGE_OVERRULED = "[overruled by the judge: {reason}] "

FINDING_UNGROUNDED = (
    'Your claim "{claim}" does not hold when the region [{box}] is looked at alone ({reply}). '
    "Crop that region with `crop` and look again before you answer."
)

FINDING_NOT_FROM_TOOLS = (
    "Your final answer {answer} is not what `solve` or `calculate` gave ({results}): take the "
    "number from the tool result, or redo the computation with the tool."
)

FINDING_WRONG_UNIT = (
    "Your answer {answer} is not measured in what the question asks for ({unit}): convert it "
    "with `calculate` (units are allowed there)."
)

FINDING_SUBSTITUTION = (
    "Putting your answer {answer} back into {equation} gives {left} = {right}: it does not "
    "hold. Re-solve the equations with `solve`."
)

FINDING_CHOICE = (
    "Your answer {answer} matches {n} of the choices ({letters}): answer with exactly one letter."
)

PHYSICS_INSTRUCTIONS = """\
Work in three steps.
1. Read: list every given quantity you read from the figure and the text as JSON, inside
<givens>[{{"name": "m", "value": 2, "unit": "kg", "where": "label on the block"}}, ...]</givens>
Use short symbol names. If a label or number is hard to read, crop or zoom it first.
2. Solve: write the equations inside <equations>["F = m*a", ...]</equations> using those names,
and let the `solve` and `calculate` tools do all algebra and arithmetic.
3. Answer with the number from the tool result and its unit{choice_hint}."""

PHYSICS_CHOICE_HINT = ", then the letter of the matching choice"

COUNT_OVERVIEW = (
    "{question}\n\nLook at the whole image first. Say in one or two sentences what the objects "
    'to count look like and roughly where they are. Then end with "**Final Answer**" and the '
    "centre of every such object you can see as a JSON list [[x, y], ...] in {frame}."
)

COUNT_TILE = (
    "{question}\n\nThis is one part of a larger image. The objects to count: {target}\n"
    "Find every such object visible in this part, including ones cut by the edge. End with "
    '"**Final Answer**" and their centres as a JSON list [[x, y], ...] in {frame} of this '
    "part (an empty list [] if there are none)."
)

COUNT_VERIFY = (
    "{question}\n\nThe red numbered circles mark the objects counted so far in this part of the "
    'image. Check every mark, and look for objects that have no mark. End with "**Final '
    'Answer**" and the centres of all the objects to count in this part as a JSON list '
    "[[x, y], ...] in {frame} (an empty list [] if there are none)."
)

COUNT_RETRY = (
    'I could not read a list of points in your answer. End with "**Final Answer**" followed by '
    "a JSON list like [[120, 340], [560, 80]] and nothing else."
)

FINDING_UNCONFIRMED = (
    "{n} counted object(s) were not confirmed when the marks were checked (near {where}); they "
    "are kept in the count."
)

FINDING_CV_ESTIMATE = (
    "{n} is the OpenCV estimate (solid blobs that differ from the background); no model looked "
    "at the objects and nothing verified the count."
)

FINDING_OUT_OF_TIME = (
    "The run's wall-clock budget ({seconds} s) ran out while the model was still writing; the "
    "reply was stopped there."
)

FINDING_OFF_IMAGE = (
    "{n} point(s) the model gave for {image} were outside the image (or not numbers) and were "
    "not counted."
)

FINDING_NOT_CHECKED = (
    "The {check} check could not finish comparing the answer in time (the math was too large); "
    "it is not counted against the answer."
)

FINDING_WORDS_VS_NUMBER = (
    "Your final answer {answer} does not fit your reasoning: {reason}. Answer with what your "
    "reasoning found, or look at the image again."
)
