"""The models x tasks pages: a heatmap of each task's primary metric, grouped bars with 95% intervals, and the
time each model took per task (wall seconds and documents per second).

Each chart names every task with its primary metric (tick labels "MMLU\\n[mmlu, acc]") and says in its footer
what each metric measures, how the intervals are made and which run each cell is.
"""

from __future__ import annotations

from typing import Any

from ..analysis import TaskMatrix, describe_metric
from .figure import Chart, colour, figure, footer, wrap
from .figure import title as set_title

NAN = float("nan")


def task_tick(matrix: TaskMatrix, task: str) -> str:
    return f"{wrap(matrix.titles.get(task, task), 14)}\n[{task}, {matrix.metrics.get(task, '?')}]"


def _footer(fig: Any, matrix: TaskMatrix, extra: str = "") -> None:
    metrics = "; ".join(
        f"{matrix.titles.get(t, t)} [{t}]: {matrix.metrics[t]} = {describe_metric(t, matrix.metrics[t])}"
        for t in matrix.tasks
    )
    cells = [matrix.cells[(m, t)] for m in matrix.models for t in matrix.tasks if (m, t) in matrix.cells]
    runs = "; ".join(f"{c.model} on {c.task} = {c.path}" for c in cells[:12])
    if len(cells) > 12:
        runs += f"; ... and {len(cells) - 12} more (report.md lists them)"
    partial = [c for c in cells if not c.complete]
    text = f"Each cell is one run, over the documents it answered. Metrics: {metrics}. Runs: {runs}."
    if partial:
        text += " * = unfinished run (" + ", ".join(f"{c.model} on {c.task}" for c in partial) + ")."
    footer(fig, text + (" " + extra if extra else ""))


def heatmap(matrix: TaskMatrix, name: str = "matrix_heatmap") -> Chart:
    models, tasks = matrix.models, matrix.tasks
    fig = figure(max(7.0, 1.25 * len(tasks) + 4.5), max(4.5, 0.6 * len(models) + 3.2))
    ax = fig.add_subplot()
    values = [[NAN if (v := matrix.value(m, t)) is None else 100 * v for t in tasks] for m in models]
    image = ax.imshow(values, vmin=0, vmax=100, cmap="viridis", aspect="auto")
    for i, m in enumerate(models):
        for j, t in enumerate(tasks):
            cell = matrix.cell(m, t)
            if cell is None or cell.value is None:
                ax.text(j, i, "-", ha="center", va="center", color="black", fontsize=10)
                continue
            star = "" if cell.complete else "*"
            colour_ = "white" if cell.value < 0.5 else "black"
            ax.text(j, i, f"{100 * cell.value:.1f}{star}", ha="center", va="center", color=colour_, fontsize=10)
            ax.text(j, i + 0.3, f"n={cell.answered}", ha="center", va="center", color=colour_, fontsize=6.5)
    ax.set_xticks(range(len(tasks)), [task_tick(matrix, t) for t in tasks], fontsize=8)
    ax.set_yticks(range(len(models)), [wrap(m, 28) for m in models], fontsize=8)
    ax.set_xlabel("task [name, primary metric]")
    ax.set_ylabel("model and configuration")
    fig.colorbar(image, ax=ax, label="primary metric (%)", shrink=0.8)
    title = "Models x tasks: each task's primary metric (%)"
    set_title(fig, title)
    _footer(fig, matrix, "n = documents answered; '-' = no run of that model on that task.")
    return Chart(name, title, fig, "matrix_heatmap")


def _positions(matrix: TaskMatrix, present: Any) -> tuple[dict[tuple[str, str], float], float]:
    """x of each (model, task) bar: the models present in a task side by side, centred on the task's tick, one
    bar width for the whole chart (the most models any task has share 0.8 of a tick)."""
    groups = [[m for m in matrix.models if present(m, t)] for t in matrix.tasks]
    width = 0.8 / max(1, max((len(g) for g in groups), default=1))
    xs = {}
    for j, (t, group) in enumerate(zip(matrix.tasks, groups, strict=True)):
        start = j - width * len(group) / 2
        for n, m in enumerate(group):
            xs[(m, t)] = start + width * (n + 0.5)
    return xs, width


def bars(matrix: TaskMatrix, name: str = "matrix_bars") -> Chart:
    models, tasks = matrix.models, matrix.tasks
    fig = figure(max(8.0, 0.35 * len(models) * len(tasks) + 0.8 * len(tasks) + 4), 5.6)
    ax = fig.add_subplot()
    labelled = len(matrix.cells) <= 30
    chance_drawn = False
    named: set[str] = set()  # models with a legend entry
    xs, width = _positions(matrix, lambda m, t: matrix.value(m, t) is not None)
    for j, t in enumerate(tasks):
        for i, m in enumerate(models):
            cell = matrix.cell(m, t)
            if cell is None or cell.value is None:
                continue
            v, x = 100 * cell.value, xs[(m, t)]
            ax.bar(x, v, width=width, color=colour(i), label=None if m in named else m)
            named.add(m)
            if cell.ci_low is not None and cell.ci_high is not None:
                err = [[v - 100 * cell.ci_low], [100 * cell.ci_high - v]]
                ax.errorbar(x, v, yerr=err, color="black", linewidth=0.8, capsize=2)
            if labelled:
                top = 100 * (cell.ci_high if cell.ci_high is not None else cell.value)
                ax.annotate(f"{v:.1f}", (x, top), ha="center", va="bottom", fontsize=7)
        chance = next((c.chance for c in matrix.runs_of(t) if c.chance is not None), None)
        if chance is not None:
            ax.hlines(
                100 * chance,
                j - 0.45,
                j + 0.45,
                colors="0.3",
                linestyles="--",
                linewidth=1,
                label="_nolegend_" if chance_drawn else "chance (uniform random choice)",
            )
            chance_drawn = True
    ax.set_xticks(range(len(tasks)), [task_tick(matrix, t) for t in tasks], fontsize=8)
    ax.set_xlim(-0.5, len(tasks) - 0.5)
    ax.set_xlabel("task [name, primary metric]")
    ax.set_ylabel("primary metric (%), with 95% interval")
    ax.set_ylim(0, 105)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1), title="model", title_fontsize=8)
    title = "Models x tasks: primary metric per task, by model"
    set_title(fig, title)
    methods = {c.ci_method for c in matrix.cells.values()}
    how = "Wilson 95% intervals on documents right / answered"
    if "normal" in methods:
        how += "; for fractional metrics (TruthfulQA MC2) mean +- 1.96 standard errors of the per-document values"
    _footer(fig, matrix, how + ".")
    return Chart(name, title, fig, "matrix_bars")


def _grouped(ax: Any, matrix: TaskMatrix, values: dict[tuple[str, str], float | None], unit: str) -> None:
    present = [v for v in values.values() if v]
    log = bool(present) and max(present) / min(present) > 30
    xs, width = _positions(matrix, lambda m, t: bool(values.get((m, t))))
    named: set[str] = set()
    for t in matrix.tasks:
        for i, m in enumerate(matrix.models):
            v = values.get((m, t))
            if not v:
                continue
            x = xs[(m, t)]
            ax.bar(x, v, width=width, color=colour(i), label=None if m in named else m)
            named.add(m)
            ax.annotate(f"{v:,.0f}" if v >= 100 else f"{v:.3g}", (x, v), ha="center", va="bottom", fontsize=7)
    if log:
        ax.set_yscale("log")
    ax.set_ylabel(unit + (" (log scale)" if log else ""))
    if not present:
        ax.text(0.5, 0.5, "not measured", transform=ax.transAxes, ha="center")
    ax.set_xticks(range(len(matrix.tasks)), [task_tick(matrix, t) for t in matrix.tasks], fontsize=8)
    ax.set_xlim(-0.5, len(matrix.tasks) - 0.5)
    ax.set_xlabel("task [name, primary metric]")


def time_per_task(matrix: TaskMatrix, name: str = "matrix_time") -> Chart:
    fig = figure(max(8.0, 0.35 * len(matrix.models) * len(matrix.tasks) + 0.8 * len(matrix.tasks) + 4), 8.5)
    top, bottom = fig.subplots(2, 1)
    walls = {k: c.wall_s for k, c in matrix.cells.items()}
    rates = {k: c.questions_per_s for k, c in matrix.cells.items()}
    _grouped(top, matrix, walls, "wall seconds")
    top.set_title("wall-clock time to score the task's documents (model load excluded)", fontsize=10)
    _grouped(bottom, matrix, rates, "documents per second")
    bottom.set_title("throughput: documents scored per second of wall time", fontsize=10)
    top.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1), title="model", title_fontsize=8)
    title = "Models x tasks: time per task"
    set_title(fig, title)
    cells = [matrix.cells[(m, t)] for m in matrix.models for t in matrix.tasks if (m, t) in matrix.cells]
    work = "; ".join(f"{c.model} on {c.task}: {c.answered} documents, {c.shots}-shot" for c in cells[:12])
    work = f"Work per run: {work}." if len(cells) <= 12 else "Documents and shots per run: see report.md."
    _footer(fig, matrix, f"{work} Runs on different machines are not comparable in time.")
    return Chart(name, title, fig, "matrix_time")


def matrix_charts(matrix: TaskMatrix) -> list[Chart]:
    return [heatmap(matrix), bars(matrix), time_per_task(matrix)]


__all__ = ["bars", "heatmap", "matrix_charts", "task_tick", "time_per_task"]
