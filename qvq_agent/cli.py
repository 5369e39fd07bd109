"""The ``qvq-agent`` command line: a thin typer + rich layer over the library.

Errors a user can cause (a missing image, an unreachable server, a bad flag) print one line and
exit non-zero, never a traceback. Only typer and rich are imported to parse arguments; each
command imports the library parts it needs, so ``--help`` starts fast. Text written by the model
or read from a file is printed escaped (it is never read as rich markup).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

if TYPE_CHECKING:
    from qvq_agent.agent.checks import Finding
    from qvq_agent.results import CountResult, SolveResult
    from qvq_agent.settings import RunSettings

app = typer.Typer(
    name="qvq-agent",
    help="Solve visual questions with QVQ (served by vLLM): tools to look again, a verifier "
    "that catches loops and slips.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

# ---- The server and budget options, declared once and shared by every command that runs a model.
BaseUrl = Annotated[
    str | None, typer.Option(help="OpenAI-compatible endpoint [env QVQ_AGENT_BASE_URL].")
]
Model = Annotated[str | None, typer.Option(help="Model name on the server [env QVQ_AGENT_MODEL].")]
ApiKey = Annotated[str | None, typer.Option(help="API key of the server [env QVQ_AGENT_API_KEY].")]
Profile = Annotated[
    str | None,
    typer.Option(
        help="qvq, qvq-max, qwen3-vl, qwen2-vl, qwen2.5-vl, openai [env QVQ_AGENT_PROFILE]."
    ),
]
MaxSteps = Annotated[int | None, typer.Option(min=1, help="Model requests per run.")]
MaxRevisions = Annotated[int | None, typer.Option(min=0, help="Verifier critiques per run.")]
ExtraBody = Annotated[str | None, typer.Option(help="JSON merged into every request body.")]
ReviseConfidence = Annotated[
    float | None,
    typer.Option(
        min=0.0,
        max=1.0,
        help="Findings at or above this confidence send the model back; the rest are notes "
        "[env QVQ_AGENT_REVISE_CONFIDENCE, default 0.65].",
    ),
]
Judge = Annotated[
    bool | None,
    typer.Option(
        "--judge/--no-judge",
        help="Ask a model (one short request) to confirm circular and answer_mismatch findings "
        "before they send the model back [env QVQ_AGENT_JUDGE].",
    ),
]
ToolProtocolOption = Annotated[
    str | None,
    typer.Option(
        help="text (<tool_call> blocks) or native (the server's tool calling: vLLM with "
        "--enable-auto-tool-choice --tool-call-parser hermes) [env QVQ_AGENT_TOOL_PROTOCOL]."
    ),
]
JudgeUrl = Annotated[
    str | None, typer.Option(help="Endpoint of the judge (default: the served model's).")
]
JudgeModel = Annotated[str | None, typer.Option(help="Model of the judge (default: --model).")]
RecordPath = Annotated[
    Path | None,
    typer.Option(help="Write the run record here (JSON; its images beside it, in images/)."),
]
TracePath = Annotated[
    Path | None, typer.Option(help="Write the trace page here (one self-contained HTML file).")
]
AsJson = Annotated[bool, typer.Option("--json", help="Print one JSON object, nothing live.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="Print only the answer.")]


def fail(message: str, code: int = 2) -> NoReturn:
    """Print ``error: message`` on stderr and exit."""
    err.print(f"[bold red]error:[/] {escape(message)}")
    raise typer.Exit(code)


def run_settings(extra_body: str | None = None, **flags: Any) -> RunSettings:
    """Settings from the environment with the given flags on top (``None`` = not given)."""
    from pydantic import ValidationError

    from qvq_agent.settings import Settings

    body = _json_arg(extra_body, "--extra-body") or None
    try:
        return Settings().with_overrides(**flags, extra_body=body)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        fail(f"bad setting: {problems}")


def _json_arg(text: str | None, what: str) -> dict[str, Any]:
    if not text:
        return {}
    from qvq_agent.untrusted import UntrustedJSONError, load_json

    try:
        value = load_json(text)
    except UntrustedJSONError as exc:
        fail(f"{what} is not valid JSON: {exc}")
    if not isinstance(value, dict):
        fail(f"{what} must be a JSON object")
    return value


class _LivePrinter:
    """Prints the reasoning as it streams, tool calls and verdicts as they happen."""

    def __call__(self, event: dict[str, Any]) -> None:
        kind = event.get("event")
        if kind == "token":
            out.out(event["text"], end="")
        elif kind == "step":
            out.print(f"\n[dim]── step {event['step']} ──[/]")
        elif kind == "tool":
            mark = "[green]ok[/]" if event["ok"] else "[red]refused[/]"
            out.print(
                f"\n[cyan]tool {escape(str(event['name']))}[/] {mark}: {escape(event['text'])}"
            )
        elif kind == "cancelled":
            out.print("\n[yellow]… stopped: the reply started looping[/]")
        elif kind == "verdict":
            found = ", ".join(event["findings"]) or "no findings"
            if event.get("notes"):
                found += "; notes: " + ", ".join(event["notes"])
            out.print(f"\n[magenta]verifier: {event['verdict']}[/] ({escape(found)})")


def _print_summary(result: SolveResult) -> None:
    colour = {"verified": "green", "unverified": "yellow", "error": "red"}[result.status]
    out.print()
    answer = escape(result.answer) if result.answer is not None else "(none)"
    out.print(f"[bold]Answer:[/] {answer}")
    usage = result.usage
    out.print(
        f"[{colour}]{result.status}[/] · {result.steps} steps · {result.revisions} revisions · "
        f"{len(result.tool_calls)} tool calls · {usage['prompt_tokens']} prompt + "
        f"{usage['completion_tokens']} completion tokens"
    )
    for finding in result.findings:
        out.print(f"  [yellow]{finding['check']}[/]: {escape(finding['message'])}")
    _print_notes(result.notes)


def _print_notes(notes: list[Finding]) -> None:
    for note in notes:
        out.print(
            f"  [dim]note · {note['check']} (confidence {note['confidence']:.2f}): "
            f"{escape(note['message'])}[/]"
        )


def _finish(result: SolveResult | CountResult, as_json: bool) -> None:
    """Exit 1 (after the JSON, which is always printed) when the run ended in an error."""
    if result.status == "error":
        if not as_json:
            fail(str(result.error), code=1)
        raise typer.Exit(1)


@app.command("solve")
def solve_command(
    image: Annotated[Path, typer.Argument(help="The image (img0).")],
    question: Annotated[str, typer.Argument(help="The question about the image.")],
    images: Annotated[
        list[Path] | None, typer.Option("--image", help="More images (img1, ...).")
    ] = None,
    base_url: BaseUrl = None,
    model: Model = None,
    api_key: ApiKey = None,
    profile: Profile = None,
    max_steps: MaxSteps = None,
    max_revisions: MaxRevisions = None,
    choices: Annotated[
        list[str] | None, typer.Option("--choices", help="Multiple-choice options.")
    ] = None,
    extra_body: ExtraBody = None,
    revise_confidence: ReviseConfidence = None,
    judge: Judge = None,
    judge_url: JudgeUrl = None,
    judge_model: JudgeModel = None,
    tool_protocol: ToolProtocolOption = None,
    record: RecordPath = None,
    trace: TracePath = None,
    db: Annotated[
        Path | None,
        typer.Option(
            help="Keep every step in this SQLite file (images beside it); the same command "
            "with the same --thread continues a run that was killed."
        ),
    ] = None,
    thread: Annotated[
        str | None, typer.Option(help="The run's thread in --db (a new one when not given).")
    ] = None,
    graph: Annotated[
        str,
        typer.Option(help="solve (general), physics (givens, equations, answer checks) or count."),
    ] = "solve",
    as_json: AsJson = False,
    quiet: Quiet = False,
) -> None:
    """Answer a question about an image, looking again with tools and checking the reasoning."""
    if graph not in ("solve", "physics", "count"):
        fail(f"unknown graph {graph!r}; graphs: solve, physics, count")
    if graph == "count":
        given = {
            "--image": images,
            "--choices": choices,
            "--max-steps": max_steps,
            "--max-revisions": max_revisions,
            "--db": db,
            "--thread": thread,
        }
        refused = [flag for flag, value in given.items() if value]
        if refused:
            fail(
                f"{', '.join(refused)} do(es) not apply to --graph count (one image; requests "
                "follow the tiles); use `qvq-agent count` for --tiles and --method"
            )
        _count(
            image,
            question,
            None,
            "vlm",
            as_json,
            quiet,
            base_url=base_url,
            model=model,
            api_key=api_key,
            profile=profile,
            extra_body=extra_body,
            record=record,
            trace=trace,
        )
        return
    if thread is not None and db is None:
        fail("--thread needs --db (the SQLite file that keeps the run's steps)")
    settings = run_settings(
        extra_body,
        base_url=base_url,
        model=model,
        api_key=api_key,
        profile=profile,
        max_steps=max_steps,
        max_revisions=max_revisions,
        revise_confidence=revise_confidence,
        judge=judge,
        judge_base_url=judge_url,
        judge_model=judge_model,
        tool_protocol=tool_protocol,
    )
    from qvq_agent.images import ImageLoadError
    from qvq_agent.profiles import UnknownProfileError
    from qvq_agent.solver import solve

    try:
        result = solve(
            [image, *(images or [])],
            question,
            settings=settings,
            choices=choices or (),
            on_event=None if (as_json or quiet) else _LivePrinter(),
            graph="physics" if graph == "physics" else "solve",
            record=record,
            trace=trace,
            db=db,
            thread_id=thread,
        )
    except (ImageLoadError, UnknownProfileError, ValueError) as exc:
        fail(str(exc))
    if as_json:
        out.out(json.dumps(result.to_json(), ensure_ascii=False))
    elif quiet:
        if result.answer is not None:
            out.out(result.answer)
    elif result.status != "error" or result.steps:
        _print_summary(result)
    _finish(result, as_json)


@app.command("tool")
def tool_command(
    name: Annotated[
        str,
        typer.Argument(
            help="Tool name: crop, zoom, rotate, enhance, grid, mark, calculate, solve."
        ),
    ],
    args_json: Annotated[
        str,
        typer.Argument(
            help='Arguments as JSON, e.g. \'{"image": "img0", "bbox": [0, 0, 500, 1000]}\'.'
        ),
    ],
    images: Annotated[
        list[Path] | None, typer.Option("--image", help="Images, in order img0, img1, ...")
    ] = None,
    out_dir: Annotated[
        Path, typer.Option("--out", help="Folder for the images the tool makes.")
    ] = Path("."),
    profile: Annotated[
        str, typer.Option(help="Profile whose coordinate frame the boxes use.")
    ] = "qvq",
    as_json: Annotated[
        bool, typer.Option("--json", help='Print {"ok", "text", "images"}.')
    ] = False,
) -> None:
    """Run one tool by hand, exactly as the model would call it."""
    from qvq_agent.images import ImageLoadError
    from qvq_agent.profiles import UnknownProfileError
    from qvq_agent.tools import run_tool

    arguments = _json_arg(args_json, "ARGS_JSON")
    try:
        run = run_tool(name, arguments, images=images or (), profile=profile, out_dir=out_dir)
    except (ImageLoadError, UnknownProfileError) as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"--out {out_dir}: cannot write there ({exc.strerror or exc})")
    if as_json:
        out.out(json.dumps(run.to_json(), ensure_ascii=False))
    else:
        style = "green" if run.ok else "red"
        out.print(f"[{style}]{'ok' if run.ok else 'refused'}[/]: {escape(run.text)}")
        for path in run.images:
            out.print(f"  wrote {escape(path)}")
    if not run.ok:
        raise typer.Exit(1)


@app.command("count")
def count_command(
    image: Annotated[Path, typer.Argument(help="The image.")],
    question: Annotated[str, typer.Argument(help='What to count, e.g. "How many pelicans?"')],
    tiles: Annotated[str, typer.Option(help="auto, or RxC to force the tiling.")] = "auto",
    method: Annotated[
        str,
        typer.Option(help="vlm (the model, tiles + verification) or cv (OpenCV, simple scenes)."),
    ] = "vlm",
    base_url: BaseUrl = None,
    model: Model = None,
    api_key: ApiKey = None,
    profile: Profile = None,
    extra_body: ExtraBody = None,
    record: RecordPath = None,
    trace: TracePath = None,
    as_json: AsJson = False,
    quiet: Quiet = False,
) -> None:
    """Count objects: the whole image, then overlapping tiles in parallel, then every count checked."""
    from qvq_agent.counting import parse_tiling

    try:
        tiling = parse_tiling(tiles)
    except ValueError as exc:
        fail(f"--tiles: {exc}")
    if method not in ("vlm", "cv"):
        fail(f"--method must be vlm or cv, not {method!r}")
    _count(
        image,
        question,
        tiling,
        method,
        as_json,
        quiet,
        base_url=base_url,
        model=model,
        api_key=api_key,
        profile=profile,
        extra_body=extra_body,
        record=record,
        trace=trace,
    )


def _count(
    image: Path,
    question: str,
    tiling: tuple[int, int] | None,
    method: str,
    as_json: bool,
    quiet: bool,
    *,
    extra_body: str | None,
    record: Path | None = None,
    trace: Path | None = None,
    **server: str | None,
) -> None:
    settings = run_settings(extra_body, **server)
    from qvq_agent.images import ImageLoadError
    from qvq_agent.profiles import UnknownProfileError
    from qvq_agent.solver import count

    try:
        result = count(
            image,
            question,
            settings=settings,
            tiles=tiling,
            method="cv" if method == "cv" else "vlm",
            record=record,
            trace=trace,
        )
    except (ImageLoadError, UnknownProfileError, ValueError) as exc:
        fail(str(exc))
    if as_json:
        out.out(json.dumps(result.to_json(), ensure_ascii=False))
    elif quiet:
        if result.answer is not None:
            out.out(str(result.answer))
    else:
        out.print(
            f"[bold]Count:[/] {result.answer} · {result.status} · {result.tiles} tiles · "
            f"{result.requests} requests"
        )
        for finding in result.findings:
            out.print(f"  [yellow]{finding['check']}[/]: {escape(finding['message'])}")
    _finish(result, as_json)


@app.command("verify")
def verify_command(
    file: Annotated[
        Path, typer.Argument(help="A text file (one trace) or .jsonl of {id, question, trace}.")
    ],
    question: Annotated[
        str, typer.Option(help="The question (for a text file, or JSONL lines without one).")
    ] = "",
    checks: Annotated[
        list[str] | None, typer.Option("--check", help="Run only these checks.")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object per trace, per line.")
    ] = False,
    revise_confidence: ReviseConfidence = None,
    judge: Judge = None,
    judge_url: JudgeUrl = None,
    judge_model: JudgeModel = None,
    base_url: BaseUrl = None,
    model: Model = None,
    api_key: ApiKey = None,
) -> None:
    """Check reasoning traces for loops, circular re-checking, language mixing, slips."""
    import asyncio

    from qvq_agent.agent.checks import DEFAULT_CHECKS, check_names

    chosen = tuple(checks or DEFAULT_CHECKS)
    unknown = [c for c in chosen if c not in check_names()]
    if unknown:
        fail(f"unknown check {unknown[0]!r}; checks: {', '.join(check_names())}")
    settings = run_settings(
        None,
        revise_confidence=revise_confidence,
        judge=judge,
        judge_base_url=judge_url,
        judge_model=judge_model,
        base_url=base_url,
        model=model,
        api_key=api_key,
    )
    bad = asyncio.run(_verify_file(file, question, chosen, settings, as_json))
    if bad:
        raise typer.Exit(1)


async def _verify_file(
    file: Path, question: str, checks: tuple[str, ...], settings: RunSettings, as_json: bool
) -> int:
    """Verify every trace of ``file``, printing each verdict as it comes; the bad lines."""
    from qvq_agent.agent.context import Context
    from qvq_agent.agent.llm import aclose_clients
    from qvq_agent.verification import TraceFileError, averify_trace, read_traces, verify_trace

    ctx = Context(settings=settings) if settings.judge else None
    bad = 0
    try:
        for item in read_traces(file, question):
            if isinstance(item, TraceFileError):
                bad += 1
                err.print(f"[bold red]error:[/] {escape(str(item))}")
                continue
            if ctx is None:
                result = verify_trace(item, checks, settings.revise_confidence)
            else:
                result = await averify_trace(item, checks, ctx)
            if result.note:
                err.print(f"[yellow]note:[/] {escape(result.id)}: {escape(result.note)}")
            if as_json:
                out.out(json.dumps(result.to_json(), ensure_ascii=False))
            else:
                _print_verdict(result)
    except TraceFileError as exc:
        fail(str(exc))
    finally:
        await aclose_clients()
    return bad


def _print_verdict(result: Any) -> None:
    from rich.text import Text

    colour = "green" if result.verdict == "pass" else "yellow"
    out.print(
        f"[bold]{escape(result.id)}[/] [{colour}]{result.verdict}[/] · answer: "
        f"{escape(str(result.answer))}"
    )
    for finding in result.findings:
        start, end = finding["start"], finding["end"]
        left, right = max(0, start - 60), min(len(result.trace), end + 60)
        excerpt = Text(
            ("…" if left else "")
            + result.trace[left:right].replace("\n", " ")
            + ("…" if right < len(result.trace) else "")
        )
        offset = 1 if left else 0
        excerpt.stylize("bold reverse red", start - left + offset, min(end, right) - left + offset)
        out.print(f"  [yellow]{finding['check']}[/] [{start}:{end}] {escape(finding['message'])}")
        out.print(Text("    ").append(excerpt))
    _print_notes(result.notes)


@app.command(
    "eval",
    context_settings={"allow_interspersed_args": True},
)
def eval_command(
    target: Annotated[
        list[str],
        typer.Argument(
            help="A benchmark (vstar, mathvista, mathvision, countbench, hrbench, geometry3k, "
            "clevr) or a folder with items.jsonl; or `report RUN [RUN]`."
        ),
    ],
    graph: Annotated[
        str, typer.Option(help="raw (one request, the baseline), solve, physics or count.")
    ] = "solve",
    out: Annotated[
        Path | None, typer.Option(help="The run folder (results.jsonl, config.json).")
    ] = None,
    data_dir: Annotated[
        Path | None, typer.Option(help="A local copy of the benchmark (no download).")
    ] = None,
    concurrency: Annotated[int, typer.Option(min=1, max=1024, help="Items at once.")] = 4,
    limit: Annotated[int | None, typer.Option(min=1, help="Only the first N items.")] = None,
    ids: Annotated[list[str] | None, typer.Option("--ids", help="Only these item ids.")] = None,
    sample: Annotated[int | None, typer.Option(min=1, help="A random sample of K items.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of --sample.")] = 0,
    retry_errors: Annotated[
        bool, typer.Option("--retry-errors", help="Re-run the items that ended in error.")
    ] = False,
    base_url: BaseUrl = None,
    model: Model = None,
    api_key: ApiKey = None,
    profile: Profile = None,
    max_steps: MaxSteps = None,
    max_revisions: MaxRevisions = None,
    extra_body: ExtraBody = None,
) -> None:
    """Evaluate on a benchmark (resumable: run the same command again to continue), or report."""
    if target and target[0] == "report":
        _eval_report([Path(p) for p in target[1:]], out)
        return
    if len(target) != 1:
        fail("eval takes one benchmark (or `eval report RUN [RUN]`)")
    try:
        from qvq_agent.eval.datasets import DatasetError, load, select
        from qvq_agent.eval.runner import (
            GRAPHS,
            EvalError,
            RunConfig,
            RunFolder,
            Runner,
        )
    except ImportError as exc:
        fail(f"eval needs its extra ({exc.name} is missing): pip install 'qvq-agent[eval]'")
    if graph not in GRAPHS:
        fail(f"unknown graph {graph!r}; graphs: {', '.join(GRAPHS)}")
    if out is None:
        fail("--out is required: the folder that keeps the run's results (and resumes it)")
    settings = run_settings(
        extra_body,
        base_url=base_url,
        model=model,
        api_key=api_key,
        profile=profile,
        max_steps=max_steps,
        max_revisions=max_revisions,
    )
    from qvq_agent.profiles import UnknownProfileError, resolve_profile

    try:
        model_profile = resolve_profile(settings.model, settings.profile)
        dataset = load(target[0], data_dir, out / "images")
        items = select(dataset.items, limit=limit, ids=ids or (), sample=sample, seed=seed)
        folder = RunFolder(out)
        folder.prepare(RunConfig.make(dataset, graph, settings, model_profile.name))
    except (DatasetError, EvalError, UnknownProfileError) as exc:
        fail(str(exc))
    _run_eval(Runner(graph, settings, folder, concurrency), items, retry_errors, out)


def _run_eval(runner: Any, items: list[Any], retry_errors: bool, out: Path) -> None:
    import asyncio

    from rich.progress import (
        BarColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("[bold]eval[/]"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=err, transient=False) as bar:
        task = bar.add_task("eval", total=len(items), status="")

        def update(progress: Any) -> None:
            accuracy = progress.correct / progress.done if progress.done else 0.0
            status = f"accuracy {accuracy:.1%} · errors {progress.errors}"
            bar.update(task, completed=progress.done, status=status)

        runner.on_progress = update
        try:
            final = asyncio.run(runner.run(items, retry_errors=retry_errors))
        except KeyboardInterrupt:
            err.print(
                f"[yellow]stopped:[/] the finished results are kept in {escape(str(out))}; run "
                "the same command to continue"
            )
            raise typer.Exit(130) from None
    err.print(
        f"{final.done}/{final.total} done ({final.skipped} from before) · "
        f"{final.correct} correct · {final.errors} errors · {escape(str(out / 'results.jsonl'))}"
    )


def _eval_report(folders: list[Path], out_dir: Path | None) -> None:
    try:
        from qvq_agent.eval.report import write_report
        from qvq_agent.eval.runner import EvalError
    except ImportError as exc:
        fail(f"eval needs its extra ({exc.name} is missing): pip install 'qvq-agent[eval]'")
    if not folders:
        fail("eval report takes one run folder, or two to compare")
    target = out_dir or folders[-1]
    try:
        runs, pair = write_report(folders, target)
    except EvalError as exc:
        fail(str(exc))
    from rich.table import Table

    table = Table(
        "run", "graph", "items", "accuracy", "95% CI", "first", "fixed", "broken", "errors"
    )
    for r in runs:
        lo, hi = r.interval
        table.add_row(
            escape(r.name),
            escape(str(r.config.get("graph"))),
            str(r.n),
            f"{r.accuracy:.1%}",
            f"{lo:.1%}–{hi:.1%}",
            f"{r.first_accuracy:.1%}",
            str(r.fixed),
            str(r.broken),
            str(r.statuses.get("error", 0)),
        )
    out.print(table)
    if pair is not None:
        out.print(
            f"{escape(pair.b)} vs {escape(pair.a)}: {pair.shared} shared items, won {pair.won}, "
            f"lost {pair.lost}, exact McNemar p = {pair.p_value:.4g}"
        )
    out.print(f"wrote {escape(str(target / 'report.md'))} and report.html")


@app.command("doctor")
def doctor_command(
    base_url: BaseUrl = None,
    model: Model = None,
    api_key: ApiKey = None,
    profile: Profile = None,
) -> None:
    """Check a model server the way the agent uses it; a fix for every failure."""
    from rich.table import Table

    from qvq_agent.doctor import Doctor
    from qvq_agent.profiles import UnknownProfileError, resolve_profile

    settings = run_settings(base_url=base_url, model=model, api_key=api_key, profile=profile)
    try:
        model_profile = resolve_profile(settings.model, settings.profile)
    except UnknownProfileError as exc:
        fail(str(exc))
    results = Doctor(settings.base_url, settings.model, model_profile, settings.api_key).run()
    table = Table(
        "check", "result", "detail", title=escape(f"{settings.base_url} · {settings.model}")
    )
    colours = {"pass": "green", "fail": "red", "skip": "yellow"}
    for r in results:
        table.add_row(r.name, f"[{colours[r.outcome]}]{r.outcome}[/]", escape(r.detail))
    out.print(table)
    for r in results:
        if r.fix:
            out.print(f"[red]fix[/] {r.name}: {escape(r.fix)}")
    if any(r.outcome == "fail" for r in results):
        raise typer.Exit(1)


@app.command("serve")
def serve_command(
    profile: Annotated[str, typer.Option(help="Profile to serve.")] = "qvq",
    model: Annotated[
        str | None, typer.Option(help="Model to serve (default: QVQ-72B-Preview).")
    ] = None,
    gpus: Annotated[int, typer.Option(min=1, help="GPUs for tensor parallelism.")] = 4,
    max_model_len: Annotated[int, typer.Option(help="Context length.")] = 32768,
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
    data_parallel_size: Annotated[
        int,
        typer.Option(min=1, help="Model replicas behind one port (vLLM balances; for many GPUs)."),
    ] = 1,
    print_only: Annotated[bool, typer.Option("--print", help="Only print the command.")] = False,
    tool_protocol: ToolProtocolOption = None,
    tiny: Annotated[
        bool,
        typer.Option(
            "--tiny",
            help="Serve a tiny random-weight Qwen2-VL on the CPU (random answers; needs a "
            "source checkout: it is built by the tests' tooling).",
        ),
    ] = False,
) -> None:
    """Print (or run) the vLLM command that serves a model the way the agent needs it."""
    import os
    import shlex
    import shutil

    from qvq_agent.profiles import UnknownProfileError, get_profile
    from qvq_agent.serving import tiny_server_command, vllm_command, vllm_flags
    from qvq_agent.settings import DEFAULT_MODEL

    if tiny:
        tiny_command = tiny_server_command(port)
        if tiny_command is None:
            fail(
                "--tiny needs a source checkout of qvq-agent (it builds the CPU vLLM "
                "environment with tests/support/vllm_cpu.py): git clone the project, "
                "pip install -e '.[dev]', then run qvq-agent serve --tiny there"
            )
        command, root = tiny_command
        if print_only:
            out.out(f"cd {shlex.quote(str(root))} && {shlex.join(command)}")
            return
        out.print(
            "[yellow]The tiny model has random weights: its answers are random text. It is for "
            "trying the plumbing (images, tools, streaming) without a GPU.[/]"
        )
        import subprocess

        raise typer.Exit(subprocess.call(command, cwd=root))
    try:
        model_profile = get_profile(profile)
    except UnknownProfileError as exc:
        fail(str(exc))
    if tool_protocol is not None:
        if tool_protocol not in ("text", "native"):
            fail(f"unknown tool protocol {tool_protocol!r}; protocols: text, native")
        from dataclasses import replace

        model_profile = replace(model_profile, tool_protocol=tool_protocol)  # type: ignore[arg-type]
    name = model or DEFAULT_MODEL
    command_line = vllm_command(
        model_profile,
        name,
        gpus=gpus,
        max_model_len=max_model_len,
        port=port,
        data_parallel=data_parallel_size,
    )
    out.out(command_line)
    if print_only or shutil.which("vllm") is None:
        flags = vllm_flags(
            model_profile,
            gpus=gpus,
            max_model_len=max_model_len,
            port=port,
            data_parallel=data_parallel_size,
        )
        for flag in flags:
            out.print(f"  [cyan]{escape(flag.flag)} {escape(flag.value or '')}[/]: {flag.why}")
        if not print_only:
            out.print(
                "[yellow]vllm is not installed here: pip install 'qvq-agent[serve]' on the GPU "
                "machine.[/]"
            )
        return
    args = shlex.split(command_line)
    os.execvp(args[0], args)


runs_app = typer.Typer(help="The runs a --db file keeps.", no_args_is_help=True)
app.add_typer(runs_app, name="runs")
RunsDb = Annotated[Path, typer.Option(help="The SQLite file given to --db.")]


@runs_app.command("list")
def runs_list(db: RunsDb = Path("runs.sqlite")) -> None:
    """One line per run: thread, status, answer, steps, tokens, question."""
    from rich.table import Table

    from qvq_agent.runs_db import RunsDbError, list_runs

    try:
        rows = list_runs(db)
    except RunsDbError as exc:
        fail(str(exc))
    table = Table("thread", "status", "answer", "steps", "tokens", "question")
    for row in rows:
        usage = row["usage"]
        tokens = usage.get("prompt_tokens", 0) + usage.get("completion_tokens", 0)
        table.add_row(
            escape(row["thread"]),
            row["status"],
            escape(str(row["answer"])),
            str(row["steps"]),
            str(tokens),
            escape(str(row["question"])[:60]),
        )
    out.print(table)


@runs_app.command("show")
def runs_show(
    thread: Annotated[str, typer.Argument(help="The run's thread.")],
    db: RunsDb = Path("runs.sqlite"),
    html: Annotated[
        Path | None, typer.Option("--html", help="Write its trace page here instead.")
    ] = None,
) -> None:
    """Show one run of the database: in the terminal, or as a trace page (--html)."""
    from qvq_agent.runs_db import RunsDbError, run_record
    from qvq_agent.trace_page import print_record, render_html

    try:
        record, folder = run_record(db, thread)
    except RunsDbError as exc:
        fail(str(exc))
    if html is None:
        print_record(record, out)
        return
    html.parent.mkdir(parents=True, exist_ok=True)
    html.write_text(render_html(record, folder), encoding="utf-8")
    out.print(f"trace page: {escape(str(html))}")


@app.command("demo")
def demo_command(
    out_dir: Annotated[
        Path, typer.Option("--out", help="Where to write the pictures, records and pages.")
    ] = Path("qvq-agent-demo"),
    open_page: Annotated[
        bool, typer.Option("--open", help="Open the trace page in a browser.")
    ] = False,
) -> None:
    """See a run without a GPU: the real graphs against a replay of scripted model answers."""
    from qvq_agent.demo import run_demo

    out.print(
        "[magenta bold]REPLAY[/] [magenta]— the model's answers are scripted; the graphs, "
        "tools, loop guard and verifier are real.[/]"
    )
    done = run_demo(out_dir)
    out.print(
        f"solve (replay): answer {done.solve_answer} · record {escape(str(done.solve_record))}"
    )
    out.print(
        f"count (replay): answer {done.count_answer} · record {escape(str(done.count_record))}"
    )
    out.print(
        f"trace pages: [bold]{escape(str(done.solve_page))}[/] and {escape(str(done.count_page))}"
    )
    out.print(f"in the terminal: qvq-agent show {escape(str(done.solve_record))}")
    if open_page:
        import webbrowser

        webbrowser.open(done.solve_page.resolve().as_uri())


@app.command("show")
def show_command(
    record: Annotated[Path, typer.Argument(help="A run record (--record run.json).")],
    html: Annotated[
        Path | None, typer.Option("--html", help="Write the trace page here instead.")
    ] = None,
) -> None:
    """Show a recorded run: in the terminal, or as a trace page (--html)."""
    from qvq_agent.records import read_record
    from qvq_agent.trace_page import print_record, render_html

    try:
        data = read_record(record)
    except ValueError as exc:
        fail(str(exc))
    if html is None:
        print_record(data, out)
        return
    try:
        html.parent.mkdir(parents=True, exist_ok=True)
        html.write_text(render_html(data, record.parent), encoding="utf-8")
    except OSError as exc:
        fail(f"{html}: cannot write it ({exc})")
    out.print(f"trace page: {escape(str(html))}")


@app.command("mcp")
def mcp_command(
    transport: Annotated[
        str, typer.Option(help="stdio (a client starts this command) or http (streamable HTTP).")
    ] = "stdio",
    host: Annotated[str, typer.Option(help="Address to listen on (http).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on (http).")] = 8765,
    base_url: BaseUrl = None,
    model: Model = None,
    api_key: ApiKey = None,
    profile: Profile = None,
) -> None:
    """Serve the image tools, exact math and ask_about_image over MCP."""
    if transport not in ("stdio", "http"):
        fail(f"unknown transport {transport!r}; transports: stdio, http")
    try:
        from qvq_agent.mcp_server import serve
    except ImportError as exc:
        fail(f"the MCP server needs the mcp package: pip install 'qvq-agent[agents]' ({exc})")
    settings = run_settings(None, base_url=base_url, model=model, api_key=api_key, profile=profile)
    serve(settings, "stdio" if transport == "stdio" else "http", host, port)


@app.command("profiles")
def profiles_command() -> None:
    """List the model profiles."""
    from rich.table import Table

    from qvq_agent.profiles import PROFILES

    table = Table("profile", "frame", "max pixels", "tool protocol", "reasoning in")
    for p in PROFILES.values():
        table.add_row(
            p.name, p.coord_frame, f"{p.max_pixels:,}", p.tool_protocol, p.reasoning_field
        )
    out.print(table)


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
