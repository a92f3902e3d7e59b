"""Several runs side by side: grouped bars per subject, overall accuracy, a subject x run heatmap, timing."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Header, Static, TabbedContent, TabPane
from textual_plotext import PlotextPlot

from ..format import human_bytes, percent, rate, seconds
from ..widgets.charts import grouped_subject_bars, memory_bars, overall_bars, run_label, timing_bars


def heat(value: float | None) -> Text:
    if value is None:
        return Text("-")
    # red (0%) -> yellow (50%) -> green (100%)
    red = int(255 * min(1.0, 2 * (1 - value)))
    green = int(255 * min(1.0, 2 * value))
    return Text(f" {100 * value:5.1f} ", style=f"black on rgb({red},{green},60)")


def heatmap_table(runs: list[dict[str, Any]]) -> Table:
    table = Table(title="accuracy, subject x run", title_justify="left")
    table.add_column("subject")
    for i in range(len(runs)):
        table.add_column(f"{i + 1}", justify="right")
    subjects = sorted({s for r in runs for s in r.get("subjects", {})})
    for s in subjects:
        table.add_row(s.replace("_", " ")[:28], *[heat(r.get("subjects", {}).get(s, {}).get("accuracy")) for r in runs])
    table.caption = "  ".join(f"{i + 1}: {run_label(r)}" for i, r in enumerate(runs))
    return table


def timing_compare_table(runs: list[dict[str, Any]]) -> Table:
    table = Table(title="timing and memory", title_justify="left")
    for col in ("run", "accuracy", "wall", "CPU", "GPU", "q/s", "load", "weights", "peak RSS", "peak GPU"):
        table.add_column(col, justify="left" if col == "run" else "right")
    for r in runs:
        t = r.get("timing", {})
        table.add_row(
            run_label(r),
            percent(r["accuracy"]["micro"]),
            seconds(t.get("wall_s")),
            seconds(t.get("cpu_s")),
            seconds(t.get("gpu_s")),
            rate(t.get("questions_per_s"), ""),
            seconds(t.get("load_s")),
            human_bytes(r.get("model", {}).get("memory_bytes")),
            human_bytes(t.get("peak_rss_bytes")),
            human_bytes(t.get("peak_gpu_bytes")),
        )
    return table


class CompareScreen(Screen[None]):
    BINDINGS = [Binding("escape", "app.pop_screen", "Back")]

    def __init__(self, runs: list[tuple[str, dict[str, Any]]]) -> None:
        super().__init__()
        self.run_dirs = [d for d, _ in runs]
        self.runs = [r for _, r in runs]

    def compose(self) -> ComposeResult:
        yield Header()
        with TabbedContent(id="compare-tabs"):
            with TabPane("Per subject", id="tab-subjects"):
                yield PlotextPlot(id="subjects-plot")
            with TabPane("Overall", id="tab-overall"):
                yield PlotextPlot(id="overall-plot")
            with TabPane("Heatmap", id="tab-heatmap"):
                yield Static(heatmap_table(self.runs), id="heatmap")
            with TabPane("Timing", id="tab-timing"):
                yield Static(timing_compare_table(self.runs), id="timing-compare")
                yield PlotextPlot(id="timing-plot")
                yield PlotextPlot(id="memory-plot")
        yield Footer(show_command_palette=False)

    def on_mount(self) -> None:
        self.sub_title = f"comparing {len(self.runs)} runs"
        with self.app.batch_update():
            grouped_subject_bars(self.query_one("#subjects-plot", PlotextPlot), self.runs)
            overall_bars(self.query_one("#overall-plot", PlotextPlot), self.runs)
            timing_bars(self.query_one("#timing-plot", PlotextPlot), self.runs)
            memory_bars(self.query_one("#memory-plot", PlotextPlot), self.runs)
