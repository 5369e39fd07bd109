"""The optional judge: a second opinion before a circular / answer_mismatch critique is sent,
asked of a real OpenAI-compatible server on 127.0.0.1."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from qvq_agent import Settings, solve
from qvq_agent.cli import app
from qvq_agent.testing import ReplayServer, Reply

RECHECKS = (
    "I count 7 circles, so the total is 7. Wait, let me check again. Counting once more, "
    "the total is 7. Hmm, let me double-check. The total is 7. Wait, maybe I miscounted. "
    "Looking again, the total is 7. Let me verify one more time: so the total is 7. "
    "But wait, I am not sure about the corner. Counting the circles again gives 7. "
    "Hold on, let me recount them. Still the total is 7.\n\n**Final Answer**\n\n7"
)
NO = "No. The model counts the same circles, but nothing in the passage is wrong."
YES = "Yes: it re-checks the same count five times without looking at the image again."


def settings(server: ReplayServer, **extra: Any) -> Settings:
    return Settings(base_url=server.base_url, retries=0, judge=True, **extra)


def prompt_of(body: dict[str, Any]) -> str:
    return str(body["messages"][-1]["content"])


def test_the_judge_overrules_a_finding_into_a_note(scene_path: Path) -> None:
    with ReplayServer([RECHECKS, NO]) as server:
        result = solve(scene_path, "How many circles?", settings=settings(server))
        bodies = [r.body for r in server.requests]
    assert result.status == "verified" and result.revisions == 0 and result.findings == []
    (note,) = result.notes
    assert note["check"] == "circular" and note["confidence"] == 0.0
    assert note["message"].startswith("[overruled by the judge: No. The model counts")
    judge = bodies[1]
    assert len(bodies) == 2 and judge["max_tokens"] == 512
    asked = prompt_of(judge)
    assert "How many circles?" in asked and ">>>" in asked and "<<<" in asked
    assert "re-checked the same conclusion" in asked
    assert result.usage["requests"] == 2


def test_a_judge_that_agrees_lets_the_critique_go(scene_path: Path) -> None:
    with ReplayServer([RECHECKS, YES, "**Final Answer**\n\n7"]) as server:
        result = solve(scene_path, "How many circles?", settings=settings(server))
        bodies = [r.body for r in server.requests]
    assert result.revisions == 1 and result.status == "verified"
    assert "re-checked the same conclusion" in str(bodies[2]["messages"][-1]["content"])


def test_a_judge_on_another_endpoint_with_another_model(scene_path: Path) -> None:
    with ReplayServer([RECHECKS]) as served, ReplayServer([NO], model="judge-7b") as judge:
        result = solve(
            scene_path,
            "How many circles?",
            settings=settings(served, judge_base_url=judge.base_url, judge_model="judge-7b"),
        )
        served_bodies = [r.body for r in served.requests]
        judge_bodies = [r.body for r in judge.requests]
    assert len(served_bodies) == 1 and len(judge_bodies) == 1
    assert judge_bodies[0]["model"] == "judge-7b"
    assert result.status == "verified" and result.notes[0]["confidence"] == 0.0


def test_an_unreachable_judge_keeps_the_finding_and_the_run_goes_on(scene_path: Path) -> None:
    broken = Reply("judge is down", status=503)
    with ReplayServer([RECHECKS, broken, "**Final Answer**\n\n7"]) as server:
        result = solve(scene_path, "How many circles?", settings=settings(server))
    assert result.revisions == 1 and result.status == "verified" and result.error is None


def test_the_judge_is_only_asked_about_circular_and_answer_mismatch(scene_path: Path) -> None:
    with ReplayServer(["I think it is seven.", "**Final Answer**\n\n7"]) as server:
        result = solve(scene_path, "How many circles?", settings=settings(server))
        bodies = [r.body for r in server.requests]
    assert result.revisions == 1 and len(bodies) == 2  # no_final_answer went back unjudged
    assert all("Is the checker right" not in prompt_of(b) for b in bodies)


def test_verify_with_a_judge(tmp_path: Path) -> None:
    trace = tmp_path / "trace.txt"
    trace.write_text(RECHECKS)
    runner = CliRunner()
    with ReplayServer([NO]) as server:
        args = ["verify", str(trace), "--question", "How many circles?", "--json"]
        plain = runner.invoke(app, args)
        judged = runner.invoke(app, [*args, "--judge", "--base-url", server.base_url])
        asked = len(server.requests)
    assert json.loads(plain.stdout)["verdict"] == "revise"
    payload = json.loads(judged.stdout)
    assert payload["verdict"] == "pass" and payload["findings"] == []
    assert payload["notes"][0]["check"] == "circular" and asked == 1


def test_verify_threshold_from_the_command_line(tmp_path: Path) -> None:
    trace = tmp_path / "trace.txt"
    trace.write_text(RECHECKS)
    args = ["verify", str(trace), "--json", "--revise-confidence", "0.9"]
    payload = json.loads(CliRunner().invoke(app, args).stdout)
    assert payload["verdict"] == "pass" and payload["notes"][0]["confidence"] < 0.9


def test_a_reasoning_judge_is_read_at_its_final_answer(scene_path: Path) -> None:
    thinking = (
        "Yes, the passage says 7 many times; is that circular? Each check counts again the "
        "same way, but the count never changed and nothing contradicts it.\n\n"
        "**Final Answer**\n\nNo, this is an honest double-check."
    )
    with ReplayServer([RECHECKS, thinking]) as server:
        result = solve(scene_path, "How many circles?", settings=settings(server))
    assert result.status == "verified" and result.revisions == 0
    assert "honest double-check" in result.notes[0]["message"]
