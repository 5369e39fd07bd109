"""The package's import structure: no module imports from a layer above it, no import circle,
and the CLI parses its arguments without loading the heavy libraries."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "qvq_agent"

LAYERS: list[tuple[str, ...]] = [
    ("qvq_agent.prompts", "qvq_agent.settings", "qvq_agent.untrusted"),
    ("qvq_agent.profiles", "qvq_agent.serving"),
    ("qvq_agent.images", "qvq_agent.counting"),
    ("qvq_agent.tools",),
    ("qvq_agent.answers",),
    ("qvq_agent.agent.checks",),
    ("qvq_agent.agent",),
    ("qvq_agent.graphs",),
    (
        "qvq_agent.records",
        "qvq_agent.trace_page",
        "qvq_agent.results",
        "qvq_agent.solver",
        "qvq_agent.verification",
        "qvq_agent.doctor",
        "qvq_agent.integrations",
        "qvq_agent.runs_db",
    ),
    ("qvq_agent.eval",),
    ("qvq_agent.testing",),
    ("qvq_agent.cli", "qvq_agent.mcp_server", "qvq_agent.demo", "qvq_agent"),
]
"""Bottom to top; a module may import its own layer and the layers below it."""


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> int:
    best = (-1, -1)  # (length of the matching prefix, layer)
    for index, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best[0]:
                best = (len(prefix), index)
    assert best[1] >= 0, f"{module} is in no layer: add it to LAYERS"
    return best[1]


def imports(path: Path) -> set[str]:
    """Package modules imported by ``path`` (also inside functions, not under TYPE_CHECKING)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(n) for n in ast.walk(node))
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("qvq_agent"))
        elif (
            isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("qvq_agent")
        ):
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                sub = PACKAGE.parent / Path(*candidate.split("."))
                is_module = sub.with_suffix(".py").exists() or (sub / "__init__.py").exists()
                found.add(candidate if is_module else node.module)
    return found


def graph() -> dict[str, set[str]]:
    return {module_name(p): imports(p) for p in PACKAGE.rglob("*.py")}


def test_no_module_imports_from_a_layer_above_it() -> None:
    upward = [
        f"{module} (layer {layer_of(module)}) imports {target} (layer {layer_of(target)})"
        for module, targets in graph().items()
        for target in targets
        if layer_of(target) > layer_of(module)
        and not module.endswith("__init__")
        and module != "qvq_agent"
    ]
    assert not upward, "\n".join(upward)


def test_no_import_circle() -> None:
    edges = {m: {t for t in ts if t != m} for m, ts in graph().items()}
    # A package's __init__ importing its own modules lazily is not a circle through the package.
    for module in edges:
        edges[module] = {t for t in edges[module] if not module.startswith(t + ".")}
    seen: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        seen[node] = 1
        stack.append(node)
        for target in sorted(edges.get(node, ())):
            if seen.get(target) == 1:
                circle = [*stack[stack.index(target) :], target]
                pytest.fail("import circle: " + " -> ".join(circle))
            if target not in seen:
                visit(target)
        stack.pop()
        seen[node] = 2

    for module in sorted(edges):
        if module not in seen:
            visit(module)


def test_testing_holds_only_what_users_import() -> None:
    shipped = sorted(p.name for p in (PACKAGE / "testing").glob("*.py"))
    # oracle.py answers the count graph in `qvq-agent demo`, so it ships too.
    assert shipped == ["__init__.py", "oracle.py", "replay_server.py", "scripted.py"]


def test_the_cli_parses_arguments_without_heavy_imports() -> None:
    code = (
        "import sys; from typer.testing import CliRunner; from qvq_agent.cli import app; "
        "r = CliRunner().invoke(app, ['--help']); assert r.exit_code == 0, r.output; "
        "heavy = [m for m in ('langgraph', 'langchain_core', 'sympy', 'cv2', 'numpy', "
        "'PIL', 'openai', 'pydantic_settings') if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
