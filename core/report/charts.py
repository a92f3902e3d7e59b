"""The report's per-task charts (runs of one task on their common documents) as matplotlib Figures.

Every chart names the task and its primary metric in the title, labels both axes, names the runs (legend or
tick labels), and has a footer that says which documents it is about and what was measured. No pyplot (so no
global state or GUI backend); matplotlib is imported only when a report is written.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ..analysis import Analysis, ConfigComparison, describe_metric
from .figure import Chart, colour, figure, footer, wrap
from .figure import title as set_title
from .text import mebibytes, p_text


def task_tag(analysis: Analysis) -> str:
    """ "MMLU [mmlu, acc]": the task and the metric that decides right/wrong, for titles."""
    return f"{analysis.task_title} [{analysis.task}, {analysis.metric}]"


def _rates_words(analysis: Analysis, strata: str) -> str:
    unit = analysis.subset_label
    return f"per-{unit}" if strata == "subset" else f"per-{unit}-and-right-letter"


def _footer(fig: Any, analysis: Analysis, extra: str = "") -> None:
    runs = "; ".join(f"{r.label} = {r.path}" for r in analysis.runs)
    text = (
        f"Task {analysis.task_title} ({analysis.task}); primary metric {analysis.metric}: "
        f"{describe_metric(analysis.task, analysis.metric)}; a document counts as right when its {analysis.metric} "
        "is 1. "
        f"{analysis.questions} documents common to all runs ({', '.join(analysis.subsets)}). Runs: {runs}."
    )
    if analysis.notices:
        text += " Note: " + "; ".join(analysis.notices) + "."
    footer(fig, text + (" " + extra if extra else ""))


def _chance_line(ax: Any, analysis: Analysis, vertical: bool = False) -> None:
    if analysis.chance is None:
        return
    line = ax.axvline if vertical else ax.axhline
    line(
        100 * analysis.chance, color="0.4", linestyle="--", linewidth=1, label=f"chance ({100 * analysis.chance:.1f}%)"
    )


def accuracy_overall(analysis: Analysis, name: str = "accuracy_overall") -> Chart:
    runs = analysis.runs
    fig = figure(max(6.0, 1.4 * len(runs) + 3), 4.8)
    ax = fig.add_subplot()
    for i, r in enumerate(runs):
        acc = r.overall.accuracy or 0.0
        ax.bar(i, 100 * acc, color=colour(i))
        ax.errorbar(
            i, 100 * acc, yerr=[[100 * (acc - r.overall.ci_low)], [100 * (r.overall.ci_high - acc)]], color="black"
        )
        ax.annotate(f"{100 * acc:.1f}%", (i, 100 * r.overall.ci_high), ha="center", va="bottom", fontsize=9)
    _chance_line(ax, analysis)
    ax.set_xticks(range(len(runs)), [wrap(r.label) for r in runs])
    ax.set_xlabel("run")
    ax.set_ylabel("documents right (%), with 95% Wilson interval")
    ax.set_ylim(0, min(100, max(100 * r.overall.ci_high for r in runs) * 1.3 + 8))
    if analysis.chance is not None:
        ax.legend(loc="upper right", fontsize=8)
    title = f"{task_tag(analysis)}: overall accuracy on the {analysis.questions} common documents"
    set_title(fig, title)
    _footer(fig, analysis)
    return Chart(name, title, fig, "accuracy_overall")


def accuracy_by_subset(analysis: Analysis, name: str = "") -> Chart:
    runs, subsets = analysis.runs, list(analysis.subsets)
    unit = analysis.subset_label
    height = max(3.5, 0.22 * len(subsets) * len(runs) + 0.3 * len(subsets) + 1.8)
    fig = figure(9, height)
    ax = fig.add_subplot()
    step = 0.8 / len(runs)
    for i, r in enumerate(runs):
        ys = [j - 0.4 + step * (i + 0.5) for j in range(len(subsets))]
        accs = [r.subsets[s] for s in subsets]
        values = [100 * (a.accuracy or 0.0) for a in accs]
        err = [
            [100 * ((a.accuracy or 0) - a.ci_low) for a in accs],
            [100 * (a.ci_high - (a.accuracy or 0)) for a in accs],
        ]
        ax.barh(ys, values, height=step, color=colour(i), label=r.label, xerr=err, error_kw={"linewidth": 0.8})
    _chance_line(ax, analysis, vertical=True)
    ax.set_yticks(range(len(subsets)), [f"{s} (n={analysis.runs[0].subsets[s].questions})" for s in subsets])
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel("documents right (%), with 95% Wilson interval")
    ax.set_ylabel(unit)
    ax.legend(loc="lower right", fontsize=8)
    title = f"{task_tag(analysis)}: accuracy per {unit}, by run"
    set_title(fig, title)
    _footer(fig, analysis)
    return Chart(name or f"accuracy_by_{unit}", title, fig, "accuracy_by_subset")


def overlap(analysis: Analysis, name: str = "overlap") -> Chart:
    tests = [t for t in (analysis.overlap, analysis.overlap_by_letter) if t is not None]
    n_runs = len(analysis.runs)
    fig = figure(max(10.0 if len(tests) > 1 else 7.0, 1.2 * n_runs * len(tests) + 4), 5.0)
    axes = fig.subplots(1, len(tests), sharey=True, squeeze=False)[0]
    for ax, test in zip(axes, tests, strict=True):
        ks = list(range(n_runs + 1))
        ax.bar([k - 0.2 for k in ks], test.observed, width=0.4, color="C3", label="observed")
        ax.bar([k + 0.2 for k in ks], test.expected, width=0.4, color="0.6", label="expected if independent")
        for k in ks:
            ax.annotate(str(test.observed[k]), (k - 0.2, test.observed[k]), ha="center", va="bottom", fontsize=8)
            ax.annotate(f"{test.expected[k]:.1f}", (k + 0.2, test.expected[k]), ha="center", va="bottom", fontsize=8)
        ax.set_xticks(ks)
        ax.set_xlabel(f"number of runs (of {n_runs}) that got the document wrong")
        ax.set_ylabel("documents")
        ax.set_title(
            f"null: independent errors at {_rates_words(analysis, test.strata)} rates\n"
            f"shared mistakes: {test.shared_wrong} observed vs {test.shared_wrong_expected:.1f} expected\n"
            f"permutation test {p_text(test.p_value, test.p_floor)} ({test.verdict})",
            fontsize=9,
        )
        ax.legend(fontsize=8)
    title = f"{task_tag(analysis)}: how many runs got each document wrong, observed vs independent errors"
    set_title(fig, title)
    extra = (
        f"Two-sided permutation test, {analysis.overlap.permutations} within-stratum shuffles, seed "
        f"{analysis.overlap.seed}."
    )
    if analysis.letters_note:
        extra += f" The per-right-letter test is left out ({analysis.letters_note})."
    _footer(fig, analysis, extra)
    return Chart(name, title, fig, "overlap")


def _heatmap(
    analysis: Analysis, field: str, name: str, title: str, vmin: float, vmax: float, cmap: str, what: str, kind: str
) -> Chart:
    labels = analysis.labels
    matrix = analysis.matrix(field)
    size = max(5.0, 1.1 * len(labels) + 3)
    fig = figure(size + 1.5, size)
    ax = fig.add_subplot()
    values = [[float("nan") if v is None else v for v in row] for row in matrix]
    image = ax.imshow(values, vmin=vmin, vmax=vmax, cmap=cmap)
    for i, row in enumerate(matrix):
        for j, v in enumerate(row):
            text = "-" if v is None else f"{v:.2f}"
            t = None if v is None else (v - vmin) / (vmax - vmin)
            dark = t is not None and (t < 0.5 if cmap == "viridis" else (t < 0.2 or t > 0.8))
            ax.text(j, i, text, ha="center", va="center", color="white" if dark else "black", fontsize=10)
    ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("run")
    ax.set_ylabel("run")
    fig.colorbar(image, ax=ax, label=what, shrink=0.8)
    full = f"{task_tag(analysis)}: {title}"
    set_title(fig, full)
    _footer(fig, analysis)
    return Chart(name, full, fig, kind)


def jaccard(analysis: Analysis, name: str = "pairwise_jaccard") -> Chart:
    return _heatmap(
        analysis,
        "jaccard",
        name,
        "overlap of wrong answers between runs (Jaccard)",
        0.0,
        1.0,
        "viridis",
        "Jaccard = both wrong / either wrong",
        "pairwise_jaccard",
    )


def kappa(analysis: Analysis, name: str = "pairwise_kappa") -> Chart:
    return _heatmap(
        analysis,
        "kappa",
        name,
        "agreement beyond chance on right/wrong (Cohen's kappa)",
        -1.0,
        1.0,
        "RdBu",
        "Cohen's kappa on correct/incorrect",
        "pairwise_kappa",
    )


def letters(analysis: Analysis, name: str = "letter_bias") -> Chart:
    bias = analysis.letters
    labels = list(bias[0].truth)
    fig = figure(max(8.0, 0.35 * len(bias) * len(labels) + 6), 4.8)
    ax = fig.add_subplot()
    width = 0.8 / (len(bias) + 1)
    xs = range(len(labels))
    truth = [100 * bias[0].share(x, "truth") for x in labels]
    ax.bar([x - 0.4 + width / 2 for x in xs], truth, width=width, color="0.75", hatch="//", label="right answers")
    for i, b in enumerate(bias):
        ax.bar(
            [x - 0.4 + width * (i + 1.5) for x in xs],
            [100 * b.share(x) for x in labels],
            width=width,
            color=colour(i),
            label=f"{b.label} (chi-square {p_text(b.p_value)})",
        )
    ax.set_xticks(list(xs), labels)
    ax.set_xlabel("answer letter (choice label)")
    ax.set_ylabel("share of the common documents (%)")
    ax.set_ylim(0, 105)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
    title = f"{task_tag(analysis)}: answer-letter bias, chosen letters vs right letters"
    set_title(fig, title)
    _footer(fig, analysis, "Chi-square goodness of fit of each run's letters to the right letters' shares.")
    return Chart(name, title, fig, "letter_bias")


def configs(analysis: Analysis, comparison: ConfigComparison, name: str = "configurations") -> Chart:
    rows = comparison.rows
    fig = figure(max(10.0, 1.5 * len(rows) + 7), 8)
    axes = fig.subplots(2, 2).ravel()
    xs = list(range(len(rows)))

    def grouped(ax: Any, series: Sequence[tuple[str, list[float | None]]], unit: str) -> None:
        present = [(label, vals) for label, vals in series if any(v is not None for v in vals)]
        w = 0.8 / max(1, len(present))
        for n, (label, vals) in enumerate(present):
            pos = [x - 0.4 + w * (n + 0.5) for x in xs]
            ax.bar(pos, [v or 0.0 for v in vals], width=w, label=label, color=f"C{n + 4}")
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
        return [wrap(r.label) + ("" if x is None else f"\n(x{x:.2f})") for r, x in zip(rows, ratios, strict=True)]

    ax = axes[0]
    grouped(
        ax,
        [("wall", [r.wall_s for r in rows]), ("CPU", [r.cpu_s for r in rows]), ("GPU", [r.gpu_s for r in rows])],
        "seconds",
    )
    ax.set_title("time to score the compared documents", fontsize=10)
    ax.set_xticks(xs, ratio_labels("wall_s"), fontsize=8)
    ax.set_xlabel("run (wall-time ratio to baseline)")

    ax = axes[1]
    for i, r in enumerate(rows):
        ax.bar(i, r.questions_per_s or 0.0, color=colour(i))
        if r.questions_per_s is not None:
            ax.annotate(f"{r.questions_per_s:.3g}", (i, r.questions_per_s), ha="center", va="bottom", fontsize=8)
    ax.set_title("throughput", fontsize=10)
    ax.set_ylabel("documents per second")
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
        ax.bar(i, 100 * acc, color=colour(i))
        ax.errorbar(i, 100 * acc, yerr=[[100 * (acc - r.ci_low)], [100 * (r.ci_high - acc)]], color="black")
    _chance_line(ax, analysis)
    chance = "" if analysis.chance is None else "; dashed: chance"
    ax.set_title(f"documents right (95% Wilson interval{chance})", fontsize=10)
    ax.set_ylabel("documents right (%)")
    ax.set_xticks(
        xs,
        [wrap(r.label) + ("" if r.accuracy_delta is None else f"\n({100 * r.accuracy_delta:+.1f} pts)") for r in rows],
        fontsize=8,
    )
    ax.set_xlabel("run (difference to baseline)")
    title = f"{task_tag(analysis)}: time, memory and accuracy by configuration (baseline: {comparison.baseline})"
    set_title(fig, title)
    described = "; ".join(f"{r.label}: {r.model} {r.device} {r.dtype} quant={r.quant}" for r in rows)
    _footer(fig, analysis, f"Configurations: {described}. {' '.join(comparison.notes)}")
    return Chart(name, title, fig, "configurations")


def task_charts(analysis: Analysis, comparison: ConfigComparison, prefix: str = "") -> list[Chart]:
    """One task's pages: accuracy, per subset (when there are several), the overlap test, Jaccard, kappa, letter
    bias (choice tasks only) and configurations. ``prefix`` goes before each file name (``"gsm8k-"``)."""
    builders: list[tuple[str, Callable[[Analysis, str], Chart]]] = [("accuracy_overall", accuracy_overall)]
    if len(analysis.subsets) > 1:
        builders.append((f"accuracy_by_{analysis.subset_label}", accuracy_by_subset))
    builders += [("overlap", overlap), ("pairwise_jaccard", jaccard), ("pairwise_kappa", kappa)]
    if analysis.letters:
        builders.append(("letter_bias", letters))
    charts = [build(analysis, prefix + stem) for stem, build in builders]
    return charts + [configs(analysis, comparison, prefix + "configurations")]
