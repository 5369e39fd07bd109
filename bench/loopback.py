"""A replay server in a child process, as a model server would be: shared by the benchmarks that
compare the agent with a raw ``openai`` loop (so the server's own CPU is not counted in theirs).

A benchmark file runs itself with ``--serve PORT_FILE BODIES_FILE [its own args]`` in the child;
there it calls :func:`serve` with its script.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from qvq_agent.testing import ReplayServer
from qvq_agent.testing.replay_server import ScriptItem


def serve(script: ScriptItem, port_file: Path, bodies_file: Path) -> None:
    """Serve ``script`` (repeated) until SIGTERM, then write the request bodies received."""
    with ReplayServer([script], repeat_last=True) as server:
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        port_file.write_text(server.base_url)
        stop.wait()
        bodies_file.write_text(json.dumps([r.body for r in server.requests]))


class ServerProcess:
    """Start ``bench_file --serve ...`` in a child process and wait for its URL."""

    def __init__(self, bench_file: str, work: Path, name: str, *args: str) -> None:
        self.port_file = work / f"{name}.url"
        self.bodies_file = work / f"{name}.bodies.json"
        command = [sys.executable, bench_file, "--serve", str(self.port_file)]
        self.process = subprocess.Popen([*command, str(self.bodies_file), *args])
        deadline = time.monotonic() + 60
        while not self.port_file.exists() and time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server process exited with {self.process.returncode}")
            time.sleep(0.05)
        self.base_url = self.port_file.read_text()

    def stop(self) -> list[dict[str, Any]]:
        """Stop the server; the request bodies it received, in order."""
        self.process.terminate()
        self.process.wait(timeout=60)
        return list(json.loads(self.bodies_file.read_text()))
