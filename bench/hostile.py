"""Red-team report: hostile inputs in five categories, each attempt bounded in time.

    python bench/hostile.py [--hang-s 30]

Categories: model-written math (calculate, solve, equivalent, the verifier), odd image files,
misbehaving model replies (through the solve graph), server faults (a loopback server that
misbehaves on purpose), and command-line input. Every attempt runs in a thread with a time
bound; per category it prints attempts, clean outcomes (an answer, a refusal or an error with a
message), crashes (an exception or a traceback), hangs (past the bound) and executed code (a
payload that would create a marker file, checked after each attempt), with the slowest attempt.
Goal (issue 11): crashes 0, hangs 0, executed 0.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import struct
import sys
import tempfile
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
from PIL import Image
from typer.testing import CliRunner

from qvq_agent.agent.context import Context
from qvq_agent.answers import equivalent
from qvq_agent.cli import app
from qvq_agent.images import ImageLoadError, ImageStore
from qvq_agent.profiles import PROFILES
from qvq_agent.settings import RunSettings
from qvq_agent.solver import asolve
from qvq_agent.testing import ReplayServer, Reply, ScriptedChatModel
from qvq_agent.tools import ToolEnv, default_registry
from qvq_agent.verification import TraceRecord, verify_trace

WORK = Path(tempfile.mkdtemp(prefix="qvq-hostile-"))
MARKER = WORK / "pwned"
"""Payloads try to create this file; it must never exist."""
PAYLOADS = [
    f"__import__('os').system('touch {MARKER}')",
    f"open('{MARKER}', 'w').write('x')",
    f"().__class__.__base__.__subclasses__()[0]('touch {MARKER}')",
    f"eval(\"__import__('os').system('touch {MARKER}')\")",
    f"exec('import os; os.system(\"touch {MARKER}\")')",
    f"lambda: __import__('os').system('touch {MARKER}')",
    f"[x for x in ().__class__.__mro__[1].__subclasses__() if 'Popen' in str(x)][0]('touch {MARKER}', shell=True)",
    f"sympify(\"__import__('os').system('touch {MARKER}')\")",
]


@dataclass
class Tally:
    attempts: int = 0
    clean: int = 0
    crashes: list[str] = field(default_factory=list)
    hangs: list[str] = field(default_factory=list)
    executed: list[str] = field(default_factory=list)
    slowest: tuple[float, str] = (0.0, "")


def bounded(fn: Callable[[], Any], hang_s: float) -> tuple[str, Any, float]:
    """``("ok", value | exception-text, seconds)``, ``("crash", ...)`` or ``("hang", ...)``."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # a crash is what this counts
            box["error"] = f"{type(exc).__name__}: {exc}"[:200]

    started = time.perf_counter()
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(hang_s)
    spent = time.perf_counter() - started
    if thread.is_alive():
        return "hang", None, spent
    if "error" in box:
        return "crash", box["error"], spent
    return "ok", box.get("value"), spent


def run(tally: Tally, label: str, fn: Callable[[], Any], hang_s: float) -> None:
    tally.attempts += 1
    outcome, value, spent = bounded(fn, hang_s)
    if spent > tally.slowest[0]:
        tally.slowest = (spent, label[:70])
    if MARKER.exists():
        tally.executed.append(label)
        MARKER.unlink()
    if outcome == "hang":
        tally.hangs.append(label)
    elif outcome == "crash" or (isinstance(value, str) and "Traceback" in value):
        tally.crashes.append(f"{label}: {value}")
    else:
        tally.clean += 1


# ---- 1. model-written math -----------------------------------------------------------------------

MATH = [
    "((3/2)^10000)^10000",
    "exp(exp(exp(exp(100))))",
    "(a+b+c+d)^150",
    "9^9^9^9",
    "10^400",
    "factorial(100000)",
    "factorial(factorial(20))",
    "2**2**2**2**2**2",
    "integrate(exp(x**2)*sin(x)**17*log(x), x)",
    "expand((a+b+c+d)**150)",
    "simplify((x+1)**200 - (x-1)**200)",
    "diff(x**x**x**x, x, 50)",
    "1/0",
    "0/0",
    "0^0",
    "sqrt(-1)",
    "log(0)",
    "tan(pi/2)",
    "atan2(0, 0)",
    "1e308*10",
    "-1e999",
    "9" * 70,
    "(" * 60 + "1" + ")" * 60,
    "x" * 3000,
    "1+" * 600 + "1",
    "max(2 m, 3 s)",
    "sin(3 m)",
    "2 m // 3 s",
    "2 m + 3 s",
    "sqrt(2*g*h)",
    "binomial(10**6, 5*10**5)",
    "gcd(2**100000, 3)",
    "root(2, 0)",
    "Abs(x)",
    "x.__class__",
    "x[0]",
    "'a' * 10",
    "lambda: 1",
    "[1, 2]",
    "{1: 2}",
    "NaN",
    "inf",
    "-inf",
    "1 if 1 else 2",
    "a = 5",
    "5 == 5",
    "f(x)",
    "\\frac{1}{0}",
    "√√√√√2",
    *PAYLOADS,
]


def math_attempts(tally: Tally, hang_s: float) -> None:
    registry = default_registry()
    env = ToolEnv(ImageStore(), PROFILES["qvq"])
    calculate, solve = registry.get("calculate"), registry.get("solve")
    assert calculate is not None and solve is not None
    for expr in MATH:
        run(
            tally,
            f"calculate {expr[:40]}",
            lambda e=expr: calculate.run(env, {"expression": e}),
            hang_s,
        )
        run(
            tally,
            f"solve {expr[:40]}",
            lambda e=expr: solve.run(env, {"equations": [f"{e} = y"], "unknowns": ["y"]}),
            hang_s,
        )
        run(tally, f"equivalent {expr[:40]}", lambda e=expr: equivalent(e, "1"), hang_s)
        trace = f"So {expr} = 5.\n{expr} = 7 × 3 = 21\n\n**Final Answer**\n\n{expr}"
        run(
            tally,
            f"verify {expr[:40]}",
            lambda t=trace: verify_trace(TraceRecord("t", "", t)),
            hang_s,
        )


# ---- 2. odd image files --------------------------------------------------------------------------


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def image_files() -> Iterator[tuple[str, Path]]:
    folder = WORK / "images"
    folder.mkdir(exist_ok=True)

    def save(name: str, image: Image.Image, **kw: Any) -> Path:
        path = folder / name
        image.save(path, **kw)
        return path

    empty = folder / "empty.png"
    empty.write_bytes(b"")
    yield "zero bytes", empty
    text = folder / "text.png"
    text.write_text("not an image")
    yield "text named png", text
    good = save("good.png", Image.new("RGB", (300, 200), "red"))
    truncated = folder / "truncated.png"
    truncated.write_bytes(good.read_bytes()[:100])
    yield "truncated png", truncated
    header = b"\x89PNG\r\n\x1a\n" + _png_chunk(
        b"IHDR", struct.pack(">IIBBBBB", 100000, 100000, 8, 2, 0, 0, 0)
    )
    bomb = folder / "bomb.png"
    bomb.write_bytes(header + _png_chunk(b"IEND", b""))
    yield "10 gigapixel header", bomb
    yield "1x1", save("one.png", Image.new("RGB", (1, 1)))
    yield "1x300 thin", save("thin.png", Image.new("RGB", (1, 300)))
    yield "300x1 thin", save("wide.png", Image.new("RGB", (300, 1)))
    yield "16-bit grey", save("g16.png", Image.fromarray(np.full((50, 50), 40000, np.uint16)))
    yield "float tiff", save("f.tiff", Image.fromarray(np.random.rand(40, 40).astype(np.float32)))
    yield "cmyk jpeg", save("cmyk.jpg", Image.new("CMYK", (64, 64), (10, 200, 30, 0)))
    yield "palette+alpha", save("p.png", Image.new("P", (64, 64)), transparency=0)
    yield "LA", save("la.png", Image.new("LA", (64, 64)))
    yield "1-bit", save("bits.png", Image.new("1", (64, 64)))
    gif = folder / "anim.gif"
    Image.new("P", (32, 32)).save(gif, save_all=True, append_images=[Image.new("P", (32, 32))] * 3)
    yield "animated gif", gif
    yield "directory", folder
    yield "missing", folder / "missing.png"
    loop = folder / "loop.png"
    if not loop.exists():
        loop.symlink_to(loop)
    yield "symlink loop", loop
    exif = Image.new("RGB", (80, 40), "blue")
    info = Image.Exif()
    info[0x0112] = 6
    yield "exif rotated", save("exif.jpg", exif, exif=info)
    for size in ((28, 28), (4000, 3000), (8000, 20), (20, 4000), (1, 200), (200, 1)):
        yield (
            f"{size[0]}x{size[1]}",
            save(f"s{size[0]}x{size[1]}.png", Image.new("RGB", size, "white")),
        )


def image_attempts(tally: Tally, hang_s: float) -> None:
    crop = default_registry().get("crop")
    rotate = default_registry().get("rotate")
    assert crop is not None and rotate is not None
    for name, path in image_files():
        for profile in ("qvq", "qwen2.5-vl", "openai"):

            def attempt(p: Path = path, prof: str = profile) -> str:
                store = ImageStore()
                try:
                    image_id = store.add_file(p)
                except ImageLoadError as exc:
                    return f"refused: {exc}"
                env = ToolEnv(store, PROFILES[prof])
                extent = store.frame_extent(image_id, env.profile.coord_frame, env.profile)
                for box in ([0, 0, extent[0], extent[1] * 0.001], [0, 0, extent[0] / 2, extent[1]]):
                    result = crop.run(env, {"image": image_id, "bbox": box})
                    for new in result.images:
                        store.data_url(new, env.profile)
                rotate.run(env, {"image": image_id, "degrees": 33})
                for image in store.ids:
                    store.data_url(image, env.profile)
                return "ok"

            run(tally, f"image {name} ({profile})", attempt, hang_s)


# ---- 3. misbehaving model replies ---------------------------------------------------------------

DEEP = "[" * 20000 + "]" * 20000
REPLIES = [
    "<tool_call>{not json}</tool_call>",
    '<tool_call>{"name": "crop", "arguments": {"image": "img0", "bbox": [NaN, 0, 1, 1]}}</tool_call>',
    '<tool_call>{"name": "crop", "arguments": {"image": "img0", "bbox": [1e308, 1e308, -1e308, 0]}}</tool_call>',
    '<tool_call>{"name": "crop", "arguments": {"image": "img9", "bbox": [0, 0, 10, 10]}}</tool_call>',
    '<tool_call>{"name": "zoom", "arguments": {"image": "img0", "bbox": [0, 0, 1, 1], "factor": 4}}</tool_call>',
    '<tool_call>{"name": "rotate", "arguments": {"image": "img0", "degrees": 1e300}}</tool_call>',
    '<tool_call>{"name": "grid", "arguments": {"image": "img0", "rows": 99999, "cols": -1}}</tool_call>',
    '<tool_call>{"name": "mark", "arguments": {"image": "img0", "points": [[1, 2]] }}</tool_call>'
    * 50,
    '<tool_call>{"name": "[/]", "arguments": {}}</tool_call>',
    f'<tool_call>{{"name": "crop", "arguments": {DEEP}}}</tool_call>',
    '<tool_call>{"name": "calculate", "arguments": {"expression": "9^9^9^9"}}</tool_call>',
    *[
        f'<tool_call>{{"name": "calculate", "arguments": {{"expression": {json.dumps(p)}}}}}</tool_call>'
        for p in PAYLOADS
    ],
    "I will count again. " * 400,
    "wait, " * 2000,
    "答案是" * 500,
    "**Final Answer**\n\n" + "9" * 5000,
    "**Final Answer**\n\n[/bold] [NaN] \\boxed{" * 20,
    "<givens>" + DEEP + "</givens>\n**Final Answer** 3",
    "So ((3/2)^10000)^10000 = 5.\n\n**Final Answer**\n\n5",
    "\x00\x01\x02 **Final Answer** \udcff",
    "",
    " ",
    "**Final Answer**",
    "\\boxed{" * 3000,
    "<answer>" * 1000,
    "12 × 7 = 74 = 84 = 96 " * 300,
]


def reply_attempts(tally: Tally, hang_s: float, image: Path) -> None:
    for reply, graph in itertools.product(REPLIES, ("solve", "physics")):

        def attempt(r: str = reply, g: str = graph) -> str:
            model = ScriptedChatModel(script=[r] * 6 + ["**Final Answer**\n\n1"] * 6)
            ctx = Context(chat_model=model, settings=RunSettings(max_steps=3, max_revisions=1))
            result = asyncio.run(asolve(image, "How many?", context=ctx, graph=g))  # type: ignore[arg-type]
            assert result.status in ("verified", "unverified", "error"), result.status
            return result.status

        run(tally, f"reply {graph}: {reply[:40]!r}", attempt, hang_s)


# ---- 4. server faults -----------------------------------------------------------------------------

SSE = "data: {}\n\n"
FAULTS: list[Reply] = [
    *[
        Reply(body, status=code)
        for code in (400, 401, 404, 413, 429, 500, 502, 503)
        for body in ("", "x" * 5000, "<html>")
    ],
    Reply(raw=[SSE.format(json.dumps({"error": {"message": "engine died"}})).encode()]),
    Reply(raw=[b'data: {"choices": "nope"}\n\n']),
    Reply(raw=[b'data: {"choices": [{"delta": {"content": 5}}]}\n\n']),
    Reply(raw=[b'data: {"choices": [], "usage": {"prompt_tokens": "lots"}}\n\n']),
    Reply(raw=[b"<html>502</html>"], content_type="text/html"),
    Reply(raw=[b"data: [DONE]\n\n"]),
    Reply(raw=[b"data: {bad json\n\n"]),
    Reply(raw=[b"data: \xff\xfe\xfd\n\n"]),
    Reply(raw=[("data: " + DEEP + "\n\n").encode()]),
    Reply(raw=[b": keepalive\n\n"] * 40, delay_s=0.2),
    Reply("slow " * 100, delay_s=0.2),
    Reply(raw=[b"data: {}\n\n"] * 5),
    Reply(raw=[b"event: error\ndata: {}\n\n"]),
    Reply(raw=[b"\r\n\r\n\r\n"]),
    Reply(
        raw=[
            b'data: {"choices": [{"index": 0, "delta": {"content": "' + b"A" * 200000 + b'"}}]}\n\n'
        ]
    ),
]


def server_attempts(tally: Tally, hang_s: float, image: Path) -> None:
    for index, fault in enumerate(FAULTS):
        for first in (None, "crop"):

            def attempt(f: Reply = fault, lead: str | None = first) -> str:
                crop = '<tool_call>{"name": "crop", "arguments": {"image": "img0", "bbox": [0, 0, 500, 500]}}</tool_call>'
                script: list[Any] = [crop, f] if lead else [f]
                with ReplayServer(script, repeat_last=True) as server:
                    settings = RunSettings(
                        base_url=server.base_url,
                        retries=0,
                        max_steps=3,
                        max_revisions=0,
                        stream_idle_timeout_s=3,
                        max_wall_s=8,
                    )
                    result = asyncio.run(asolve(image, "q", settings=settings))
                assert result.status in ("verified", "unverified", "error")
                assert result.status != "error" or result.error
                return result.status

            run(tally, f"server fault {index} after {first}", attempt, hang_s)
    for url in ("http://127.0.0.1:9/v1", "http://[::1]:9/v1"):
        run(
            tally,
            f"unreachable {url}",
            lambda u=url: (
                asyncio.run(asolve(image, "q", settings=RunSettings(base_url=u, retries=0))).status
            ),
            hang_s,
        )


# ---- 5. command-line input ------------------------------------------------------------------------


def cli_attempts(tally: Tally, hang_s: float, image: Path) -> None:
    runner = CliRunner()
    odd = [
        "",
        "[/]",
        "[bold]",
        "{",
        DEEP,
        "\x00",
        "-" * 5000,
        "--",
        "NaN",
        "💥",
        "\n",
        "http://[::1",
    ]
    commands: list[list[str]] = []
    for text in odd:
        commands += [
            ["tool", "crop", text, "--image", str(image)],
            ["tool", text, "{}"],
            ["tool", "calculate", json.dumps({"expression": text})],
            ["solve", str(image), text, "--base-url", "http://127.0.0.1:9/v1"],
            ["solve", str(image), "q", "--extra-body", text],
            ["solve", str(image), "q", "--base-url", text],
            ["solve", text, "q"],
            ["count", str(image), "q", "--tiles", text],
            ["count", str(image), "q", "--method", text],
            ["verify", text],
            ["serve", "--profile", text, "--print"],
            ["doctor", "--base-url", text],
            ["solve", str(image), "q", "--graph", text],
            ["solve", str(image), "q", "--profile", text],
        ]
    commands += [
        ["solve", str(image), "q", "--max-steps", "-1"],
        ["solve", str(image), "q", "--max-steps", "99999999999999999999999"],
        [
            "tool",
            "crop",
            '{"image": "img0", "bbox": [0,0,1,1]}',
            "--image",
            str(image),
            "--out",
            "/dev/null/x",
        ],
        [
            "tool",
            "crop",
            '{"image": "img0", "bbox": [0,0,1,1]}',
            "--image",
            str(image),
            "--out",
            str(image),
        ],
        ["serve", "--port", "99999", "--print"],
        ["--help"],
        ["profiles"],
    ]
    for args in commands:

        def attempt(a: list[str] = args) -> str:
            result = runner.invoke(app, a)
            if result.exception is not None and not isinstance(result.exception, SystemExit):
                raise result.exception
            return result.output

        run(tally, "cli " + " ".join(a[:30] for a in args)[:60], attempt, hang_s)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--hang-s", type=float, default=30.0)
    args = parser.parse_args()
    image = WORK / "scene.png"
    Image.new("RGB", (640, 480), "white").save(image)
    tallies: dict[str, Tally] = {}
    steps: list[tuple[str, Callable[[Tally], None]]] = [
        ("model-written math", lambda t: math_attempts(t, args.hang_s)),
        ("image files", lambda t: image_attempts(t, args.hang_s)),
        ("model replies", lambda t: reply_attempts(t, args.hang_s, image)),
        ("server faults", lambda t: server_attempts(t, args.hang_s, image)),
        ("command line", lambda t: cli_attempts(t, args.hang_s, image)),
    ]
    for name, step in steps:
        tallies[name] = Tally()
        step(tallies[name])
    print(
        f"{'category':<20} {'attempts':>8} {'clean':>6} {'crashes':>8} {'hangs':>6} {'executed':>9}  slowest"
    )
    for name, t in tallies.items():
        print(
            f"{name:<20} {t.attempts:>8} {t.clean:>6} {len(t.crashes):>8} {len(t.hangs):>6} "
            f"{len(t.executed):>9}  {t.slowest[0]:.1f} s ({t.slowest[1]})"
        )
    total = sum(t.attempts for t in tallies.values())
    bad = {
        k: v
        for t in tallies.values()
        for k, v in (("crash", t.crashes), ("hang", t.hangs), ("executed", t.executed))
        if v
    }
    print(f"total attempts: {total}")
    for kind, items in bad.items():
        for item in items[:10]:
            print(f"  {kind}: {item}")
    ok = not any(t.crashes or t.hangs or t.executed for t in tallies.values())
    print(f"goal: crashes 0, hangs 0, executed 0: {'ok' if ok else 'MISSED'}")


if __name__ == "__main__":
    main()
