"""The graphs of ``langgraph.json`` under the LangGraph API server (``langgraph dev``), driven by
the ``langgraph-sdk`` client against the replay server: the same answer as ``qvq-agent solve``."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from langgraph_sdk import get_client
from typer.testing import CliRunner

from qvq_agent.cli import app
from qvq_agent.testing import ReplayServer

ROOT = Path(__file__).resolve().parents[1]
CROP = '<tool_call>\n{"name": "crop", "arguments": {"image": "img0", "bbox": [0, 0, 500, 1000]}}\n</tool_call>'
FINAL = "4 on the left and 3 on the right: 4 + 3 = 7.\n\n**Final Answer**\n\n7"

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_dev_server(port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "LANGGRAPH_CLI_NO_ANALYTICS": "1",
        "LANGSMITH_TRACING": "false",
        "LANGCHAIN_TRACING_V2": "false",
    }
    venv_bin = Path(sys.executable).parent
    process = subprocess.Popen(
        [
            str(venv_bin / "langgraph"),
            "dev",
            "--no-browser",
            "--no-reload",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--config",
            str(ROOT / "langgraph.json"),
        ],
        cwd=ROOT,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError("langgraph dev exited:\n" + log.read_text()[-3000:])
        try:
            if httpx.get(f"http://127.0.0.1:{port}/ok", timeout=2).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    os.killpg(process.pid, signal.SIGKILL)
    raise AssertionError("langgraph dev did not start:\n" + log.read_text()[-3000:])


def test_the_solve_graph_under_langgraph_dev(scene_path: Path, tmp_path: Path) -> None:
    port = free_port()
    server = start_dev_server(port, tmp_path / "langgraph-dev.log")
    try:
        with ReplayServer([CROP, FINAL]) as model:

            async def run() -> Any:
                client = get_client(url=f"http://127.0.0.1:{port}")
                assistants = await client.assistants.search(graph_id="solve")
                assert assistants, "the solve graph is not registered"
                return await client.runs.wait(
                    None,
                    "solve",
                    input={"question": "How many circles?", "images": [str(scene_path)]},
                    context={"settings": {"base_url": model.base_url, "retries": 0}},
                )

            state = asyncio.run(asyncio.wait_for(run(), 120))
            served = len(model.requests)
        with ReplayServer([CROP, FINAL]) as model:
            cli = CliRunner().invoke(
                app,
                [
                    "solve",
                    str(scene_path),
                    "How many circles?",
                    "--json",
                    "--base-url",
                    model.base_url,
                ],
            )
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    assert isinstance(state, dict) and state["answer"] == "7" and state["status"] == "verified"
    assert served == 2 and [c["name"] for c in state["tool_calls"]] == ["crop"]
    assert json.loads(cli.stdout)["answer"] == state["answer"]
