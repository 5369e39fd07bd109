"""Run a graph (or the raw model) over benchmark items: concurrent, resumable, crash-safe.

A run lives in a folder: ``config.json`` (what was run: model, profile, graph, settings,
project version, dataset name, revision and content hash) and ``results.jsonl`` (one line per
finished item, appended and flushed as it finishes). Running the same command again skips the
finished items, so ``kill -9`` loses at most the items in flight; ``retry_errors`` re-runs the
items that ended in error. A different configuration in an existing folder is refused.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import logging
import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypedDict

from qvq_agent import prompts
from qvq_agent.agent.context import Context
from qvq_agent.agent.intake import load_user_images
from qvq_agent.agent.llm import ModelServerError, aclose_clients, image_part, render, request
from qvq_agent.agent.state import Usage
from qvq_agent.answers import extract_final_answer
from qvq_agent.eval.datasets import Dataset, Item
from qvq_agent.eval.scoring import answer_from_reply, score
from qvq_agent.settings import RunSettings

log = logging.getLogger(__name__)

GraphName = Literal["raw", "solve", "physics", "count"]
GRAPHS: tuple[GraphName, ...] = ("raw", "solve", "physics", "count")
BACKOFF_AFTER = 3
"""Consecutive server errors after which new items wait before they start."""
MAX_BACKOFF_S = 30.0
HTTP_BACKEND: Literal["httpx", "aiohttp"] = (
    "aiohttp" if importlib.util.find_spec("aiohttp") is not None else "httpx"
)
"""The runner's transport: aiohttp when installed (the ``eval`` extra), half the client CPU per
request with many in flight; the runner closes its clients when the run ends."""


class EvalError(ValueError):
    """A run that cannot start (its folder holds another configuration, a bad option)."""


class ResultRow(TypedDict):
    """One finished item, as a line of ``results.jsonl``."""

    id: str
    category: str
    gold: str
    answer: str | None
    first_answer: str | None
    """The answer before any critique of the verifier (the first one it checked)."""
    correct: bool
    first_correct: bool
    status: str
    steps: int
    revisions: int
    tool_calls: list[str]
    findings: list[str]
    loop_cuts: int
    usage: Usage
    wall_s: float
    error: str | None


@dataclass(frozen=True)
class RunConfig:
    """What a run is: refused in a folder that holds a different one."""

    dataset: str
    source: str
    revision: str
    content_hash: str
    graph: str
    model: str
    profile: str
    base_url: str
    settings: dict[str, Any]
    version: str

    @classmethod
    def make(
        cls, dataset: Dataset, graph: GraphName, settings: RunSettings, profile: str
    ) -> RunConfig:
        """The config of running ``graph`` on ``dataset`` with ``settings``."""
        from importlib.metadata import PackageNotFoundError, version

        try:
            project = version("qvq-agent")
        except PackageNotFoundError:
            project = "unknown"
        kept = settings.model_dump(exclude={"api_key"})
        return cls(
            dataset=dataset.name,
            source=dataset.source,
            revision=dataset.revision,
            content_hash=dataset.content_hash,
            graph=graph,
            model=settings.model,
            profile=profile,
            base_url=settings.base_url,
            settings=kept,
            version=project,
        )

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


class RunFolder:
    """``config.json`` and ``results.jsonl`` of one run."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.config_path = path / "config.json"
        self.results_path = path / "results.jsonl"

    def prepare(self, config: RunConfig) -> None:
        """Create the folder, or check that it holds the same run.

        Raises:
            EvalError: the folder holds another configuration (names the fields that differ),
                or cannot be written.
        """
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise EvalError(
                f"--out {self.path}: cannot create it ({exc.strerror or exc})"
            ) from None
        if self.config_path.exists():
            try:
                saved = json.loads(self.config_path.read_text("utf-8"))
            except (OSError, json.JSONDecodeError) as exc:
                raise EvalError(f"{self.config_path}: cannot read it ({exc})") from None
            wanted = config.to_json()
            differ = sorted(k for k in set(saved) | set(wanted) if saved.get(k) != wanted.get(k))
            if differ:
                raise EvalError(
                    f"{self.path} holds another run ({', '.join(differ)} differ); use another "
                    "--out, or the same options to continue it"
                )
            return
        tmp = self.config_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(config.to_json(), indent=2, ensure_ascii=False), "utf-8")
        os.replace(tmp, self.config_path)

    def rows(self) -> list[ResultRow]:
        """Every complete line of ``results.jsonl`` (a line cut by a crash is skipped)."""
        if not self.results_path.exists():
            return []
        rows = []
        for line in self.results_path.read_text("utf-8").splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(row, dict) and "id" in row:
                rows.append(row)
        return rows  # type: ignore[return-value]

    def drop_errors(self) -> None:
        """Rewrite ``results.jsonl`` without the rows that ended in error (to re-run them)."""
        kept = [row for row in self.rows() if row["status"] != "error"]
        tmp = self.results_path.with_suffix(".tmp")
        tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in kept), "utf-8")
        os.replace(tmp, self.results_path)

    def open_for_append(self) -> Any:
        """The results file, opened to append; a line cut by a crash is removed first."""
        if self.results_path.exists():
            with self.results_path.open("rb+") as handle:
                data = handle.read()
                if data and not data.endswith(b"\n"):
                    handle.truncate(data.rfind(b"\n") + 1)
        return self.results_path.open("a", encoding="utf-8")


@dataclass
class Progress:
    """How the run is going (for the progress bar)."""

    total: int
    done: int = 0
    correct: int = 0
    errors: int = 0
    skipped: int = 0
    """Items finished in an earlier run of the same command."""


@dataclass
class Runner:
    """Runs one graph over items with bounded concurrency."""

    graph: GraphName
    settings: RunSettings
    folder: RunFolder
    concurrency: int = 4
    on_progress: Callable[[Progress], None] | None = None
    chat_model: Any = None
    """A chat model to use for every item (tests); ChatOpenAI on the settings otherwise."""
    _consecutive_errors: int = field(default=0, init=False)

    async def run(self, items: Sequence[Item], *, retry_errors: bool = False) -> Progress:
        """Run every item not finished yet; returns the final progress.

        Cancelling the task (Ctrl-C) stops it: the requests in flight are closed, every result
        written so far stays.
        """
        if self.concurrency < 1:
            raise EvalError("--concurrency must be at least 1")
        if retry_errors:
            self.folder.drop_errors()
        finished = {row["id"] for row in self.folder.rows()}
        todo = [item for item in items if item.id not in finished]
        progress = Progress(total=len(items), skipped=len(items) - len(todo))
        progress.done = progress.skipped
        for row in self.folder.rows():
            progress.correct += bool(row.get("correct"))
            progress.errors += row.get("status") == "error"
        self._report(progress)
        queue: asyncio.Queue[Item] = asyncio.Queue()
        for item in todo:
            queue.put_nowait(item)
        try:
            with self.folder.open_for_append() as out:
                workers = [
                    asyncio.create_task(self._worker(queue, self.chat_model, out, progress))
                    for _ in range(min(self.concurrency, max(1, len(todo))))
                ]
                try:
                    await asyncio.gather(*workers)
                finally:
                    for worker in workers:
                        worker.cancel()
                    await asyncio.gather(*workers, return_exceptions=True)
        finally:
            await aclose_clients()
        return progress

    def _report(self, progress: Progress) -> None:
        if self.on_progress is not None:
            self.on_progress(progress)

    async def _worker(
        self, queue: asyncio.Queue[Item], model: Any, out: Any, progress: Progress
    ) -> None:
        while True:
            try:
                item = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            if self._consecutive_errors >= BACKOFF_AFTER:
                await asyncio.sleep(
                    min(MAX_BACKOFF_S, 2.0 ** (self._consecutive_errors - BACKOFF_AFTER))
                )
            row = await self.run_item(item, model)
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
            out.flush()  # whole lines in order; the disk sync waits in a thread, not the loop
            await asyncio.to_thread(os.fsync, out.fileno())
            progress.done += 1
            progress.correct += row["correct"]
            progress.errors += row["status"] == "error"
            self._consecutive_errors = self._consecutive_errors + 1 if row["error"] else 0
            self._report(progress)

    def record_path(self, item: Item) -> Path:
        """Where an item's run record goes: ``records/<id>/run.json`` in the run folder (its
        images beside it); ``qvq-agent show`` reads it."""
        safe = re.sub(r"[^A-Za-z0-9._-]+", "_", item.id).strip("._") or "item"
        return self.folder.path / "records" / safe / "run.json"

    async def run_item(self, item: Item, model: Any) -> ResultRow:
        """One item through the graph; every failure becomes an ``error`` row, never a crash."""
        started = time.monotonic()
        # Nobody watches the tokens of a batch run: each reply event carries its whole text.
        ctx = Context(
            settings=self.settings,
            chat_model=model,
            stream_tokens=False,
            http_backend=HTTP_BACKEND,
        )
        try:
            if self.graph == "raw":
                row = await self._raw(item, ctx)
            elif self.graph == "count":
                row = await self._count(item, ctx)
            else:
                row = await self._solve(item, ctx)
        except ModelServerError as exc:
            row = _error_row(item, str(exc))
        except Exception as exc:  # a bug on one item must not end the run; logged in full
            log.exception("item %s failed", item.id)
            row = _error_row(item, f"{type(exc).__name__}: {exc}")
        row["wall_s"] = round(time.monotonic() - started, 3)
        return row

    async def _raw(self, item: Item, ctx: Context) -> ResultRow:
        """The baseline: one request with the images and the question; no tools, no verifier."""
        user_ids = await load_user_images(ctx, list(item.images))
        question = prompts.QUESTION.format(question=item.question)
        if item.choices:
            question += "\n" + prompts.CHOICES.format(choices="\n".join(item.choices))
        from langchain_core.messages import HumanMessage

        message = HumanMessage(
            content=[*(image_part(i) for i in user_ids), {"type": "text", "text": question}]
        )
        reply = await request(
            ctx, await render(ctx, [message], user_ids, system="plain"), guard=False
        )
        extracted = extract_final_answer(reply.text, ctx.profile.answer_markers)
        answer = answer_from_reply(item, reply.text, extracted)
        correct = score(item, answer)
        return _row(
            item,
            answer=answer,
            first_answer=answer,
            correct=correct,
            first_correct=correct,
            status="unverified",
            steps=1,
            usage=reply.usage,
        )

    async def _solve(self, item: Item, ctx: Context) -> ResultRow:
        from qvq_agent.solver import asolve

        events: list[dict[str, Any]] = []
        result = await asolve(
            item.images,
            item.question,
            context=ctx,
            choices=item.choices,
            on_event=events.append,
            graph="physics" if self.graph == "physics" else "solve",
            record=self.record_path(item),
        )
        verdicts = [e for e in events if e.get("event") == "verdict"]
        first = verdicts[0].get("answer") if verdicts else result.answer
        if result.status == "error" and not verdicts:
            return _error_row(item, result.error or "error", usage=result.usage)
        return _row(
            item,
            answer=result.answer,
            first_answer=first,
            correct=score(item, result.answer),
            first_correct=score(item, first),
            status=result.status,
            steps=result.steps,
            revisions=result.revisions,
            tool_calls=[c["name"] for c in result.tool_calls],
            findings=[f["check"] for f in result.findings],
            loop_cuts=sum(1 for e in events if e.get("reason") == "loop"),
            usage=result.usage,
            error=result.error,
        )

    async def _count(self, item: Item, ctx: Context) -> ResultRow:
        from qvq_agent.solver import acount

        events: list[dict[str, Any]] = []
        result = await acount(
            item.images[0],
            item.question,
            context=ctx,
            on_event=events.append,
            record=self.record_path(item),
        )
        answer = None if result.answer is None else str(result.answer)
        merged = [e.get("answer") for e in events if e.get("verdict") == "merged"]
        first = merged[0] if merged else answer
        if result.status == "error":
            return _error_row(item, result.error or "error", usage=result.usage)
        return _row(
            item,
            answer=answer,
            first_answer=first,
            correct=score(item, answer),
            first_correct=score(item, first),
            status=result.status,
            steps=result.requests,
            findings=[f["check"] for f in result.findings],
            usage=result.usage,
        )


def _row(
    item: Item,
    *,
    answer: str | None,
    first_answer: str | None,
    correct: bool,
    first_correct: bool,
    status: str,
    steps: int = 0,
    revisions: int = 0,
    tool_calls: list[str] | None = None,
    findings: list[str] | None = None,
    loop_cuts: int = 0,
    usage: Usage | None = None,
    error: str | None = None,
) -> ResultRow:
    return ResultRow(
        id=item.id,
        category=item.category,
        gold=item.answer,
        answer=answer,
        first_answer=first_answer,
        correct=correct,
        first_correct=first_correct,
        status=status,
        steps=steps,
        revisions=revisions,
        tool_calls=tool_calls or [],
        findings=findings or [],
        loop_cuts=loop_cuts,
        usage=usage or Usage(prompt_tokens=0, completion_tokens=0, requests=0),
        wall_s=0.0,
        error=error,
    )


def _error_row(item: Item, message: str, usage: Usage | None = None) -> ResultRow:
    return _row(
        item,
        answer=None,
        first_answer=None,
        correct=False,
        first_correct=False,
        status="error",
        usage=usage,
        error=message,
    )
