"""What a run (or two) measured: accuracy with Wilson intervals, the verifier's effect, cost,
and for two runs a paired comparison with the exact McNemar test. Written as ``report.md`` and a
self-contained ``report.html`` (plots inline), and shown as a rich table.
"""

from __future__ import annotations

import base64
import io
import json
import math
import statistics
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qvq_agent.eval.runner import EvalError, ResultRow, RunFolder

Z95 = 1.959963984540054


def wilson(correct: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a proportion (95% by default); ``(0, 1)`` for no items."""
    if n == 0:
        return 0.0, 1.0
    p = correct / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def mcnemar_exact(won: int, lost: int) -> float:
    """Two-sided exact McNemar p-value: the binomial test of ``won`` vs ``lost`` at 1/2."""
    n = won + lost
    if n == 0:
        return 1.0
    tail = float(sum(math.comb(n, k) for k in range(min(won, lost) + 1))) / float(2**n)
    return min(1.0, 2.0 * tail)


def _quantile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return float(ordered[min(len(ordered) - 1, int(q * len(ordered)))])


@dataclass
class RunSummary:
    """One run, summarised."""

    name: str
    config: dict[str, Any]
    rows: list[ResultRow]
    n: int = 0
    correct: int = 0
    first_correct: int = 0
    fixed: int = 0
    """Items the verifier's critiques turned right (first answer wrong, final right)."""
    broken: int = 0
    """Items they turned wrong (first answer right, final wrong)."""
    statuses: dict[str, int] = field(default_factory=dict)
    categories: dict[str, tuple[int, int]] = field(default_factory=dict)
    """Category -> (correct, n)."""
    tools: dict[str, int] = field(default_factory=dict)
    findings: dict[str, int] = field(default_factory=dict)
    loop_cuts: int = 0
    cost: dict[str, tuple[float, float]] = field(default_factory=dict)
    """Per item: prompt and completion tokens, requests, wall seconds -> (median, p90)."""

    @property
    def accuracy(self) -> float:
        return self.correct / self.n if self.n else 0.0

    @property
    def first_accuracy(self) -> float:
        return self.first_correct / self.n if self.n else 0.0

    @property
    def interval(self) -> tuple[float, float]:
        return wilson(self.correct, self.n)


def summarise(folder: Path) -> RunSummary:
    """Read a run folder (the last row per item counts).

    Raises:
        EvalError: no ``config.json`` or no results there.
    """
    run = RunFolder(folder)
    if not run.config_path.exists():
        raise EvalError(f"{folder}: not a run folder (no config.json)")
    config = json.loads(run.config_path.read_text("utf-8"))
    latest: dict[str, ResultRow] = {}
    for row in run.rows():
        latest[row["id"]] = row
    rows = list(latest.values())
    summary = RunSummary(folder.name, config, rows, n=len(rows))
    for row in rows:
        summary.correct += bool(row["correct"])
        summary.first_correct += bool(row["first_correct"])
        summary.fixed += bool(row["correct"]) and not row["first_correct"]
        summary.broken += bool(row["first_correct"]) and not row["correct"]
        summary.loop_cuts += int(row.get("loop_cuts", 0))
    summary.statuses = dict(Counter(row["status"] for row in rows))
    by_category: dict[str, list[bool]] = {}
    for row in rows:
        by_category.setdefault(row["category"] or "(none)", []).append(bool(row["correct"]))
    summary.categories = {k: (sum(v), len(v)) for k, v in sorted(by_category.items())}
    summary.tools = dict(Counter(name for row in rows for name in row["tool_calls"]))
    summary.findings = dict(Counter(name for row in rows for name in row["findings"]))
    measures = {
        "prompt tokens": [float(r["usage"].get("prompt_tokens", 0)) for r in rows],
        "completion tokens": [float(r["usage"].get("completion_tokens", 0)) for r in rows],
        "requests": [float(r["usage"].get("requests", 0)) for r in rows],
        "wall s": [float(r["wall_s"]) for r in rows],
    }
    summary.cost = {
        k: (statistics.median(v) if v else 0.0, _quantile(v, 0.9)) for k, v in measures.items()
    }
    return summary


@dataclass
class Paired:
    """Two runs on the items they share."""

    a: str
    b: str
    shared: int
    both_right: int
    both_wrong: int
    won: int
    """Items B got right and A wrong."""
    lost: int
    """Items B got wrong and A right."""

    @property
    def p_value(self) -> float:
        return mcnemar_exact(self.won, self.lost)


def paired(a: RunSummary, b: RunSummary) -> Paired:
    """The paired comparison of run ``b`` against run ``a``."""
    right_a = {r["id"]: bool(r["correct"]) for r in a.rows}
    right_b = {r["id"]: bool(r["correct"]) for r in b.rows}
    shared = sorted(set(right_a) & set(right_b))
    return Paired(
        a.name,
        b.name,
        len(shared),
        sum(right_a[i] and right_b[i] for i in shared),
        sum(not right_a[i] and not right_b[i] for i in shared),
        sum(right_b[i] and not right_a[i] for i in shared),
        sum(right_a[i] and not right_b[i] for i in shared),
    )


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def markdown(runs: list[RunSummary], pair: Paired | None) -> str:
    """``report.md``."""
    lines = ["# Evaluation report", ""]
    lines += [
        "| run | dataset | graph | model | items | accuracy | 95% CI | first answer | fixed | broken | errors |"
    ]
    lines += ["|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in runs:
        lo, hi = r.interval
        lines.append(
            f"| {r.name} | {r.config.get('dataset')} | {r.config.get('graph')} | "
            f"{r.config.get('model')} | {r.n} | {_pct(r.accuracy)} | {_pct(lo)}–{_pct(hi)} | "
            f"{_pct(r.first_accuracy)} | {r.fixed} | {r.broken} | {r.statuses.get('error', 0)} |"
        )
    for r in runs:
        lines += ["", f"## {r.name}", "", "| category | correct | items | accuracy | 95% CI |"]
        lines += ["|---|---|---|---|---|"]
        for category, (right, n) in r.categories.items():
            lo, hi = wilson(right, n)
            lines.append(
                f"| {category} | {right} | {n} | {_pct(right / n)} | {_pct(lo)}–{_pct(hi)} |"
            )
        lines += ["", "| per item | median | p90 |", "|---|---|---|"]
        for measure, (median, p90) in r.cost.items():
            lines.append(f"| {measure} | {median:g} | {p90:g} |")
        lines += [
            "",
            f"Statuses: {', '.join(f'{k} {v}' for k, v in sorted(r.statuses.items()))}. "
            f"Verifier: first answers {_pct(r.first_accuracy)} → final {_pct(r.accuracy)} "
            f"({r.fixed} fixed, {r.broken} broken). Loop cuts: {r.loop_cuts}.",
            f"Tool calls: {', '.join(f'{k} {v}' for k, v in sorted(r.tools.items())) or 'none'}. "
            f"Findings: {', '.join(f'{k} {v}' for k, v in sorted(r.findings.items())) or 'none'}.",
        ]
    if pair is not None:
        lines += [
            "",
            f"## Paired: {pair.b} vs {pair.a}",
            "",
            f"{pair.shared} shared items: both right {pair.both_right}, both wrong "
            f"{pair.both_wrong}, won {pair.won}, lost {pair.lost}; exact McNemar p = "
            f"{pair.p_value:.4g}.",
        ]
    return "\n".join(lines) + "\n"


def _plot(draw: Any) -> str:
    """A matplotlib figure drawn by ``draw(ax)``, as an inline PNG data URL."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6.4, 3.2), dpi=110)
    draw(axes)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def plots(runs: list[RunSummary]) -> dict[str, str]:
    """The report's plots: accuracy with intervals, the verifier's effect, tokens per item."""

    def accuracy(ax: Any) -> None:
        names = [r.name for r in runs]
        values = [100 * r.accuracy for r in runs]
        errors = [
            [100 * (r.accuracy - r.interval[0]) for r in runs],
            [100 * (r.interval[1] - r.accuracy) for r in runs],
        ]
        ax.bar(names, values, yerr=errors, capsize=6, color="#4c78a8")
        ax.set_ylabel("accuracy (%)")
        ax.set_ylim(0, 100)
        ax.set_title("Accuracy with 95% Wilson intervals")

    def verifier(ax: Any) -> None:
        x = range(len(runs))
        ax.bar(
            [i - 0.2 for i in x], [100 * r.first_accuracy for r in runs], 0.4, label="first answer"
        )
        ax.bar([i + 0.2 for i in x], [100 * r.accuracy for r in runs], 0.4, label="final answer")
        ax.set_xticks(list(x), [r.name for r in runs])
        ax.set_ylabel("accuracy (%)")
        ax.set_ylim(0, 100)
        ax.legend()
        ax.set_title("The verifier's effect")

    def tokens(ax: Any) -> None:
        data = [[r["usage"].get("completion_tokens", 0) for r in run.rows] or [0] for run in runs]
        ax.boxplot(data, tick_labels=[r.name for r in runs])
        ax.set_ylabel("completion tokens per item")
        ax.set_title("Cost per item")

    return {"accuracy": _plot(accuracy), "verifier": _plot(verifier), "tokens": _plot(tokens)}


def html(runs: list[RunSummary], pair: Paired | None) -> str:
    """``report.html``: self-contained (inline CSS and PNG plots, no external asset)."""
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(
        loader=PackageLoader("qvq_agent.eval", "templates"), autoescape=select_autoescape()
    )
    env.filters["pct"] = _pct
    env.globals["wilson"] = wilson
    return env.get_template("report.html.j2").render(runs=runs, pair=pair, plots=plots(runs))


def write_report(folders: list[Path], out: Path) -> tuple[list[RunSummary], Paired | None]:
    """Summarise one or two runs and write ``report.md`` and ``report.html`` into ``out``.

    Raises:
        EvalError: a folder that is not a run, more than two runs, or ``out`` not writable.
    """
    if not 1 <= len(folders) <= 2:
        raise EvalError("eval report takes one run folder, or two to compare")
    runs = [summarise(folder) for folder in folders]
    pair = paired(runs[0], runs[1]) if len(runs) == 2 else None
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / "report.md").write_text(markdown(runs, pair), "utf-8")
        (out / "report.html").write_text(html(runs, pair), "utf-8")
    except OSError as exc:
        raise EvalError(f"{out}: cannot write the report ({exc.strerror or exc})") from None
    return runs, pair
