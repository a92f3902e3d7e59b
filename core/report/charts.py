"""The report's charts as matplotlib Figures (Agg canvas; no pyplot, so no global state or GUI backend).

Every chart has a title, axis labels and the runs named (legend or tick labels), and a footer that
says which questions it is about. matplotlib is imported here only, and this module only when a report
is written, so importing ``core`` stays cheap.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ..analysis import Analysis, ConfigComparison
from .text import mebibytes, p_text

CHANCE = 0.25  # four choices


@dataclass(frozen=True)
class Chart:
    name: str  # file stem: <name>.png
    title: str
    figure: Any  # matplotlib.figure.Figure


def _colour(i: int) -> str:
    return f"C{i % 10}"


def _wrap(label: str, width: int = 18) -> str:
    """A run label broken into lines so neighbouring tick labels do not overlap."""
    return "\n".join(textwrap.wrap(label, width)) or label


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _footer(fig: Figure, analysis: Analysis, extra: str = "") -> None:
    runs = "; ".join(f"{r.label} = {r.path}" for r in analysis.runs)
    text = f"{analysis.questions} questions common to all runs ({', '.join(analysis.subjects)}). Runs: {runs}."
    if extra:
        text += " " + extra
    lines = textwrap.wrap(text, int(fig.get_figwidth() * 17))
    fig.text(0.01, 0.005, "\n".join(lines), ha="left", va="bottom", fontsize=7, color="0.3")
    bottom = (len(lines) * 8.5 + 6) / (fig.get_figheight() * 72)
    fig.get_layout_engine().set(rect=(0, bottom, 1, 1 - bottom))


def accuracy_overall(analysis: Analysis) -> Chart:
    runs = analysis.runs
    fig = _figure(max(6.0, 1.4 * len(runs) + 3), 4.8)
    ax = fig.add_subplot()
    for i, r in enumerate(runs):
        acc = r.overall.accuracy or 0.0
        ax.bar(i, 100 * acc, color=_colour(i))
        ax.errorbar(
            i, 100 * acc, yerr=[[100 * (acc - r.overall.ci_low)], [100 * (r.overall.ci_high - acc)]], color="black"
        )
        ax.annotate(f"{100 * acc:.1f}%", (i, 100 * r.overall.ci_high), ha="center", va="bottom", fontsize=9)
    ax.axhline(100 * CHANCE, color="0.4", linestyle="--", linewidth=1, label="chance (25%)")
    ax.set_xticks(range(len(runs)), [_wrap(r.label) for r in runs])
    ax.set_xlabel("run")
    ax.set_ylabel("accuracy (%), with 95% Wilson interval")
    ax.set_ylim(0, min(100, max(100 * r.overall.ci_high for r in runs) * 1.3 + 8))
    ax.legend(loc="upper right", fontsize=8)
    title = f"Overall accuracy on the {analysis.questions} common questions"
    fig.suptitle(title)
    _footer(fig, analysis)
    return Chart("accuracy_overall", title, fig)


def accuracy_by_subject(analysis: Analysis) -> Chart:
    runs, subjects = analysis.runs, list(analysis.subjects)
    height = max(3.5, 0.22 * len(subjects) * len(runs) + 0.3 * len(subjects) + 1.8)
    fig = _figure(9, height)
    ax = fig.add_subplot()
    step = 0.8 / len(runs)
    for i, r in enumerate(runs):
        ys = [j - 0.4 + step * (i + 0.5) for j in range(len(subjects))]
        accs = [r.subjects[s] for s in subjects]
        values = [100 * (a.accuracy or 0.0) for a in accs]
        err = [
            [100 * ((a.accuracy or 0) - a.ci_low) for a in accs],
            [100 * (a.ci_high - (a.accuracy or 0)) for a in accs],
        ]
        ax.barh(ys, values, height=step, color=_colour(i), label=r.label, xerr=err, error_kw={"linewidth": 0.8})
    ax.axvline(100 * CHANCE, color="0.4", linestyle="--", linewidth=1, label="chance (25%)")
    ax.set_yticks(range(len(subjects)), [f"{s} (n={analysis.runs[0].subjects[s].questions})" for s in subjects])
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel("accuracy (%), with 95% Wilson interval")
    ax.set_ylabel("subject")
    ax.legend(loc="lower right", fontsize=8)
    title = "Accuracy per subject, by run"
    fig.suptitle(title)
    _footer(fig, analysis)
    return Chart("accuracy_by_subject", title, fig)


def overlap(analysis: Analysis) -> Chart:
    tests = [analysis.overlap, analysis.overlap_by_letter]
    n_runs = len(analysis.runs)
    fig = _figure(max(10.0, 1.2 * n_runs + 8), 5.0)
    axes = fig.subplots(1, 2, sharey=True)
    for ax, test in zip(axes, tests, strict=True):
        ks = list(range(n_runs + 1))
        ax.bar([k - 0.2 for k in ks], test.observed, width=0.4, color="C3", label="observed")
        ax.bar([k + 0.2 for k in ks], test.expected, width=0.4, color="0.6", label="expected if independent")
        for k in ks:
            ax.annotate(str(test.observed[k]), (k - 0.2, test.observed[k]), ha="center", va="bottom", fontsize=8)
            ax.annotate(f"{test.expected[k]:.1f}", (k + 0.2, test.expected[k]), ha="center", va="bottom", fontsize=8)
        ax.set_xticks(ks)
        ax.set_xlabel(f"number of runs (of {n_runs}) that got the question wrong")
        ax.set_ylabel("questions")
        rates = "per-subject" if test.strata == "subject" else "per-subject-and-right-letter"
        ax.set_title(
            f"null: independent errors at {rates} rates\n"
            f"shared mistakes: {test.shared_wrong} observed vs {test.shared_wrong_expected:.1f} expected\n"
            f"permutation test {p_text(test.p_value, test.p_floor)} ({test.verdict})",
            fontsize=9,
        )
        ax.legend(fontsize=8)
    title = "How many runs got each question wrong: observed vs independent errors"
    fig.suptitle(title)
    _footer(
        fig,
        analysis,
        f"Two-sided permutation test, {analysis.overlap.permutations} within-stratum shuffles, seed "
        f"{analysis.overlap.seed}.",
    )
    return Chart("overlap", title, fig)


def _heatmap(
    analysis: Analysis, field: str, name: str, title: str, vmin: float, vmax: float, cmap: str, what: str
) -> Chart:
    labels = analysis.labels
    matrix = analysis.matrix(field)
    size = max(5.0, 1.1 * len(labels) + 3)
    fig = _figure(size + 1.5, size)
    ax = fig.add_subplot()
    values = [[float("nan") if v is None else v for v in row] for row in matrix]
    image = ax.imshow(values, vmin=vmin, vmax=vmax, cmap=cmap)
    for i, row in enumerate(matrix):
        for j, v in enumerate(row):
            text = "-" if v is None else f"{v:.2f}"
            t = None if v is None else (v - vmin) / (vmax - vmin)
            dark = t is not None and (t < 0.5 if cmap == "viridis" else (t < 0.2 or t > 0.8))
            colour = "white" if dark else "black"
            ax.text(j, i, text, ha="center", va="center", color=colour, fontsize=10)
    ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("run")
    ax.set_ylabel("run")
    fig.colorbar(image, ax=ax, label=what, shrink=0.8)
    fig.suptitle(title)
    _footer(fig, analysis)
    return Chart(name, title, fig)


def jaccard(analysis: Analysis) -> Chart:
    return _heatmap(
        analysis,
        "jaccard",
        "pairwise_jaccard",
        "Overlap of wrong answers between runs (Jaccard)",
        0.0,
        1.0,
        "viridis",
        "Jaccard = both wrong / either wrong",
    )


def kappa(analysis: Analysis) -> Chart:
    return _heatmap(
        analysis,
        "kappa",
        "pairwise_kappa",
        "Agreement beyond chance on right/wrong between runs (Cohen's kappa)",
        -1.0,
        1.0,
        "RdBu",
        "Cohen's kappa on correct/incorrect",
    )


def letters(analysis: Analysis) -> Chart:
    bias = analysis.letters
    fig = _figure(max(8.0, 1.2 * len(bias) + 6), 4.8)
    ax = fig.add_subplot()
    letters_ = list("ABCD")
    width = 0.8 / (len(bias) + 1)
    xs = range(len(letters_))
    truth = [100 * bias[0].share(x, "truth") for x in letters_]
    ax.bar([x - 0.4 + width / 2 for x in xs], truth, width=width, color="0.75", hatch="//", label="right answers")
    for i, b in enumerate(bias):
        ax.bar(
            [x - 0.4 + width * (i + 1.5) for x in xs],
            [100 * b.share(x) for x in letters_],
            width=width,
            color=_colour(i),
            label=f"{b.label} (chi-square {p_text(b.p_value)})",
        )
    ax.set_xticks(list(xs), letters_)
    ax.set_xlabel("answer letter")
    ax.set_ylabel("share of the common questions (%)")
    ax.set_ylim(0, 105)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
    title = "Answer-letter bias: predicted letters vs right letters"
    fig.suptitle(title)
    _footer(fig, analysis, "Chi-square goodness of fit of each run's letters to the right letters' shares.")
    return Chart("letter_bias", title, fig)


def configs(analysis: Analysis, comparison: ConfigComparison) -> Chart:
    rows = comparison.rows
    fig = _figure(max(10.0, 1.5 * len(rows) + 7), 8)
    axes = fig.subplots(2, 2).ravel()
    xs = list(range(len(rows)))

    def grouped(ax: Any, series: Sequence[tuple[str, list[float | None]]], unit: str) -> None:
        present = [(name, vals) for name, vals in series if any(v is not None for v in vals)]
        w = 0.8 / max(1, len(present))
        for n, (name, vals) in enumerate(present):
            pos = [x - 0.4 + w * (n + 0.5) for x in xs]
            ax.bar(pos, [v or 0.0 for v in vals], width=w, label=name, color=f"C{n + 4}")
            for p, v in zip(pos, vals, strict=True):
                if v is not None:
                    ax.annotate(f"{v:,.0f}" if v >= 100 else f"{v:.3g}", (p, v), ha="center", va="bottom", fontsize=7)
        ax.set_ylabel(unit)
        if present:
            ax.legend(fontsize=7)
        else:
            ax.text(0.5, 0.5, "not measured", transform=ax.transAxes, ha="center")

    def ratio_labels(metric: str) -> list[str]:
        ratios = [r.ratios.get(metric) for r in rows]
        return [_wrap(r.label) + ("" if x is None else f"\n(x{x:.2f})") for r, x in zip(rows, ratios, strict=True)]

    ax = axes[0]
    grouped(
        ax,
        [("wall", [r.wall_s for r in rows]), ("CPU", [r.cpu_s for r in rows]), ("GPU", [r.gpu_s for r in rows])],
        "seconds",
    )
    ax.set_title("time to score the compared questions", fontsize=10)
    ax.set_xticks(xs, ratio_labels("wall_s"), fontsize=8)
    ax.set_xlabel("run (wall-time ratio to baseline)")

    ax = axes[1]
    for i, r in enumerate(rows):
        ax.bar(i, r.questions_per_s or 0.0, color=_colour(i))
        if r.questions_per_s is not None:
            ax.annotate(f"{r.questions_per_s:.3g}", (i, r.questions_per_s), ha="center", va="bottom", fontsize=8)
    ax.set_title("throughput", fontsize=10)
    ax.set_ylabel("questions per second")
    ax.set_xticks(xs, ratio_labels("questions_per_s"), fontsize=8)
    ax.set_xlabel("run (ratio to baseline)")

    ax = axes[2]
    grouped(
        ax,
        [
            ("peak RSS", [mebibytes(r.peak_rss_bytes) for r in rows]),
            ("peak GPU", [mebibytes(r.peak_gpu_bytes) for r in rows]),
            ("model", [mebibytes(r.model_bytes) for r in rows]),
        ],
        "MiB",
    )
    ax.set_title("memory", fontsize=10)
    ax.set_xticks(xs, ratio_labels("peak_rss_bytes"), fontsize=8)
    ax.set_xlabel("run (peak-RSS ratio to baseline)")

    ax = axes[3]
    for i, r in enumerate(rows):
        acc = r.accuracy or 0.0
        ax.bar(i, 100 * acc, color=_colour(i))
        ax.errorbar(i, 100 * acc, yerr=[[100 * (acc - r.ci_low)], [100 * (r.ci_high - acc)]], color="black")
    ax.axhline(100 * CHANCE, color="0.4", linestyle="--", linewidth=1)
    ax.set_title("accuracy (95% Wilson interval; dashed: chance)", fontsize=10)
    ax.set_ylabel("accuracy (%)")
    ax.set_xticks(
        xs,
        [_wrap(r.label) + ("" if r.accuracy_delta is None else f"\n({100 * r.accuracy_delta:+.1f} pts)") for r in rows],
        fontsize=8,
    )
    ax.set_xlabel("run (difference to baseline)")
    title = f"Time, memory and accuracy by configuration (baseline: {comparison.baseline})"
    fig.suptitle(title)
    described = "; ".join(f"{r.label}: {r.model} {r.device} {r.dtype} quant={r.quant}" for r in rows)
    _footer(fig, analysis, f"Configurations: {described}. {' '.join(comparison.notes)}")
    return Chart("configurations", title, fig)


BUILDERS: tuple[Callable[[Analysis], Chart], ...] = (
    accuracy_overall,
    accuracy_by_subject,
    overlap,
    jaccard,
    kappa,
    letters,
)


def all_charts(analysis: Analysis, comparison: ConfigComparison) -> list[Chart]:
    return [build(analysis) for build in BUILDERS] + [configs(analysis, comparison)]
