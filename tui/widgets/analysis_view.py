"""Renderers for `core.analysis` results: plotext charts and rich tables for the compare screen (mistakes,
pairs, letters and configurations of runs of one task; the models x tasks matrix)."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text
from textual_plotext import PlotextPlot

from core.analysis import VERDICTS, ConfigComparison, TaskMatrix, describe_metric
from core.analysis.mistakes import Analysis, OverlapTest

from ..format import human_bytes, metric_short, percent, seconds
from .charts import PERCENT_TICKS, drawing
from .legend_plot import grouped_bars


def p_text(p: float | None, floor: float | None = None) -> str:
    if p is None:
        return "-"
    if floor is not None and p <= floor:
        return f"<= {floor:.1e}"
    return f"{p:.3g}" if p >= 1e-3 else f"{p:.1e}"


def overlap_chart(plot: PlotextPlot, test: OverlapTest, title: str) -> None:
    with drawing(plot) as plt:
        ks = [str(k) for k in range(len(test.observed))]
        expected = [round(x, 1) for x in test.expected]
        grouped_bars(plot, plt, ks, [list(test.observed), expected], ["observed", "expected if independent"])
        plt.title(title)
        plt.xlabel("number of runs that got the question wrong")


def overlap_summary(analysis: Analysis) -> Text:
    text = Text()
    label = analysis.subset_label
    text.append(f"{analysis.task_title}: right or wrong by {analysis.metric}\n", style="bold")
    tests: list[tuple[str, OverlapTest]] = [(f"per-{label} error rates", analysis.overlap)]
    if analysis.overlap_by_letter is not None:
        tests.append((f"per-{label}-and-right-letter rates (letter bias taken out)", analysis.overlap_by_letter))
    for name, test in tests:
        style = {"shared": "bold red", "avoided": "bold yellow", "independent": "bold green"}[test.verdict]
        text.append(f"null: independent errors at {name}\n", style="dim")
        text.append(f"  {VERDICTS[test.verdict]}\n", style=style)
        text.append(
            f"  shared mistakes {test.shared_wrong} observed vs {test.shared_wrong_expected:.1f} expected; "
            f"permutation p {p_text(test.p_value, test.p_floor)} ({test.permutations} shuffles)\n"
        )
    if analysis.letters_note:
        text.append(f"letter-bias test: {analysis.letters_note}\n", style="dim")
    text.append(f"{analysis.questions} documents common to {len(analysis.runs)} runs", style="dim")
    return text


def pairs_table(analysis: Analysis) -> Table:
    table = Table(title="pairs of runs (on common questions)", title_justify="left")
    for col in ("run A", "run B", "Jaccard", "agree", "kappa", "same wrong letter", "chance", "acc A-B", "McNemar p"):
        table.add_column(col, justify="left" if col.startswith("run") else "right")
    for p in analysis.pairs:
        table.add_row(
            p.a,
            p.b,
            "-" if p.jaccard is None else f"{p.jaccard:.3f}",
            percent(p.agreement),
            "-" if p.kappa is None else f"{p.kappa:.3f}",
            percent(p.same_wrong_letter_rate),
            percent(p.same_wrong_letter_chance),
            f"{100 * p.difference:+.1f} pt",
            p_text(p.mcnemar.p_value),
        )
    table.caption = "kappa on correct/incorrect; McNemar exact below 25 discordant questions, else chi-square"
    if analysis.letters_note:
        table.caption += f"; same wrong letter: {analysis.letters_note}"
    return table


def letters_chart(plot: PlotextPlot, analysis: Analysis) -> None:
    with drawing(plot) as plt:
        if not analysis.letters:
            plt.title(f"letter bias: {analysis.letters_note or 'no letters'}")
            return
        letters = list(analysis.letters[0].truth)
        series = [[100 * lb.predicted.get(L, 0) / lb.questions for L in letters] for lb in analysis.letters]
        truth = analysis.letters[0]
        series.append([100 * truth.truth.get(L, 0) / truth.questions for L in letters])
        grouped_bars(plot, plt, letters, series, [lb.label for lb in analysis.letters] + ["right answers"])
        plt.title("how often each run answers each letter (%)")


def configs_table(comparison: ConfigComparison) -> Table:
    table = Table(
        title=f"configurations; baseline: {comparison.baseline} ({comparison.baseline_reason})", title_justify="left"
    )
    for col in ("run", "accuracy", "wall", "x", "CPU", "GPU", "q/s", "x", "weights", "peak RSS", "x", "load"):
        table.add_column(col, justify="left" if col == "run" else "right")

    def ratio(row: Any, metric: str) -> str:
        value = row.ratios.get(metric)
        return "-" if value is None else f"{value:.2f}"

    for row in comparison.rows:
        table.add_row(
            row.label,
            percent(row.accuracy),
            seconds(row.wall_s),
            ratio(row, "wall_s"),
            seconds(row.cpu_s),
            seconds(row.gpu_s),
            "-" if row.questions_per_s is None else f"{row.questions_per_s:.1f}",
            ratio(row, "questions_per_s"),
            human_bytes(row.model_bytes),
            human_bytes(row.peak_rss_bytes),
            ratio(row, "peak_rss_bytes"),
            seconds(row.load_s),
        )
    if comparison.notes:
        table.caption = " ".join(comparison.notes)
    return table


def heat(value: float | None, text: str | None = None) -> Text:
    """A cell coloured red (0%) -> yellow (50%) -> green (100%)."""
    if value is None:
        return Text("-")
    red = int(255 * min(1.0, 2 * (1 - value)))
    green = int(255 * min(1.0, 2 * value))
    return Text(text or f" {100 * value:5.1f} ", style=f"black on rgb({red},{green},60)")


def matrix_table(matrix: TaskMatrix) -> Table:
    """Models x tasks: each cell the task's primary metric (%) and the half-width of its 95% interval."""
    table = Table(title="primary metric (%) ± 95% interval", title_justify="left", caption_justify="left")
    table.add_column("model")
    for t in matrix.tasks:
        table.add_column(f"{t}\n{metric_short(matrix.metrics.get(t, ''))}", justify="right")
    for m in matrix.models:
        cells = []
        for t in matrix.tasks:
            c = matrix.cell(m, t)
            if c is None or c.value is None:
                cells.append(Text("-", style="dim"))
                continue
            half = ""
            if c.ci_low is not None and c.ci_high is not None:
                half = f" ±{100 * (c.ci_high - c.ci_low) / 2:.1f}"
            partial = "*" if not c.complete else " "
            cells.append(heat(c.value, f" {100 * c.value:.1f}{half}{partial}"))
        table.add_row(m, *cells)
    chances = []
    for t in matrix.tasks:
        values = [c.chance for c in matrix.runs_of(t) if c.chance is not None]
        chances.append(Text("-" if not values else f"{100 * values[0]:.1f}", style="dim"))
    table.add_row(Text("chance (random pick)", style="dim"), *chances)
    notes = [f"{t}: {describe_metric(t, matrix.metrics[t])}" for t in matrix.tasks if t in matrix.metrics]
    partial = any(not c.complete for c in matrix.cells.values())
    table.caption = "\n".join(notes + (["* partial run (not every document answered)"] if partial else []))
    return table


def matrix_bars(plot: PlotextPlot, matrix: TaskMatrix) -> None:
    """Grouped bars: one group per task, one bar per model (a missing run draws as 0)."""
    with drawing(plot) as plt:
        series = [[100 * (matrix.value(m, t) or 0) for t in matrix.tasks] for m in matrix.models]
        grouped_bars(plot, plt, list(matrix.tasks), series, list(matrix.models))
        plt.ylim(0, 100)
        plt.yticks(PERCENT_TICKS)
        plt.title("each task's primary metric (%), per model")
