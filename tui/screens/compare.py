"""Several runs side by side: a models x tasks matrix (heatmap and grouped bars) for runs of any tasks, and, for
the runs of one task at a time (``t`` picks it), grouped bars and a heatmap per subset, timing, and the mistake
analysis (shared or independent errors, pairs, letter bias, configurations)."""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.markup import escape
from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Header, Static, TabbedContent, TabPane
from textual_plotext import PlotextPlot

from core.schema import RunResults
from core.tasks import TASK_NAMES

from ..format import human_bytes, metric_short, percent, rate, seconds
from ..widgets.analysis_view import heat
from ..widgets.charts import drawing, grouped_subject_bars, memory_bars, overall_bars, run_label, timing_bars
from ..widgets.key_bar import KeyBar
from ..widgets.legend_plot import LegendPlot

PER_TASK = ("#overlap-summary", "#pairs", "#configs")


def heatmap_table(runs: list[RunResults]) -> Group:
    """Runs of one task: the primary metric per subset x run, then which run each number is (on the full width,
    not wrapped at the table's)."""
    task = runs[0].task
    table = Table(
        title=f"{task.primary_metric}, {task.subset_label} x run ({task.name})",
        title_justify="left",
    )
    table.add_column(task.subset_label)
    for i in range(len(runs)):
        table.add_column(f"{i + 1}", justify="right")
    subsets = sorted({s for r in runs for s in r.subsets})
    for s in subsets:
        sub = [r.subsets.get(s) for r in runs]
        table.add_row(s.replace("_", " ")[:28], *[heat(x.accuracy if x else None) for x in sub])
    key = Text("\n".join(f"{i + 1}: {run_label(r)}" for i, r in enumerate(runs)), style="dim")
    return Group(table, key)


def timing_compare_table(runs: list[RunResults]) -> Table:
    table = Table(title="timing and memory", title_justify="left")
    tasks = len({r.task.name for r in runs}) > 1
    for col in ("run", "score", "wall", "CPU", "GPU", "docs/s", "load", "weights", "peak RSS", "peak GPU"):
        table.add_column(col, justify="left" if col == "run" else "right")
    for r in runs:
        t = r.timing
        table.add_row(
            run_label(r, task=tasks),
            f"{percent(r.accuracy.micro)} {metric_short(r.task.primary_metric)}",
            seconds(t.wall_s),
            seconds(t.cpu_s),
            seconds(t.gpu_s),
            rate(t.questions_per_s, ""),
            seconds(t.load_s),
            human_bytes(r.model.memory_bytes),
            human_bytes(t.peak_rss_bytes),
            human_bytes(t.peak_gpu_bytes),
        )
    return table


class MatrixReady(Message):
    """The runs are loaded: the models x tasks matrix (or why it could not be made)."""

    def __init__(self, matrix: Any, error: str | None) -> None:
        super().__init__()
        self.matrix = matrix
        self.error = error


class AnalysisReady(Message):
    """The mistake analysis and configuration comparison of the runs of one task (or why there is none)."""

    def __init__(self, task: str, analysis: Any, configs: Any, error: str | None) -> None:
        super().__init__()
        self.task_name = task
        self.analysis = analysis
        self.configs = configs
        self.error = error


class ExportStatus(Message):
    def __init__(self, text: str, severity: str = "information") -> None:
        super().__init__()
        self.text = text
        self.severity = severity


class CompareScreen(Screen[None]):
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("t", "next_task", "Next task"),
        Binding("e", "export", "Export report"),
    ]

    def __init__(self, runs: list[tuple[str, RunResults]]) -> None:
        super().__init__()
        self.run_dirs = [d for d, _ in runs]
        self.runs = [r for _, r in runs]
        names = {r.task.name for r in self.runs}
        self.task_names = [t for t in TASK_NAMES if t in names] + sorted(names - set(TASK_NAMES))
        counts = {t: sum(1 for r in self.runs if r.task.name == t) for t in self.task_names}
        self.current_task = max(
            self.task_names, key=lambda t: (counts[t] >= 2, counts[t] > 0, -self.task_names.index(t))
        )
        self.matrix: Any = None
        self.analysis: Any = None  # the analysis of the current task's runs
        self.analyses: dict[str, AnalysisReady] = {}

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="compare-task", classes="note")
        with TabbedContent(id="compare-tabs"):
            with TabPane("Tasks", id="tab-matrix"):
                yield Static("loading the runs...", id="matrix")
                yield LegendPlot(id="matrix-plot")
            with TabPane("Per subset", id="tab-subjects"):
                yield LegendPlot(id="subjects-plot")
            with TabPane("Heatmap", id="tab-heatmap"):
                yield Static("", id="heatmap")
            with TabPane("Overall", id="tab-overall"):
                yield PlotextPlot(id="overall-plot")
            with TabPane("Timing", id="tab-timing"):
                yield Static(timing_compare_table(self.runs), id="timing-compare")
                yield LegendPlot(id="timing-plot")
                yield LegendPlot(id="memory-plot")
            with TabPane("Mistakes", id="tab-mistakes"):
                yield Static("analysing...", id="overlap-summary")
                yield LegendPlot(id="overlap-plot")
                yield LegendPlot(id="overlap-letter-plot")
            with TabPane("Pairs", id="tab-pairs"):
                yield Static("analysing...", id="pairs")
            with TabPane("Letters", id="tab-letters"):
                yield LegendPlot(id="letters-plot")
            with TabPane("Configs", id="tab-configs"):
                yield Static("analysing...", id="configs")
        yield KeyBar()

    def on_mount(self) -> None:
        several = len(self.task_names) > 1
        self.sub_title = f"comparing {len(self.runs)} runs" + (f" of {len(self.task_names)} tasks" if several else "")
        with self.app.batch_update():
            overall_bars(self.query_one("#overall-plot", PlotextPlot), self.runs)
            timing_bars(self.query_one("#timing-plot", PlotextPlot), self.runs)
            memory_bars(self.query_one("#memory-plot", PlotextPlot), self.runs)
            self._show_task()
        self.load_matrix()

    # -- the task the per-task tabs show -------------------------------------------------------------
    def task_runs(self, task: str | None = None) -> list[int]:
        """Positions of the runs of ``task`` (the current one by default)."""
        name = task or self.current_task
        return [i for i, r in enumerate(self.runs) if r.task.name == name]

    def _show_task(self) -> None:
        idx = self.task_runs()
        runs = [self.runs[i] for i in idx]
        n = len(self.task_names)
        lines = []
        if n > 1:
            others = ", ".join(t for t in self.task_names if t != self.current_task)
            task = escape(self.current_task)
            lines.append(f"per-task tabs show [b]{task}[/] ({len(runs)} runs); t: next task ({escape(others)})")
        answered = sorted({r.accuracy.answered for r in runs})
        if len(answered) > 1:
            lines.append(
                f"[yellow]runs of different sizes ({', '.join(map(str, answered))} documents): score charts show "
                "each run's own; Mistakes, Pairs, Letters and the report use the documents all answered[/]"
            )
        note = self.query_one("#compare-task", Static)
        note.update("\n".join(lines))
        note.display = bool(lines)
        grouped_subject_bars(self.query_one("#subjects-plot", PlotextPlot), runs)
        self.query_one("#heatmap", Static).update(heatmap_table(runs))
        done = self.analyses.get(self.current_task)
        if done is not None:
            self._render_analysis(done)
            return
        self.analysis = None
        if len(runs) < 2:
            note = (
                f"[yellow]{escape(self.current_task)} has {len(runs)} run among those marked: the mistake analysis "
                f"compares two or more runs of one task{'; t picks another task' if n > 1 else ''}[/]"
            )
            for selector in PER_TASK:
                self.query_one(selector, Static).update(note)
            self._clear_analysis_plots()
            return
        for selector in PER_TASK:
            self.query_one(selector, Static).update(f"analysing the {len(runs)} runs of {escape(self.current_task)}...")
        self._clear_analysis_plots()
        self.analyse(self.current_task, [self.run_dirs[i] for i in idx])

    def _clear_analysis_plots(self) -> None:
        for selector in ("#overlap-plot", "#overlap-letter-plot", "#letters-plot"):
            with drawing(self.query_one(selector, PlotextPlot)):
                pass

    def action_next_task(self) -> None:
        if len(self.task_names) < 2:
            self.notify("all marked runs are of one task")
            return
        self.current_task = self.task_names[(self.task_names.index(self.current_task) + 1) % len(self.task_names)]
        with self.app.batch_update():
            self._show_task()

    # -- workers -----------------------------------------------------------------------------------
    @work(thread=True, exclusive=True, exit_on_error=False, group="matrix")
    def load_matrix(self) -> None:
        """Read every run's documents (for the intervals) off the event loop."""
        from core.analysis import load_runs, task_matrix
        from core.errors import LlmTuiError

        try:
            self.post_message(MatrixReady(task_matrix(load_runs(self.run_dirs)), None))
        except LlmTuiError as exc:
            self.post_message(MatrixReady(None, str(exc)))

    @work(thread=True, exclusive=True, exit_on_error=False, group="analysis")
    def analyse(self, task: str, run_dirs: list[str]) -> None:
        """The permutation tests take a second or two on large runs: off the event loop."""
        from core.analysis import analyse, compare_configs, load_runs
        from core.errors import LlmTuiError

        try:
            runs = load_runs(run_dirs)
            # the same permutation count (and seed) as `llm-tui report`: the app and the report give one p-value
            self.post_message(AnalysisReady(task, analyse(runs), compare_configs(runs), None))
        except LlmTuiError as exc:
            self.post_message(AnalysisReady(task, None, None, str(exc)))

    @on(MatrixReady)
    def _matrix_ready(self, message: MatrixReady) -> None:
        from ..widgets.analysis_view import matrix_bars, matrix_table

        if message.error:
            self.query_one("#matrix", Static).update(f"[red]{escape(message.error)}[/]")
            return
        self.matrix = message.matrix
        self.query_one("#matrix", Static).update(matrix_table(self.matrix))
        matrix_bars(self.query_one("#matrix-plot", PlotextPlot), self.matrix)

    @on(AnalysisReady)
    def _analysis_ready(self, message: AnalysisReady) -> None:
        self.analyses[message.task_name] = message
        if message.task_name == self.current_task:  # an answer for a task the user has since left is kept for later
            self._render_analysis(message)

    def _render_analysis(self, message: AnalysisReady) -> None:
        from ..widgets import analysis_view as view

        if message.error:
            for selector in PER_TASK:
                self.query_one(selector, Static).update(f"[red]{escape(message.error)}[/]")
            return
        a = self.analysis = message.analysis
        label = a.subset_label
        self.query_one("#overlap-summary", Static).update(view.overlap_summary(a))
        view.overlap_chart(
            self.query_one("#overlap-plot", PlotextPlot),
            a.overlap,
            f"runs wrong per document: observed vs independent (per-{label} rates)",
        )
        letter_plot = self.query_one("#overlap-letter-plot", PlotextPlot)
        if a.overlap_by_letter is not None:
            view.overlap_chart(
                letter_plot, a.overlap_by_letter, f"the same with letter bias taken out (per-{label}-and-letter rates)"
            )
        else:
            with drawing(letter_plot) as plt:
                plt.title(f"letter bias taken out: {a.letters_note}")
        self.query_one("#pairs", Static).update(view.pairs_table(a))
        view.letters_chart(self.query_one("#letters-plot", PlotextPlot), a)
        self.query_one("#configs", Static).update(view.configs_table(message.configs))

    # -- export ------------------------------------------------------------------------------------
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
        self.notify(escape(message.text), severity=message.severity, timeout=8)  # type: ignore[arg-type]
