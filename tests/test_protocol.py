"""The text tool-call protocol, final-answer extraction, profiles and settings."""

from __future__ import annotations

import pytest

from qvq_agent.agent.protocol import (
    CallParseError,
    ToolCall,
    close_open_call,
    has_open_call,
    parse_tool_calls,
)
from qvq_agent.answers import extract_final_answer, find_final_answers
from qvq_agent.profiles import UnknownProfileError, get_profile, profile_for_model, resolve_profile
from qvq_agent.settings import Settings

CROP = ToolCall("crop", {"image": "img0", "bbox": [0, 0, 500, 1000]})


@pytest.mark.parametrize(
    "text",
    [
        '<tool_call>\n{"name": "crop", "arguments": {"image": "img0", "bbox": [0, 0, 500, 1000]}}\n</tool_call>',
        '<tool_call>   {"name":"crop","arguments":{"image":"img0","bbox":[0,0,500,1000]}}   </tool_call>',
        '<tool_call>\n```json\n{"name": "crop", "arguments": {"image": "img0", "bbox": [0, 0, 500, 1000]}}\n```\n</tool_call>',
        '<tool_call>\n{"name": "crop", "arguments": {"image": "img0", "bbox": [0, 0, 500, 1000],},}\n</tool_call>',
        'Let me crop.\n<tool_call>\n{"name": "crop", "arguments": {"image": "img0", "bbox": [0, 0, 500, 1000]}}\n',
        '<tool_call>{"name": "crop", "arguments": "{\\"image\\": \\"img0\\", \\"bbox\\": [0, 0, 500, 1000]}"}</tool_call>',
        '<tool_call>{"name": "crop", "parameters": {"image": "img0", "bbox": [0, 0, 500, 1000]}}</tool_call>',
    ],
)
def test_tolerant_parser(text: str) -> None:
    assert parse_tool_calls(text) == [CROP]


def test_several_calls_and_unreadable_ones() -> None:
    text = (
        '<tool_call>{"name": "calculate", "arguments": {"expression": "1+1"}}</tool_call> and '
        "<tool_call>{oops</tool_call><tool_call>[1, 2]</tool_call><tool_call>{}</tool_call>"
    )
    calls = parse_tool_calls(text)
    assert calls[0] == ToolCall("calculate", {"expression": "1+1"})
    assert [type(c) for c in calls[1:]] == [CallParseError] * 3
    assert "name" in calls[3].message  # type: ignore[union-attr]


def test_no_calls_in_plain_text() -> None:
    assert parse_tool_calls("The answer is 4. No tools needed.") == []


def test_close_tag_restored_after_the_stop_string() -> None:
    cut = 'x <tool_call>\n{"name": "crop", "arguments": {}}\n'
    assert has_open_call(cut)
    assert close_open_call(cut).endswith("}\n</tool_call>")
    assert close_open_call("no call") == "no call"


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("…\n\n**Final Answer**\n\n7", "7"),
        ("**Final Answer**\n\n\\[ \\boxed{\\frac{1}{2}} \\]", "\\frac{1}{2}"),
        ("**Final Answer**: 42.", "42"),
        ("So the result is \\boxed{6}.", "6"),
        ("<answer> B </answer>", "B"),
        ("**Final Answer**\n\n\\[ \\boxed{6} \\]\n\nDone.", "6"),
        ("no marker at all", None),
        ("**Final Answer**", None),
    ],
)
def test_final_answer_extraction(text: str, answer: str | None) -> None:
    assert extract_final_answer(text) == answer


def test_marker_followed_by_boxed_is_one_answer() -> None:
    assert len(find_final_answers("**Final Answer**\n\n\\[ \\boxed{6} \\]")) == 1


@pytest.mark.parametrize(
    ("model", "profile"),
    [
        ("Qwen/QVQ-72B-Preview", "qvq"),
        ("qvq-max-latest", "qvq-max"),
        ("Qwen/Qwen2.5-VL-7B-Instruct", "qwen2.5-vl"),
        ("Qwen/Qwen2-VL-7B-Instruct", "qwen2-vl"),
        ("gpt-4o", "openai"),
        ("something-else", "qvq"),
    ],
)
def test_profile_picked_from_the_model_name(model: str, profile: str) -> None:
    assert profile_for_model(model).name == profile


def test_profile_facts() -> None:
    qvq = get_profile("qvq")
    assert qvq.coord_frame == "norm1000" and "</tool_call>" in qvq.stop
    assert "**Final Answer**" in qvq.answer_markers and "You are Qwen" in qvq.system_prompt
    assert get_profile("qwen2.5-vl").coord_frame == "pixels"
    assert get_profile("openai").coord_frame == "norm1"
    assert resolve_profile("gpt-4o", "qvq").name == "qvq"
    with pytest.raises(UnknownProfileError, match="known profiles"):
        get_profile("llava")


def test_settings_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().base_url == "http://localhost:8000/v1"
    assert Settings().model == "Qwen/QVQ-72B-Preview"
    monkeypatch.setenv("QVQ_AGENT_BASE_URL", "http://env:1/v1")
    monkeypatch.setenv("QVQ_AGENT_API_KEY", "secret")
    settings = Settings()
    assert settings.base_url == "http://env:1/v1" and settings.api_key == "secret"
    flagged = settings.with_overrides(base_url="http://flag:2/v1", model=None)
    assert flagged.base_url == "http://flag:2/v1" and flagged.model == "Qwen/QVQ-72B-Preview"
    with pytest.raises(ValueError):
        settings.with_overrides(max_steps=0)
