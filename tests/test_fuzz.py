"""Property-based fuzzing (hypothesis) of everything that reads untrusted input: model replies,
tool arguments, stream chunks and trace text. Bounded in examples; derandomised so CI sees the
same inputs every run. No property asserts a time: a hang shows up as a test that never ends,
which CI's own limit catches.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import string
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qvq_agent.agent.checks import DEFAULT_CHECKS, ToolOutcome, TraceInput, run_checks
from qvq_agent.agent.context import Context
from qvq_agent.agent.llm import aclose_clients
from qvq_agent.agent.protocol import CallParseError, ToolCall, parse_tool_calls
from qvq_agent.answers import clean_answer, equivalent, find_final_answers, parse_answer
from qvq_agent.counting import parse_points
from qvq_agent.graphs.physics import read_equations, read_givens
from qvq_agent.images import ImageStore
from qvq_agent.profiles import PROFILES
from qvq_agent.settings import RunSettings
from qvq_agent.solver import asolve
from qvq_agent.testing import ReplayServer, Reply
from qvq_agent.tools import ToolEnv, default_registry, safe_math
from qvq_agent.tools.notation import read_number
from qvq_agent.untrusted import UntrustedJSONError, load_json

FUZZ = settings(
    max_examples=120,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
FEW = settings(FUZZ, max_examples=25)

# Text models write: prose, numbers, operators, LaTeX, markers, tool-call tags, CJK, brackets.
PIECES = st.sampled_from(
    [
        "The answer is ",
        "**Final Answer**",
        "\\boxed{",
        "}",
        "<answer>",
        "</answer>",
        "<tool_call>",
        "</tool_call>",
        '{"name": "crop", "arguments": {',
        "}}",
        " = ",
        " ≈ ",
        "12 × 7",
        "3.5",
        "-2",
        "1/3",
        "\\frac{1}{2}",
        "\\sqrt{",
        "x^2",
        "π",
        "°",
        "%",
        "wait, ",
        "let me check again. ",
        "so ",
        "。",
        "答案",
        "因此",
        "\n",
        "\n\n",
        "(",
        ")",
        "[",
        "]",
        "[[",
        "]]",
        ",",
        "NaN",
        "1e308",
        "9" * 60,
        "A) ",
        "(B)",
        "sqrt(2*g*h)",
        "m/s",
        "kg",
        "<givens>",
        "</givens>",
        "<equations>",
        "</equations>",
        "E = a + b",
        "E = a - b",
    ]
)
MODEL_TEXT = st.lists(st.one_of(PIECES, st.text(max_size=12)), max_size=40).map("".join)
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=20,
)


@FUZZ
@given(MODEL_TEXT)
def test_model_replies_are_read_without_crashing(text: str) -> None:
    for call in parse_tool_calls(text):
        assert isinstance(call, ToolCall | CallParseError)
    for answer in find_final_answers(text):
        assert 0 <= answer.start <= answer.end <= len(text)
    clean_answer(text)
    parse_answer(text)
    read_number(text)
    parse_points(text)
    read_givens(text)
    read_equations(text)


@FUZZ
@given(MODEL_TEXT, st.text(max_size=30))
def test_every_check_reads_any_trace(text: str, question: str) -> None:
    trace = TraceInput(
        text,
        question=question,
        tool_results=(ToolOutcome("calculate", True, "2 = 2", "2"),),
        choices=("A) 1", "B) 2"),
    )
    for finding in run_checks(DEFAULT_CHECKS, trace):
        assert 0 <= finding["start"] <= finding["end"] <= len(text)
        assert finding["severity"] in ("error", "warning")
        assert finding["message"]


@FUZZ
@given(st.text(alphabet=string.printable + "×÷√π²°−", max_size=80))
def test_model_math_is_parsed_or_refused(expression: str) -> None:
    try:
        tree = safe_math.parse(expression)
    except safe_math.MathError:
        return
    with contextlib.suppress(safe_math.MathError):
        safe_math.evaluate_float(tree, {name: 1.5 for name in safe_math.names_in(tree)})


@FUZZ
@given(st.text(max_size=300))
def test_untrusted_json_is_loaded_or_refused(text: str) -> None:
    with contextlib.suppress(UntrustedJSONError):
        load_json(text)


@FUZZ
@given(st.sampled_from(sorted(default_registry().names)), JSON_VALUES)
def test_tool_arguments_are_refused_with_a_message_never_raised(name: str, args: Any) -> None:
    store = ImageStore()
    from PIL import Image

    store.add_image(Image.new("RGB", (64, 48), "white"))
    tool = default_registry().get(name)
    assert tool is not None
    arguments = args if isinstance(args, dict) else {"image": "img0", "bbox": args}
    result = tool.run(ToolEnv(store, PROFILES["qvq"]), arguments)
    assert result.text


@FEW
@given(st.sampled_from(["3", "x+1", "\\frac{1}{2}", "A", "5 m", "(1,2)"]), MODEL_TEXT)
def test_equivalent_never_raises(gold: str, answer: str) -> None:
    verdict = equivalent(gold, answer, choices=("1", "2"), time_limit_s=1.0)
    assert verdict.reason


SSE_EVENTS = st.lists(
    st.one_of(
        JSON_VALUES.map(lambda v: f"data: {json.dumps(v)}\n\n".encode()),
        st.binary(max_size=40),
        st.sampled_from(
            [
                b"data: [DONE]\n\n",
                b": keepalive\n\n",
                b'data: {"choices": [{"index": 0, "delta": {"content": "hi"}}]}\n\n',
                b'data: {"error": {"message": "boom"}}\n\n',
                b"event: error\ndata: {}\n\n",
            ]
        ),
    ),
    max_size=8,
)


@FEW
@given(SSE_EVENTS, st.sampled_from(["httpx", "aiohttp"]))
def test_any_stream_ends_the_run_cleanly(
    tmp_path_factory: Any, events: list[bytes], backend: Any
) -> None:
    """Whatever the server streams, through either transport of the OpenAI client."""
    folder: Path = tmp_path_factory.mktemp("fuzz")
    image = folder / "i.png"
    from PIL import Image

    Image.new("RGB", (64, 48), "white").save(image)
    with ReplayServer([Reply(raw=events)], repeat_last=True) as server:
        settings_ = RunSettings(
            base_url=server.base_url, retries=0, max_steps=2, stream_idle_timeout_s=5
        )

        async def run() -> Any:
            try:
                context = Context(settings=settings_, http_backend=backend)
                return await asolve(image, "q", context=context)
            finally:
                await aclose_clients()

        result = asyncio.run(run())
    assert result.status in ("verified", "unverified", "error")
    if result.status == "error":
        assert result.error
