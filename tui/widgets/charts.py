"""Plotext charts drawn through each PlotextPlot widget's own `plt` (never the global module)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from textual_plotext import PlotextPlot


@contextmanager
def drawing(plot: PlotextPlot) -> Iterator[Any]:
    """Clear the widget's own plotext figure, let the caller draw, then refresh the widget."""
    plt = plot.plt
    plt.clear_data()
    plt.clear_figure()
    yield plt
    plot.refresh()


def run_label(results: dict[str, Any]) -> str:
    ident = results.get("identity", {})
    model = str(ident.get("model", "?")).split("/")[-1]
    model = model[:-4] if model.endswith(".gguf") else model
    parts = [model[:22], ident.get("device", ""), ident.get("dtype", "")]
    if ident.get("quant") not in (None, "none"):
        parts.append(ident["quant"])
    return " ".join(str(p) for p in parts if p)


def short_subject(name: str, width: int = 14) -> str:
    words = name.replace("high_school_", "hs_").replace("college_", "col_").replace("professional_", "prof_")
    return words[:width]


def accuracy_bars(plot: PlotextPlot, results: dict[str, Any]) -> None:
    with drawing(plot) as plt:
        subjects = list(results.get("subjects", {}))
        values = [100 * (results["subjects"][s]["accuracy"] or 0) for s in subjects]
        plt.bar([short_subject(s) for s in subjects], values, orientation="horizontal", width=0.3)
        plt.xlim(0, 100)
        plt.title(f"accuracy per subject (%), {run_label(results)}")


def grouped_subject_bars(plot: PlotextPlot, runs: list[dict[str, Any]]) -> None:
    with drawing(plot) as plt:
        subjects = [s for s in runs[0].get("subjects", {}) if all(s in r.get("subjects", {}) for r in runs)]
        series = [[100 * (r["subjects"][s]["accuracy"] or 0) for s in subjects] for r in runs]
        plt.multiple_bar([short_subject(s, 10) for s in subjects], series, labels=[run_label(r) for r in runs])
        plt.ylim(0, 100)
        plt.title("accuracy per subject (%)")


def overall_bars(plot: PlotextPlot, runs: list[dict[str, Any]]) -> None:
    with drawing(plot) as plt:
        plt.bar(
            [run_label(r) for r in runs],
            [100 * (r["accuracy"]["micro"] or 0) for r in runs],
            orientation="horizontal",
            width=0.3,
        )
        plt.xlim(0, 100)
        plt.title("overall accuracy (%, micro)")


def timing_bars(plot: PlotextPlot, runs: list[dict[str, Any]]) -> None:
    with drawing(plot) as plt:
        labels = [run_label(r) for r in runs]
        wall = [r["timing"].get("wall_s") or 0 for r in runs]
        cpu = [r["timing"].get("cpu_s") or 0 for r in runs]
        gpu = [r["timing"].get("gpu_s") or 0 for r in runs]
        plt.multiple_bar(labels, [wall, cpu, gpu], labels=["wall s", "CPU s", "GPU s"])
        plt.title("time per run (s)")


def memory_bars(plot: PlotextPlot, runs: list[dict[str, Any]]) -> None:
    with drawing(plot) as plt:
        labels = [run_label(r) for r in runs]
        rss = [(r["timing"].get("peak_rss_bytes") or 0) / 2**20 for r in runs]
        gpu = [(r["timing"].get("peak_gpu_bytes") or 0) / 2**20 for r in runs]
        model = [(r.get("model", {}).get("memory_bytes") or 0) / 2**20 for r in runs]
        plt.multiple_bar(labels, [model, rss, gpu], labels=["weights MiB", "peak RSS MiB", "peak GPU MiB"])
        plt.title("memory per run (MiB)")
