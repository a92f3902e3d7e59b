"""Several runs side by side: grouped bars per subject, overall accuracy, a subject x run heatmap, timing."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
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


class AnalysisReady(Message):
    def __init__(self, analysis: Any, configs: Any, error: str | None) -> None:
        super().__init__()
        self.analysis = analysis
        self.configs = configs
        self.error = error


class ExportStatus(Message):
    def __init__(self, text: str, severity: str = "information") -> None:
        super().__init__()
        self.text = text
        self.severity = severity


class CompareScreen(Screen[None]):
    BINDINGS = [Binding("escape", "app.pop_screen", "Back"), Binding("e", "export", "Export report")]

    def __init__(self, runs: list[tuple[str, dict[str, Any]]]) -> None:
        super().__init__()
        self.run_dirs = [d for d, _ in runs]
        self.analysis: Any = None
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
            with TabPane("Mistakes", id="tab-mistakes"):
                yield Static("analysing...", id="overlap-summary")
                yield PlotextPlot(id="overlap-plot")
                yield PlotextPlot(id="overlap-letter-plot")
            with TabPane("Pairs", id="tab-pairs"):
                yield Static("analysing...", id="pairs")
            with TabPane("Letters", id="tab-letters"):
                yield PlotextPlot(id="letters-plot")
            with TabPane("Configs", id="tab-configs"):
                yield Static("analysing...", id="configs")
        yield Footer(show_command_palette=False)

    def on_mount(self) -> None:
        self.sub_title = f"comparing {len(self.runs)} runs"
        with self.app.batch_update():
            grouped_subject_bars(self.query_one("#subjects-plot", PlotextPlot), self.runs)
            overall_bars(self.query_one("#overall-plot", PlotextPlot), self.runs)
            timing_bars(self.query_one("#timing-plot", PlotextPlot), self.runs)
            memory_bars(self.query_one("#memory-plot", PlotextPlot), self.runs)
        self.analyse()

    @work(thread=True, exclusive=True, exit_on_error=False, group="analysis")
    def analyse(self) -> None:
        """The permutation tests take a second or two on large runs: off the event loop."""
        from core.analysis import analyse, compare_configs, load_runs
        from core.errors import LlmTuiError

        try:
            runs = load_runs(self.run_dirs)
            self.post_message(AnalysisReady(analyse(runs, permutations=2000), compare_configs(runs), None))
        except LlmTuiError as exc:
            self.post_message(AnalysisReady(None, None, str(exc)))

    @on(AnalysisReady)
    def _analysis_ready(self, message: AnalysisReady) -> None:
        from ..widgets import analysis_view as view

        if message.error:
            for selector in ("#overlap-summary", "#pairs", "#configs"):
                self.query_one(selector, Static).update(f"[red]{message.error}[/]")
            return
        a = self.analysis = message.analysis
        self.query_one("#overlap-summary", Static).update(view.overlap_summary(a))
        view.overlap_chart(
            self.query_one("#overlap-plot", PlotextPlot),
            a.overlap,
            "runs wrong per question: observed vs independent (per-subject rates)",
        )
        view.overlap_chart(
            self.query_one("#overlap-letter-plot", PlotextPlot),
            a.overlap_by_letter,
            "the same with letter bias taken out (per-subject-and-letter rates)",
        )
        self.query_one("#pairs", Static).update(view.pairs_table(a))
        view.letters_chart(self.query_one("#letters-plot", PlotextPlot), a)
        self.query_one("#configs", Static).update(view.configs_table(message.configs))

    def action_export(self) -> None:
        from core.runs import utc_stamp

        self.export(f"reports/{utc_stamp()}")

    @work(thread=True, exclusive=False, exit_on_error=False, group="export")
    def export(self, out: str) -> None:
        from core.errors import LlmTuiError
        from core.report import write_report

        self.post_message(ExportStatus(f"writing the report to {out}/ ..."))
        try:
            report = write_report(self.run_dirs, out)
        except LlmTuiError as exc:
            self.post_message(ExportStatus(str(exc), "error"))
            return
        self.post_message(ExportStatus(f"report written: {report.pdf} ({report.pages} pages), {report.markdown}"))

    @on(ExportStatus)
    def _notify(self, message: ExportStatus) -> None:
        self.notify(message.text, severity=message.severity, timeout=8)
