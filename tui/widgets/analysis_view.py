"""Renderers for `core.analysis` results: plotext charts and rich tables for the compare screen."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text
from textual_plotext import PlotextPlot

from core.analysis import VERDICTS, ConfigComparison
from core.analysis.mistakes import Analysis, OverlapTest

from ..format import human_bytes, percent, seconds
from .charts import drawing


def p_text(p: float | None, floor: float | None = None) -> str:
    if p is None:
        return "-"
    if floor is not None and p <= floor:
        return f"<= {floor:.1e}"
    return f"{p:.3g}" if p >= 1e-3 else f"{p:.1e}"


def overlap_chart(plot: PlotextPlot, test: OverlapTest, title: str) -> None:
    with drawing(plot) as plt:
        ks = [str(k) for k in range(len(test.observed))]
        plt.multiple_bar(
            ks,
            [list(test.observed), [round(x, 1) for x in test.expected]],
            labels=["observed", "expected if independent"],
        )
        plt.title(title)
        plt.xlabel("number of runs that got the question wrong")


def overlap_summary(analysis: Analysis) -> Text:
    text = Text()
    for name, test in (
        ("per-subject error rates", analysis.overlap),
        ("per-subject-and-right-letter rates (letter bias taken out)", analysis.overlap_by_letter),
    ):
        style = {"shared": "bold red", "avoided": "bold yellow", "independent": "bold green"}[test.verdict]
        text.append(f"null: independent errors at {name}\n", style="dim")
        text.append(f"  {VERDICTS[test.verdict]}\n", style=style)
        text.append(
            f"  shared mistakes {test.shared_wrong} observed vs {test.shared_wrong_expected:.1f} expected; "
            f"permutation p {p_text(test.p_value, test.p_floor)} ({test.permutations} shuffles)\n"
        )
    text.append(f"{analysis.questions} questions common to {len(analysis.runs)} runs", style="dim")
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
    return table


def letters_chart(plot: PlotextPlot, analysis: Analysis) -> None:
    with drawing(plot) as plt:
        letters = ["A", "B", "C", "D"]
        series = [[100 * lb.predicted.get(L, 0) / lb.questions for L in letters] for lb in analysis.letters]
        truth = analysis.letters[0]
        series.append([100 * truth.truth.get(L, 0) / truth.questions for L in letters])
        plt.multiple_bar(letters, series, labels=[lb.label for lb in analysis.letters] + ["right answers"])
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
