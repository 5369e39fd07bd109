"""The ``qvq-agent`` command line: a thin typer + rich layer over the library.

Errors a user can cause (a missing image, an unreachable server, a bad flag) print one line and
exit non-zero, never a traceback.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from qvq_agent.images import ImageLoadError, ImageStore
from qvq_agent.profiles import UnknownProfileError, resolve_profile
from qvq_agent.settings import Settings
from qvq_agent.solver import Event, SolveResult, solve
from qvq_agent.tools import ToolEnv, default_registry

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


def fail(message: str, code: int = 2) -> NoReturn:
    """Print ``error: message`` on stderr and exit."""
    err.print(f"[bold red]error:[/] {message}", markup=True)
    raise typer.Exit(code)


def _settings(**flags: Any) -> Settings:
    try:
        return Settings().with_overrides(**flags)
    except ValueError as exc:
        fail(f"bad setting: {exc}")


def _json_arg(text: str | None, what: str) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        fail(f"{what} is not valid JSON: {exc}")
    if not isinstance(value, dict):
        fail(f"{what} must be a JSON object")
    return value


class _LivePrinter:
    """Prints the reasoning as it streams, tool calls and verdicts as they happen."""

    def __call__(self, event: Event) -> None:
        kind = event.get("event")
        if kind == "token":
            out.out(event["text"], end="")
        elif kind == "step":
            out.print(f"\n[dim]── step {event['step']} ──[/]")
        elif kind == "tool":
            mark = "[green]ok[/]" if event["ok"] else "[red]refused[/]"
            out.print(f"\n[cyan]tool {event['name']}[/] {mark}: {event['text']}")
        elif kind == "cancelled":
            out.print("\n[yellow]… stopped: the reply started looping[/]")
        elif kind == "verdict":
            found = ", ".join(event["findings"]) or "no findings"
            out.print(f"\n[magenta]verifier: {event['verdict']}[/] ({found})")


def _print_summary(result: SolveResult) -> None:
    colour = {"verified": "green", "unverified": "yellow", "error": "red"}[result.status]
    out.print()
    out.print(f"[bold]Answer:[/] {result.answer if result.answer is not None else '(none)'}")
    usage = result.usage
    out.print(
        f"[{colour}]{result.status}[/] · {result.steps} steps · {result.revisions} revisions · "
        f"{len(result.tool_calls)} tool calls · {usage['prompt_tokens']} prompt + "
        f"{usage['completion_tokens']} completion tokens"
    )
    for finding in result.findings:
        out.print(f"  [yellow]{finding['check']}[/]: {finding['message']}")


@app.command("solve")
def solve_command(
    image: Annotated[Path, typer.Argument(help="The image (img0).")],
    question: Annotated[str, typer.Argument(help="The question about the image.")],
    images: Annotated[
        list[Path] | None, typer.Option("--image", help="More images (img1, ...).")
    ] = None,
    base_url: Annotated[str | None, typer.Option(help="OpenAI-compatible endpoint.")] = None,
    model: Annotated[str | None, typer.Option(help="Model name on the server.")] = None,
    api_key: Annotated[str | None, typer.Option(help="API key of the server.")] = None,
    profile: Annotated[
        str | None, typer.Option(help="qvq, qwen2-vl, qwen2.5-vl, qvq-max, openai.")
    ] = None,
    max_steps: Annotated[int | None, typer.Option(min=1, help="Model requests per run.")] = None,
    max_revisions: Annotated[int | None, typer.Option(min=0, help="Verifier critiques.")] = None,
    choices: Annotated[
        list[str] | None, typer.Option("--choices", help="Multiple-choice options.")
    ] = None,
    extra_body: Annotated[
        str | None, typer.Option(help="JSON merged into every request body.")
    ] = None,
    graph: Annotated[
        str,
        typer.Option(help="solve (general), physics (givens, equations, answer checks) or count."),
    ] = "solve",
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object, nothing live.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the answer.")] = False,
) -> None:
    """Answer a question about an image, looking again with tools and checking the reasoning."""
    settings = _settings(
        base_url=base_url,
        model=model,
        api_key=api_key,
        profile=profile,
        max_steps=max_steps,
        max_revisions=max_revisions,
        extra_body=_json_arg(extra_body, "--extra-body") or None,
    )
    if graph not in ("solve", "physics", "count"):
        fail(f"unknown graph {graph!r}; graphs: solve, physics, count")
    if graph == "count":
        count_command(
            image,
            question,
            base_url=base_url,
            model=model,
            api_key=api_key,
            profile=profile,
            as_json=as_json,
        )
        return
    try:
        resolve_profile(settings.model, settings.profile)
        result = solve(
            [image, *(images or [])],
            question,
            settings=settings,
            choices=choices or (),
            on_event=None if (as_json or quiet) else _LivePrinter(),
            graph="physics" if graph == "physics" else "solve",
        )
    except (ImageLoadError, UnknownProfileError) as exc:
        fail(str(exc))
    except ValueError as exc:
        fail(str(exc))
    if as_json:
        out.out(json.dumps(result.to_json(), ensure_ascii=False))
    elif quiet:
        if result.answer is not None:
            out.out(result.answer)
    elif result.status != "error" or result.steps:
        _print_summary(result)
    if result.status == "error":
        if not as_json:
            fail(str(result.error), code=1)
        raise typer.Exit(1)


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
    registry = default_registry()
    try:
        model_profile = resolve_profile("", profile)
    except UnknownProfileError as exc:
        fail(str(exc))
    store = ImageStore()
    try:
        for path in images or []:
            store.add_file(path)
    except ImageLoadError as exc:
        fail(str(exc))
    arguments = _json_arg(args_json, "ARGS_JSON")
    tool = registry.get(name)
    if tool is None:
        payload: dict[str, Any] = {
            "ok": False,
            "images": [],
            "text": f"no tool named {name!r}; tools: {', '.join(registry.names)}",
        }
    else:
        result = tool.run(ToolEnv(store, model_profile), arguments)
        written = []
        if result.images:
            out_dir.mkdir(parents=True, exist_ok=True)
            for image_id in result.images:
                path = out_dir / f"{image_id}.png"
                store.get(image_id).image.save(path)
                written.append(str(path))
        payload = {"ok": result.ok, "text": result.text, "images": written}
    if as_json:
        out.out(json.dumps(payload, ensure_ascii=False))
    else:
        style = "green" if payload["ok"] else "red"
        out.print(f"[{style}]{'ok' if payload['ok'] else 'refused'}[/]: {payload['text']}")
        for path in payload["images"]:
            out.print(f"  wrote {path}")
    if not payload["ok"]:
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
    base_url: Annotated[str | None, typer.Option(help="OpenAI-compatible endpoint.")] = None,
    model: Annotated[str | None, typer.Option(help="Model name on the server.")] = None,
    api_key: Annotated[str | None, typer.Option(help="API key of the server.")] = None,
    profile: Annotated[str | None, typer.Option(help="Model profile.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Count objects: the whole image, then overlapping tiles in parallel, then every count checked."""
    from qvq_agent.solver import count

    settings = _settings(base_url=base_url, model=model, api_key=api_key, profile=profile)
    try:
        resolve_profile(settings.model, settings.profile)
        result = count(image, question, settings=settings, tiles=tiles, method=method)
    except (ImageLoadError, UnknownProfileError, ValueError) as exc:
        fail(str(exc))
    if as_json:
        out.out(json.dumps(result.to_json(), ensure_ascii=False))
    else:
        out.print(
            f"[bold]Count:[/] {result.answer} · {result.status} · {result.tiles} tiles · {result.requests} requests"
        )
        for finding in result.findings:
            out.print(f"  [yellow]{finding['check']}[/]: {finding['message']}")
    if result.status == "error":
        if not as_json:
            fail(str(result.error), code=1)
        raise typer.Exit(1)


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
) -> None:
    """Check reasoning traces for loops, circular re-checking, language mixing, slips."""
    from qvq_agent.agent.checks import DEFAULT_CHECKS, check_names
    from qvq_agent.verification import TraceFileError, read_traces, verify_trace

    chosen = tuple(checks or DEFAULT_CHECKS)
    unknown = [c for c in chosen if c not in check_names()]
    if unknown:
        fail(f"unknown check {unknown[0]!r}; checks: {', '.join(check_names())}")
    bad = 0
    try:
        for item in read_traces(file, question):
            if isinstance(item, TraceFileError):
                bad += 1
                err.print(f"[bold red]error:[/] {item}")
                continue
            result = verify_trace(item, chosen)
            if as_json:
                out.out(json.dumps(result.to_json(), ensure_ascii=False))
            else:
                _print_verdict(result)
    except TraceFileError as exc:
        fail(str(exc))
    if bad:
        raise typer.Exit(1)


def _print_verdict(result: Any) -> None:
    from rich.text import Text

    colour = "green" if result.verdict == "pass" else "yellow"
    out.print(f"[bold]{result.id}[/] [{colour}]{result.verdict}[/] · answer: {result.answer}")
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
        out.print(f"  [yellow]{finding['check']}[/] [{start}:{end}] {finding['message']}")
        out.print(Text("    ").append(excerpt))


@app.command("doctor")
def doctor_command(
    base_url: Annotated[str | None, typer.Option(help="OpenAI-compatible endpoint.")] = None,
    model: Annotated[str | None, typer.Option(help="Model name on the server.")] = None,
    api_key: Annotated[str | None, typer.Option(help="API key of the server.")] = None,
    profile: Annotated[str | None, typer.Option(help="Profile the agent will use.")] = None,
) -> None:
    """Check a model server the way the agent uses it; a fix for every failure."""
    from qvq_agent.doctor import Doctor

    settings = _settings(base_url=base_url, model=model, api_key=api_key, profile=profile)
    try:
        model_profile = resolve_profile(settings.model, settings.profile)
    except UnknownProfileError as exc:
        fail(str(exc))
    results = Doctor(settings.base_url, settings.model, model_profile, settings.api_key).run()
    table = Table("check", "result", "detail", title=f"{settings.base_url} · {settings.model}")
    colours = {"pass": "green", "fail": "red", "skip": "yellow"}
    for r in results:
        table.add_row(r.name, f"[{colours[r.outcome]}]{r.outcome}[/]", r.detail)
    out.print(table)
    for r in results:
        if r.fix:
            out.print(f"[red]fix[/] {r.name}: {r.fix}", markup=True, highlight=False)
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
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    print_only: Annotated[bool, typer.Option("--print", help="Only print the command.")] = False,
    tiny: Annotated[
        bool,
        typer.Option(
            "--tiny", help="Serve a tiny random-weight Qwen2-VL on the CPU (random answers)."
        ),
    ] = False,
) -> None:
    """Print (or run) the vLLM command that serves a model the way the agent needs it."""
    import os
    import shutil

    from qvq_agent.serving import vllm_command, vllm_flags
    from qvq_agent.settings import DEFAULT_MODEL

    if tiny:
        from qvq_agent.testing import vllm_cpu

        if print_only:
            out.print("python -m qvq_agent.testing.vllm_cpu serve " + str(port))
            return
        out.print(
            "[yellow]The tiny model has random weights: its answers are random text. It is for "
            "trying the plumbing (images, tools, streaming) without a GPU.[/]"
        )
        raise typer.Exit(vllm_cpu.main(["serve", str(port)]))
    try:
        model_profile = resolve_profile("", profile)
    except UnknownProfileError as exc:
        fail(str(exc))
    name = model or DEFAULT_MODEL
    command = vllm_command(model_profile, name, gpus=gpus, max_model_len=max_model_len, port=port)
    out.out(command)
    if print_only or shutil.which("vllm") is None:
        for flag in vllm_flags(model_profile, gpus=gpus, max_model_len=max_model_len, port=port):
            out.print(f"  [cyan]{flag.flag} {flag.value or ''}[/]: {flag.why}")
        if not print_only:
            out.print(
                "[yellow]vllm is not installed here: pip install 'qvq-agent[serve]' on the GPU machine.[/]"
            )
        return
    import shlex

    args = shlex.split(command)
    os.execvp(args[0], args)


@app.command("profiles")
def profiles_command() -> None:
    """List the model profiles."""
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
