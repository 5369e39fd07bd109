"""Read the runs a SQLite checkpoint file keeps (``--db``): ``qvq-agent runs list`` and
``qvq-agent runs show``."""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path
from typing import Any

from qvq_agent.records import Recorder, solve_record


class RunsDbError(ValueError):
    """A database that cannot be read, or a thread it does not hold."""


def _open(db: Path) -> Any:
    from langgraph.checkpoint.sqlite import SqliteSaver

    if not db.exists():
        raise RunsDbError(f"{db}: no such file")
    try:
        connection = sqlite3.connect(f"file:{db}?mode=ro", uri=True, check_same_thread=False)
        connection.execute("select 1 from checkpoints limit 1")
    except sqlite3.Error as exc:
        raise RunsDbError(f"{db}: not a qvq-agent runs database ({exc})") from None
    return SqliteSaver(connection)


def latest_states(db: Path, threads: list[str] | None = None) -> dict[str, dict[str, Any]]:
    """The latest state (channel values) of each thread, or of ``threads`` only, newest first."""
    saver = _open(db)
    latest: dict[str, dict[str, Any]] = {}
    try:
        if threads is None:
            rows = saver.conn.execute(
                "select thread_id from checkpoints group by thread_id "
                "order by max(checkpoint_id) desc"
            )
            threads = [str(row[0]) for row in rows]
        for thread in threads:
            item = saver.get_tuple({"configurable": {"thread_id": thread, "checkpoint_ns": ""}})
            if item is not None:
                latest[thread] = dict(item.checkpoint.get("channel_values", {}))
    except sqlite3.Error as exc:
        raise RunsDbError(f"{db}: cannot read it ({exc})") from None
    finally:
        saver.conn.close()
    return latest


def list_runs(db: Path) -> list[dict[str, Any]]:
    """One line per thread: its question, status, answer, steps and tokens."""
    rows = []
    for thread, values in latest_states(db).items():
        status = values.get("status") or "running"
        rows.append(
            {
                "thread": thread,
                "question": values.get("question", ""),
                "status": "interrupted" if status == "running" else status,
                "answer": values.get("answer"),
                "steps": values.get("steps", 0),
                "usage": dict(values.get("usage") or {}),
            }
        )
    return rows


def run_record(db: Path, thread: str, folder: Path | None = None) -> tuple[dict[str, Any], Path]:
    """The run record of ``thread`` from its latest checkpoint (its images written to
    ``folder``, a temporary one when not given); the record and that folder."""
    from qvq_agent.solver import thread_store

    states = latest_states(db, [thread])
    if thread not in states:
        known = ", ".join(latest_states(db)) or "none"
        raise RunsDbError(f"{db} holds no thread {thread!r} (threads: {known})")
    values = states[thread]
    folder = folder or Path(tempfile.mkdtemp(prefix="qvq-agent-run-"))
    store = thread_store(db, thread)
    record = solve_record(
        values,
        store,
        Recorder(),
        folder,
        graph="solve",
        model="(from the database)",
        profile="",
        error=None,
    )
    if values.get("status") in (None, "running"):
        record["status"] = "interrupted"
    record["thread"] = thread
    return record, folder
