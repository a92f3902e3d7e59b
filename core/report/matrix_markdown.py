"""The models x tasks part of the Markdown report: the grid of primary metrics (with n and the 95% interval),
what each metric measures, and a table of every run with its cost."""

from __future__ import annotations

from ..analysis import MatrixCell, TaskMatrix, describe_metric
from .text import interval, md_table, num, pct

CI_WORDS = {
    "wilson": "Wilson 95% interval on documents right / answered",
    "normal": "mean +- 1.96 standard errors of the per-document values (a normal interval)",
    "none": "no interval",
}


def _value(cell: MatrixCell | None) -> str:
    if cell is None:
        return "-"
    star = "" if cell.complete else " (unfinished)"
    return f"{pct(cell.value)} {interval(cell.ci_low, cell.ci_high)} n={cell.answered}{star}"


def matrix_lines(matrix: TaskMatrix, images: dict[str, str], level: int = 2) -> list[str]:
    """The models x tasks tables; ``images``: chart kind -> PNG file name, for the charts written."""
    h = "#" * level
    md = [f"{h} Models x tasks", ""]
    md += [
        "Each cell is one run: the task's primary metric over the documents the run answered, its 95% interval "
        "and n (documents answered). A row is a model and configuration; runs of one model that differ in "
        "configuration are separate rows, never averaged.",
        "",
    ]
    header = ["model", *(f"{matrix.titles.get(t, t)} [{t}, {matrix.metrics.get(t, '?')}]" for t in matrix.tasks)]
    md += md_table(header, [[m, *(_value(matrix.cell(m, t)) for t in matrix.tasks)] for m in matrix.models])
    md += ["Metrics:", ""]
    for t in matrix.tasks:
        metric = matrix.metrics.get(t, "?")
        methods = sorted({c.ci_method for c in matrix.runs_of(t)})
        how = "; ".join(CI_WORDS.get(x, x) for x in methods)
        md.append(f"- {matrix.titles.get(t, t)} [{t}]: {metric} = {describe_metric(t, metric)} ({how}).")
    md.append("")
    for kind, alt in (("matrix_heatmap", "models x tasks heatmap"), ("matrix_bars", "models x tasks bars")):
        if kind in images:
            md += [f"![{alt}]({images[kind]})", ""]

    md += [f"{h} Time per task", ""]
    md += [
        "Wall-clock seconds spent scoring (model load excluded) and documents per second of that time, per run.",
        "",
    ]
    rows = []
    for m in matrix.models:
        for t in matrix.tasks:
            c = matrix.cell(m, t)
            if c is None:
                continue
            rows.append(
                [m, t, c.shots, f"{c.answered}/{c.total}", c.metric, pct(c.value), num(c.wall_s),
                 num(c.questions_per_s), c.path]
            )  # fmt: skip
    md += md_table(["model", "task", "shots", "answered", "metric", "value", "wall s", "documents/s", "folder"], rows)
    if "matrix_time" in images:
        md += [f"![time per task]({images['matrix_time']})", ""]
    return md
