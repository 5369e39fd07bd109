"""Nothing a model, a server or a file sends may hang or crash a run: one test per item of the
red-team report, each with the input it quoted.

A hang is caught by :func:`finishes` (a generous bound that only a hang exceeds, not a timing
assertion); everything else checks that the run ends cleanly with a message.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from qvq_agent.agent.checks import TraceInput, run_checks
from qvq_agent.agent.context import Context
from qvq_agent.answers import equivalent
from qvq_agent.cli import app
from qvq_agent.counting import parse_points
from qvq_agent.graphs.physics import read_givens
from qvq_agent.images import ImageStore, load_image
from qvq_agent.profiles import get_profile
from qvq_agent.settings import RunSettings
from qvq_agent.solver import asolve, count
from qvq_agent.testing import ReplayServer, Reply, ScriptedChatModel
from qvq_agent.tools import ToolEnv, default_registry
from qvq_agent.verification import TraceRecord, verify_trace

T = TypeVar("T")
runner = CliRunner()
HANG_S = 60.0
"""Only a hang takes this long; every input here is answered in a few seconds at most."""
CROP = '<tool_call>\n{"name": "crop", "arguments": {"image": "img0", "bbox": [0, 0, 500, 1000]}}\n</tool_call>'
DEEP = "[" * 50_000 + "]" * 50_000


def finishes(fn: Callable[[], T], within: float = HANG_S) -> T:
    """Run ``fn`` in a thread; fail the test if it is still running after ``within`` s."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # re-raised in the test's thread
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(within)
    if thread.is_alive():
        pytest.fail(f"hung: still running after {within:g} s")
    if "error" in box:
        raise box["error"]
    return box["value"]  # type: ignore[no-any-return]


def verify_text(text: str, question: str = "") -> list[str]:
    verdict = finishes(lambda: verify_trace(TraceRecord("t", question, text)))
    return [f["check"] for f in verdict.findings]


# ---- 1. Model-written math is bounded ----------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "So ((3/2)^10000)^10000 = 5.\n\n**Final Answer**\n\n5",
        "exp(exp(exp(exp(100)))) = 5\n\n**Final Answer**\n\n5",
        "E = (a+b+c+d)^150\nE = (a+b+c+d)^149\n\n**Final Answer**\n\nE",
        "9^9^9^9 = 3 and 10**400 - 7 = 1\n\n**Final Answer**\n\n1",
        "\\boxed{" * 3000,
        "<answer>" * 3000,
        "**Final Answer** x " * 5000,
    ],
)
def test_hostile_math_in_a_reply_is_bounded(text: str) -> None:
    verify_text(text)


def test_hostile_math_in_the_physics_graph_is_bounded(scene_path: Path) -> None:
    reply = (
        '<givens>[{"name": "x0", "value": 2, "unit": "m"}]</givens>\n'
        '<equations>["y = integrate(exp(x**2)*sin(x)**17*log(x), x)", "z = x0 + y"]</equations>\n'
        "**Final Answer**\n\nexpand((a+b+c+d)**150)"
    )
    model = ScriptedChatModel(script=[reply, reply, reply])
    context = Context(chat_model=model, settings=RunSettings(max_revisions=1))
    result = finishes(
        lambda: asyncio.run(asolve(scene_path, "q", context=context, graph="physics"))
    )
    assert result.status in ("verified", "unverified")


def test_equivalent_on_hostile_math_is_bounded() -> None:
    assert not finishes(lambda: equivalent("expand((a+b+c+d)**150)", "1"))
    verdict = finishes(lambda: equivalent("(a+b+c+d+e)^{150}", "(a+b+c+d+e)^{149}+1"))
    assert not verdict  # decided or given up, never hung


# ---- 2. Scans are linear ----------------------------------------------------------------------


def test_a_96kb_reply_without_a_sentence_break_streams_through_the_guard(
    scene_path: Path,
) -> None:
    words = " ".join(f"w{i}x{i * 7 % 1000}" for i in range(12_000))[:96_000]
    model = ScriptedChatModel(script=[words + "\n\n**Final Answer**\n\n3"])
    context = Context(chat_model=model, settings=RunSettings(max_revisions=0))
    result = finishes(lambda: asyncio.run(asolve(scene_path, "q", context=context)))
    assert result.answer == "3"


def test_verify_a_200kb_single_line_and_a_5mb_file(tmp_path: Path) -> None:
    line = tmp_path / "line.txt"
    line.write_text("12 × 7 = 84 and " * 12_500)
    result = finishes(lambda: runner.invoke(app, ["verify", str(line), "--json"]))
    assert result.exit_code == 0 and json.loads(result.stdout)["verdict"] in ("pass", "revise")
    big = tmp_path / "big.txt"
    big.write_text("The sum is 5. " * 380_000)
    result = finishes(lambda: runner.invoke(app, ["verify", str(big), "--json"]))
    assert result.exit_code == 0
    assert "only the first 500,000 of 5,320,000 characters were checked" in result.output


# ---- 3. The wall budget and an idle stream ------------------------------------------------------


def test_a_slow_stream_is_stopped_by_the_wall_budget(scene_path: Path) -> None:
    slow = Reply("one token per half second " * 200, delay_s=0.5)
    with ReplayServer([slow], repeat_last=True) as server:
        settings = RunSettings(base_url=server.base_url, retries=0, max_wall_s=3)
        result = finishes(lambda: asyncio.run(asolve(scene_path, "q", settings=settings)))
        server.wait_finished()
        cancelled = [r.cancelled for r in server.requests]
    assert result.status == "unverified"
    assert "budget" in [f["check"] for f in result.notes]
    assert cancelled and all(cancelled)


def test_keepalive_comments_only_end_in_an_idle_timeout(scene_path: Path) -> None:
    keepalive = Reply(raw=[b": keepalive\n\n"] * 200, delay_s=0.2)
    with ReplayServer([keepalive], repeat_last=True) as server:
        settings = RunSettings(base_url=server.base_url, retries=0, stream_idle_timeout_s=2)
        result = finishes(lambda: asyncio.run(asolve(scene_path, "q", settings=settings)))
    assert result.status == "error" and "sent nothing for 2 s" in (result.error or "")


# ---- 4. Unguarded edges -------------------------------------------------------------------------


def test_deeply_nested_json_on_the_command_line(scene_path: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["tool", "crop", DEEP, "--image", str(scene_path)])
    assert result.exit_code == 2 and "nested more than 64 levels" in result.output
    result = runner.invoke(app, ["solve", str(scene_path), "q", "--extra-body", DEEP])
    assert result.exit_code == 2 and "--extra-body is not valid JSON" in result.output
    traces = tmp_path / "t.jsonl"
    traces.write_text(DEEP + "\n" + json.dumps({"id": "ok", "trace": "**Final Answer** 1"}) + "\n")
    result = runner.invoke(app, ["verify", str(traces), "--json"])
    assert result.exit_code == 1 and "t.jsonl:1: not valid JSON" in result.output
    assert json.loads(result.stdout.strip().splitlines()[-1])["id"] == "ok"


def test_deeply_nested_json_in_model_text() -> None:
    assert read_givens(f"<givens>{DEEP}</givens>") == []
    assert parse_points(DEEP) is None
    from qvq_agent.agent.protocol import CallParseError, parse_tool_calls

    (call,) = parse_tool_calls(f'<tool_call>{{"name": "crop", "arguments": {DEEP}}}</tool_call>')
    assert isinstance(call, CallParseError)


def _cli_solve(server: ReplayServer, scene: Path, *extra: str) -> Any:
    return runner.invoke(app, ["solve", str(scene), "q", "--base-url", server.base_url, *extra])


def test_model_text_is_printed_escaped_never_read_as_markup(scene_path: Path) -> None:
    script = [
        '<tool_call>\n{"name": "[/]", "arguments": {"bbox": "[/bold]"}}\n</tool_call>',
        "The marks [NaN, 1] look odd [bold].\n\n**Final Answer**\n\n3 [/]",
    ]
    with ReplayServer(script) as server:
        result = _cli_solve(server, scene_path, "--max-revisions", "0")
    assert result.exit_code == 0, result.output
    assert "[NaN, 1]" in result.output and "3 [/]" in result.output
    assert "Traceback" not in result.output


def _sse(*events: str) -> list[bytes]:
    return [f"data: {event}\n\n".encode() for event in events]


CHUNK = '{"id": "x", "object": "chat.completion.chunk", "created": 1, "model": "m", "choices": %s}'
BAD_STREAMS = {
    "error event": _sse('{"error": {"message": "engine crashed", "code": 500}}'),
    "choices not a list": _sse(CHUNK % '"nope"', "[DONE]"),
    "usage not a number": _sse(
        CHUNK % '[{"index": 0, "delta": {"content": "hi"}}]',
        '{"id": "x", "object": "chat.completion.chunk", "created": 1, "model": "m", '
        '"choices": [], "usage": {"prompt_tokens": "lots", "completion_tokens": 1}}',
        "[DONE]",
    ),
    "html body": [b"<html><body>502 Bad Gateway</body></html>"],
    "done only": _sse("[DONE]"),
    "invalid json": _sse("{not json", "[DONE]"),
    "not utf-8": [b'data: {"choices": [\xff\xfe]}\n\n'],
    "deep json chunk": _sse(DEEP),
}


@pytest.mark.parametrize("name", sorted(BAD_STREAMS))
def test_a_bad_stream_is_a_clean_error_with_the_steps_before_kept(
    name: str, scene_path: Path
) -> None:
    bad = Reply(
        raw=BAD_STREAMS[name], content_type="text/html" if "html" in name else "text/event-stream"
    )
    with ReplayServer([CROP, bad]) as server:
        result = finishes(lambda: _cli_solve(server, scene_path, "--json"))
    assert result.exit_code == 1, result.output
    payload = json.loads(result.stdout)
    assert payload["status"] == "error" and payload["error"]
    assert payload["steps"] == 1 and [c["name"] for c in payload["tool_calls"]] == ["crop"]
    assert "Traceback" not in result.output


def test_out_folder_problems(scene_path: Path, tmp_path: Path) -> None:
    crop = '{"image": "img0", "bbox": [0, 0, 500, 500]}'
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    for out in (a_file, a_file / "sub"):
        result = runner.invoke(
            app, ["tool", "crop", crop, "--image", str(scene_path), "--out", str(out)]
        )
        assert result.exit_code == 2 and "cannot write there" in result.output, result.output
    missing = tmp_path / "new" / "deeper"
    result = runner.invoke(
        app, ["tool", "crop", crop, "--image", str(scene_path), "--out", str(missing)]
    )
    assert result.exit_code == 0 and (missing / "img1.png").exists()


@pytest.mark.parametrize(
    "url", ["http://[::1", "http://127.0.0.1:99999/v1", "http://127.0.0.1:8000/v1\n", "ftp://x/v1"]
)
def test_a_bad_base_url_is_one_line(url: str, scene_path: Path) -> None:
    result = runner.invoke(app, ["solve", str(scene_path), "q", "--base-url", url])
    assert result.exit_code == 2 and "bad setting: base_url" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("body", [b"<html>nginx</html>", b'{"data": 7}', b"[1, 2]"])
def test_doctor_against_a_server_whose_models_page_is_not_a_model_list(body: bytes) -> None:
    with ReplayServer([], models_body=body) as server:
        result = runner.invoke(app, ["doctor", "--base-url", server.base_url])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "model list" in result.output


def test_a_crop_thinner_than_1_to_200_is_refused_as_a_tool_error(tmp_path: Path) -> None:
    path = tmp_path / "wide.png"
    Image.new("RGB", (4000, 400), "white").save(path)
    store = ImageStore()
    store.add_file(path)
    env = ToolEnv(store, get_profile("qwen2.5-vl"))
    crop = default_registry().get("crop")
    assert crop is not None
    seen_w, _ = store.resized_size("img0", env.profile)
    result = crop.run(env, {"image": "img0", "bbox": [0, 0, seen_w, 1]})
    assert not result.ok and "thinner than 1:200" in result.text
    assert len(store) == 1  # nothing was added that a later request would choke on


def test_count_points_that_are_not_numbers_or_off_the_image(tmp_path: Path) -> None:
    path = tmp_path / "dots.png"
    Image.new("RGB", (800, 600), "white").save(path)
    huge = "1" * 400
    reply = (
        "Three dots.\n\n**Final Answer**\n\n"
        f"[[100, 200], [{huge}, 5], [NaN, 3], [Infinity, 4], [1500, 20], [-3, 5], [true, 1], [500, 500]]"
    )
    with ReplayServer([reply], repeat_last=True) as server:
        result = finishes(
            lambda: count(
                path, "How many?", settings=RunSettings(base_url=server.base_url, retries=0)
            )
        )
    assert result.answer == 2
    assert "off_image" in [f["check"] for f in result.findings]
    json.dumps(result.to_json(), allow_nan=False)  # no NaN reaches the JSON


# ---- 5. Wrong results ---------------------------------------------------------------------------


def _tool(name: str, **arguments: Any) -> Any:
    found = default_registry().get(name)
    assert found is not None
    return found.run(ToolEnv(ImageStore(), get_profile("qvq")), arguments)


def test_huge_numbers_are_not_equivalent_to_small_ones() -> None:
    assert not equivalent("10^400", "7")


def test_solve_finds_real_roots_and_identities() -> None:
    result = _tool("solve", equations=["x**5 - x + 1 = 0"], unknowns=["x"])
    assert result.ok and "-1.1673" in result.text, result.text
    identity = _tool("solve", equations=["0 = 0"], unknowns=["x"])
    assert identity.ok and "every value" in identity.text


def test_one_letter_names_are_variables_unless_they_follow_a_number() -> None:
    result = _tool("calculate", expression="sqrt(2*g*h)")
    assert result.ok and "gram" not in result.text and "hour" not in result.text, result.text
    units = _tool("calculate", expression="9.8 m/s**2 * 2 s")
    assert units.ok and "19.6*meter/second" in units.text


@pytest.mark.parametrize("expression", ["max(2 m, 3 s)", "sin(3 m)", "2 m // 3 s"])
def test_functions_of_mismatched_units_are_refused(expression: str) -> None:
    result = _tool("calculate", expression=expression)
    assert not result.ok and "units do not match" in result.text, result.text


def test_a_16_bit_greyscale_png_keeps_its_greys(tmp_path: Path) -> None:
    values = np.linspace(0, 65535, 256 * 64, dtype=np.uint16).reshape(64, 256)
    path = tmp_path / "grey16.png"
    Image.fromarray(values).save(path)
    image = np.asarray(load_image(path))
    white = float((image == 255).all(axis=2).mean())
    assert white < 0.01, f"{white:.1%} of the pixels turned white"
    assert 100 < float(image.mean()) < 155  # a ramp from black to white


def test_a_check_that_gives_up_reports_a_note_not_a_critique(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from qvq_agent.agent.checks import ToolOutcome, physics
    from qvq_agent.answers import Verdict

    monkeypatch.setattr(
        physics, "equivalent", lambda *a, **k: Verdict(False, "gave up: too slow", True)
    )
    trace = TraceInput(
        "**Final Answer**\n\n12",
        tool_results=(ToolOutcome("calculate", True, "", "12"),),
    )
    (finding,) = run_checks(("tool_agreement",), trace)
    assert finding["severity"] == "warning" and "could not finish" in finding["message"]
