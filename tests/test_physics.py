"""The physics graph with a scripted model, on figures the tests draw."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageDraw
from typer.testing import CliRunner

from qvq_agent.agent.checks import TraceInput, get_check
from qvq_agent.agent.context import Context
from qvq_agent.cli import app
from qvq_agent.graphs.physics import build_graph, read_equations, read_givens
from qvq_agent.solver import SolveResult, asolve
from qvq_agent.testing import ReplayServer, ScriptedChatModel


def call(name: str, **arguments: Any) -> str:
    return "<tool_call>\n" + json.dumps({"name": name, "arguments": arguments}) + "\n</tool_call>"


def givens(*rows: tuple[str, float, str, str]) -> str:
    return (
        "<givens>"
        + json.dumps([{"name": n, "value": v, "unit": u, "where": w} for n, v, u, w in rows])
        + "</givens>"
    )


def draw(
    tmp_path: Path,
    name: str,
    labels: list[tuple[tuple[int, int], str]],
    shape: list[tuple[int, int]],
) -> Path:
    image = Image.new("RGB", (800, 600), "white")
    pen = ImageDraw.Draw(image)
    pen.line([*shape, shape[0]], fill="black", width=4)
    for (x, y), text in labels:
        pen.text((x, y), text, fill="black", font_size=32)
    path = tmp_path / f"{name}.png"
    image.save(path)
    return path


def run(
    figure: Path, question: str, script: list[str], choices: tuple[str, ...] = ()
) -> tuple[SolveResult, ScriptedChatModel]:
    model = ScriptedChatModel(script=script)
    result = asyncio.run(
        asolve(
            figure, question, context=Context(chat_model=model), graph="physics", choices=choices
        )
    )
    return result, model


def last_user_text(model: ScriptedChatModel, request: int) -> str:
    content = model.requests[request]["messages"][-1].content
    return (
        content
        if isinstance(content, str)
        else " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    )


def test_incline(tmp_path: Path) -> None:
    figure = draw(
        tmp_path,
        "incline",
        [((420, 250), "m = 2 kg"), ((160, 500), "30°")],
        [(100, 550), (700, 550), (700, 200)],
    )
    script = [
        givens(
            ("m", 2, "kg", "label on the block"),
            ("theta", 30, "deg", "angle at the base"),
            ("g", 9.8, "m/s^2", "standard"),
        )
        + "\nThe angle label is small; let me check it.\n"
        + call("zoom", image="img0", bbox=[150, 780, 350, 1000]),
        '<equations>["F = m*g*sin(theta)"]</equations>\n'
        + call("solve", equations=["F = 2*9.8*sin(30*deg)"], unknowns=["F"]),
        "The component along the incline is 9.8 N.\n\n**Final Answer**\n\n9.8 N",
    ]
    result, model = run(figure, "What is the component of gravity along the incline, in N?", script)
    assert result.status == "verified", result.findings
    assert result.answer == "9.8 N"
    assert [g["name"] for g in result.givens] == ["m", "theta", "g"]
    assert result.equations == ["F = m*g*sin(theta)"]
    assert [c["name"] for c in result.tool_calls] == ["zoom", "solve"]
    assert "F = 9.8" in last_user_text(model, 2)
    payload = result.to_json()
    assert {"answer", "choice", "givens", "equations", "status", "findings"} <= set(payload)


def test_right_triangle_wrong_answer_is_caught_and_revised(tmp_path: Path) -> None:
    figure = draw(
        tmp_path,
        "triangle",
        [((380, 560), "4"), ((60, 300), "3"), ((420, 260), "c")],
        [(100, 550), (700, 550), (100, 100)],
    )
    script = [
        givens(("a", 3, "", "left side"), ("b", 4, "", "bottom side"))
        + "\n"
        + '<equations>["c**2 = a**2 + b**2"]</equations>\n'
        + call("solve", equations=["c**2 = 3**2 + 4**2"], unknowns=["c"]),
        "So the hypotenuse is 6.\n\n**Final Answer**\n\n6",
        "I misread the tool result: c = 5.\n\n**Final Answer**\n\n5",
    ]
    result, model = run(figure, "How long is the hypotenuse c?", script)
    assert result.answer == "5" and result.status == "verified" and result.revisions == 1
    critique = last_user_text(model, 2)
    assert "not what `solve` or `calculate` gave" in critique
    assert "back into c**2 = a**2 + b**2" in critique


def test_circuit_with_choices(tmp_path: Path) -> None:
    figure = draw(
        tmp_path,
        "circuit",
        [((150, 80), "R1 = 4 Ω"), ((500, 80), "R2 = 6 Ω"), ((330, 520), "20 V")],
        [(100, 150), (700, 150), (700, 500), (100, 500)],
    )
    script = [
        givens(
            ("R1", 4, "ohm", "top left"), ("R2", 6, "ohm", "top right"), ("V", 20, "V", "battery")
        )
        + "\n"
        + '<equations>["I = V/(R1 + R2)"]</equations>\n'
        + call("calculate", expression="20 / (4 + 6)"),
        "The current is 2 A, choice B.\n\n**Final Answer**\n\nB",
    ]
    result, _ = run(
        figure, "What current flows, in A?", script, choices=("A) 1 A", "B) 2 A", "C) 5 A")
    )
    assert result.status == "verified", result.findings
    assert result.choice == "B"


def test_unit_mistakes_come_back_and_the_run_goes_on(tmp_path: Path) -> None:
    figure = draw(
        tmp_path, "incline2", [((420, 250), "m = 2 kg")], [(100, 550), (700, 550), (700, 200)]
    )
    script = [
        call("calculate", expression="2 m + 3 s"),
        call("calculate", expression="9.8 m/s**2 * 2 s"),
        "The speed is 19.6 m/s.\n\n**Final Answer**\n\n19.6 m/s",
    ]
    result, model = run(figure, "How fast does it move after 2 s, in m/s?", script)
    assert "units do not match" in last_user_text(model, 1)
    assert result.answer == "19.6 m/s" and result.status == "verified"
    assert [c["ok"] for c in result.tool_calls] == [False, True]


def test_reading_blocks() -> None:
    text = '<givens>[{"name": "m", "value": "2", "unit": "kg"}, {"name": "x", "value": "?"},]</givens> <equations>\nF = m*a\n</equations>'
    assert read_givens(text) == [{"name": "m", "value": 2.0, "unit": "kg", "where": ""}]
    assert read_equations(text) == ["F = m*a"]
    assert read_givens("no block") == [] and read_givens("<givens>[oops</givens>") == []


@pytest.mark.parametrize(
    ("check", "question", "answer", "fires"),
    [
        ("units", "How far, in m?", "5 s", True),
        ("units", "How far, in m?", "500 cm", False),
        ("units", "How far, in m?", "5", False),
        ("choice", "", "13", False),
        ("choice", "", "14", True),
    ],
)
def test_physics_checks_alone(check: str, question: str, answer: str, fires: bool) -> None:
    trace = TraceInput(
        f"**Final Answer**\n\n{answer}", question=question, choices=("A) 12", "B) 13")
    )
    assert bool(get_check(check)(trace)) is fires


def test_physics_graph_snapshot() -> None:
    drawn = build_graph().get_graph().draw_mermaid()
    assert (
        "reason --> record" in drawn
        and "verify -.-> report" in drawn
        and "report --> __end__" in drawn
    )


def test_cli_physics_json(tmp_path: Path) -> None:
    figure = draw(
        tmp_path, "tri", [((380, 560), "4"), ((60, 300), "3")], [(100, 550), (700, 550), (100, 100)]
    )
    script = [
        givens(("a", 3, "", "left"), ("b", 4, "", "bottom"))
        + '<equations>["c**2 = a**2 + b**2"]</equations>'
        + call("solve", equations=["c**2 = 3**2 + 4**2"], unknowns=["c"]),
        "**Final Answer**\n\nB",
    ]
    with ReplayServer(script) as server:
        result = CliRunner().invoke(
            app,
            [
                "solve",
                str(figure),
                "How long is c?",
                "--graph",
                "physics",
                "--base-url",
                server.base_url,
                "--choices",
                "A) 4",
                "--choices",
                "B) 5",
                "--json",
            ],
        )
    payload = json.loads(result.stdout)
    assert payload["choice"] == "B" and payload["status"] == "verified"
    assert payload["givens"][0]["name"] == "a" and payload["equations"] == ["c**2 = a**2 + b**2"]
