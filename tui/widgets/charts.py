"""Plotext charts drawn through each PlotextPlot widget's own `plt` (never the global module)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from textual_plotext import PlotextPlot

from core.schema import RunResults

from ..format import model_name
from .legend_plot import LegendPlot, grouped_bars


@contextmanager
def drawing(plot: PlotextPlot) -> Iterator[Any]:
    """Clear the widget's own plotext figure, let the caller draw, then refresh the widget."""
    plt = plot.plt
    if isinstance(plot, LegendPlot):
        plot.series = []
    plt.clear_data()
    plt.clear_figure()
    yield plt
    plot.refresh()


def run_label(results: RunResults, task: bool = False) -> str:
    """The model and its configuration (device, dtype, quantization); ``task``: the task's name first."""
    ident = results.identity
    parts = [model_name(ident.model, 22), ident.device, ident.dtype]
    if ident.quant not in (None, "none"):
        parts.append(ident.quant)
    label = " ".join(str(p) for p in parts if p)
    return f"{results.task.name}: {label}" if task else label


def short_subject(name: str, width: int = 14) -> str:
    words = name.replace("high_school_", "hs_").replace("college_", "col_").replace("professional_", "prof_")
    return words[:width]


PERCENT_TICKS = [0, 25, 50, 75, 100]  # round ticks: plotext's own fall on 16.7, 33.3, ...


def with_values(labels: Sequence[str], values: Sequence[float]) -> list[str]:
    """Bar labels that carry their value (plotext draws no value on a bar)."""
    return [f"{label} {value:.1f}%" for label, value in zip(labels, values, strict=True)]


def score_bars(plot: PlotextPlot, results: RunResults) -> None:
    """The primary metric per subset; a one-subset task shows each of its metrics instead."""
    metric = results.task.primary_metric
    with drawing(plot) as plt:
        if len(results.subsets) > 1:
            names = list(results.subsets)
            values = [100 * (results.subsets[s].accuracy or 0) for s in names]
            labels = [short_subject(s) for s in names]
            title = f"{metric} per {results.task.subset_label} (%), {run_label(results)}"
        else:
            names = [metric, *[m for m in results.task.metrics if m != metric]]
            values = [100 * (results.metrics.get(m) or 0) for m in names]
            labels = names
            title = f"{results.task.title} (%), {run_label(results)}"
        plt.bar(with_values(labels, values), values, orientation="horizontal", width=0.3)
        plt.xlim(0, 100)
        plt.xticks(PERCENT_TICKS)
        plt.title(title)


def grouped_subject_bars(plot: PlotextPlot, runs: Sequence[RunResults]) -> None:
    """Runs of one task: the primary metric per subset, one bar per run."""
    with drawing(plot) as plt:
        subsets = [s for s in runs[0].subsets if all(s in r.subsets for r in runs)]
        if not subsets:
            plt.title(f"the runs of {runs[0].task.name} share no {runs[0].task.subset_label}")
            return
        series = [[100 * (r.subsets[s].accuracy or 0) for s in subsets] for r in runs]
        grouped_bars(plot, plt, [short_subject(s, 10) for s in subsets], series, [run_label(r) for r in runs])
        plt.ylim(0, 100)
        plt.yticks(PERCENT_TICKS)
        plt.title(f"{runs[0].task.primary_metric} per {runs[0].task.subset_label} (%), {runs[0].task.name}")


def overall_bars(plot: PlotextPlot, runs: Sequence[RunResults]) -> None:
    with drawing(plot) as plt:
        values = [100 * (r.accuracy.micro or 0) for r in runs]
        labels = [run_label(r, task=len({x.task.name for x in runs}) > 1) for r in runs]
        plt.bar(with_values(labels, values), values, orientation="horizontal", width=0.3)
        plt.xlim(0, 100)
        plt.xticks(PERCENT_TICKS)
        plt.title("overall score (%, each task's primary metric, micro)")


def timing_bars(plot: PlotextPlot, runs: Sequence[RunResults]) -> None:
    with drawing(plot) as plt:
        tasks = len({x.task.name for x in runs}) > 1
        labels = [run_label(r, task=tasks) for r in runs]
        wall = [r.timing.wall_s or 0 for r in runs]
        cpu = [r.timing.cpu_s or 0 for r in runs]
        gpu = [r.timing.gpu_s or 0 for r in runs]
        grouped_bars(plot, plt, labels, [wall, cpu, gpu], ["wall s", "CPU s", "GPU s"])
        plt.title("time per run (s)")


def memory_bars(plot: PlotextPlot, runs: Sequence[RunResults]) -> None:
    with drawing(plot) as plt:
        tasks = len({x.task.name for x in runs}) > 1
        labels = [run_label(r, task=tasks) for r in runs]
        rss = [(r.timing.peak_rss_bytes or 0) / 2**20 for r in runs]
        gpu = [(r.timing.peak_gpu_bytes or 0) / 2**20 for r in runs]
        model = [(r.model.memory_bytes or 0) / 2**20 for r in runs]
        grouped_bars(plot, plt, labels, [model, rss, gpu], ["weights MiB", "peak RSS MiB", "peak GPU MiB"])
        plt.title("memory per run (MiB)")
