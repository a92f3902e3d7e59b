"""One run: the primary metric per subset as a chart, the timing summary, and its documents (filterable to
wrong ones; enter shows one in full: its choices and scores, or what the model wrote and what was extracted)."""

from __future__ import annotations

from pathlib import Path

from rich.markup import escape
from rich.table import Table
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Header, Input, Static, TabbedContent, TabPane
from textual_plotext import PlotextPlot

from core.errors import LlmTuiError
from core.mmlu.subjects import pretty
from core.runs import RecordKey, load_records
from core.schema import DocRecord, RunResults

from ..format import cut, human_bytes, metric_short, percent, rate, seconds, tail
from ..widgets.charts import run_label, score_bars
from ..widgets.key_bar import KeyBar
from ..widgets.panels import pick_index
from .dialogs import QuestionDetail


def timing_table(results: RunResults) -> Table:
    t = results.timing
    metric = metric_short(results.task.primary_metric)
    table = Table(title=f"{results.task.title}, {run_label(results)}", title_justify="left")
    for col in (results.task.subset_label, "docs", metric, "wall", "CPU", "GPU", "docs/s", "tok/s", "peak RSS"):
        table.add_column(col, justify="left" if col == results.task.subset_label else "right")
    for s, v in results.subsets.items():
        st = v.timing
        table.add_row(
            pretty(s),
            str(v.answered),
            percent(v.accuracy),
            seconds(st.wall_s),
            seconds(st.cpu_s),
            seconds(st.gpu_s),
            rate(st.questions_per_s, ""),
            rate(st.tokens_per_s, ""),
            human_bytes(st.peak_rss_bytes),
        )
    table.add_section()
    table.add_row(
        "all",
        str(results.accuracy.answered),
        percent(results.accuracy.micro),
        seconds(t.wall_s),
        seconds(t.cpu_s),
        seconds(t.gpu_s),
        rate(t.questions_per_s, ""),
        rate(t.tokens_per_s, ""),
        human_bytes(t.peak_rss_bytes),
    )
    generated = f", generated tokens {t.generated_tokens:,}" if t.generated_tokens else ""
    table.caption = (
        f"model load {seconds(t.load_s)}, peak GPU memory {human_bytes(t.peak_gpu_bytes)}, "
        f"prompt tokens {t.prompt_tokens:,}{generated}"
    )
    return table


def confidence(record: DocRecord) -> str:
    """How sure the model was of its pick (its probability among the choices), or "-" for generated answers."""
    probs = record.probs
    i = pick_index(record)
    if not probs or i is None or i >= len(probs):
        return "-"
    return f"{probs[i]:.2f}"


class RunDetailScreen(Screen[None]):
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("w", "toggle_wrong", "Wrong only"),
        Binding("slash", "find", "Find"),
        Binding("enter", "detail", "Document detail", show=False),
    ]

    def __init__(self, run_dir: str, results: RunResults) -> None:
        super().__init__()
        self.run_dir = run_dir
        self.results = results
        self.records: list[DocRecord] = []
        self.by_key: dict[RecordKey, DocRecord] = {}
        self.wrong_only = False
        self.needle = ""
        self.generate = results.task.kind == "generate_until"

    def compose(self) -> ComposeResult:
        yield Header()
        with TabbedContent(id="detail-tabs"):
            with TabPane("Scores", id="tab-accuracy"):
                yield PlotextPlot(id="accuracy-plot")
            with TabPane("Timing", id="tab-timing"):
                yield Static(timing_table(self.results), id="timing-table")
            with TabPane("Documents", id="tab-questions"):
                yield Input(placeholder="/ find: words in the document, its subset or answer (enter: to the table)",
                            id="doc-filter", compact=True)  # fmt: skip
                yield DataTable(id="questions", cursor_type="row", zebra_stripes=True)
        yield KeyBar()

    def on_mount(self) -> None:
        r = self.results
        self.sub_title = f"{r.task.name} ({r.task.primary_metric}): run {Path(self.run_dir).name}"
        try:
            self.by_key = load_records(Path(self.run_dir), r)
        except LlmTuiError as exc:
            self.notify(escape(str(exc)), severity="error", timeout=10)
        self.records = list(self.by_key.values())
        table = self.query_one("#questions", DataTable)
        columns = [
            ("ok", " "), ("subject", r.task.subset_label), ("index", "#"), ("model", "model"), ("answer", "answer"),
            ("p", "wrote" if self.generate else "p(model)"), ("question", "document"),
        ]  # fmt: skip
        for key, label in columns:
            table.add_column(label, key=key)
        self._fill_questions()
        score_bars(self.query_one("#accuracy-plot", PlotextPlot), r)

    def _fill_questions(self) -> None:
        table = self.query_one("#questions", DataTable)
        table.clear()
        for r in self.shown_records():
            table.add_row(
                "[green]ok[/]" if r.correct else "[red]x[/]",
                cut(pretty(r.subset), 20),
                str(r.doc_id),
                escape(cut(r.pick or "-", 10)),
                escape(cut(r.answer, 10)),
                escape(tail(r.generated, 24)) if r.generated is not None else confidence(r),
                escape(cut(r.question, 60)),
                key=f"{r.subset}:{r.doc_id}",
            )

    def action_toggle_wrong(self) -> None:
        self.wrong_only = not self.wrong_only
        self._fill_questions()
        self.notify("showing wrong answers only" if self.wrong_only else "showing all documents")

    @on(TabbedContent.TabActivated, "#detail-tabs")
    def _tab_activated(self, event: TabbedContent.TabActivated) -> None:
        if event.pane.id == "tab-questions":  # the table takes the keys at once: down moves, enter opens
            self.query_one("#questions", DataTable).focus()

    def shown_records(self) -> list[DocRecord]:
        """The rows the table shows: wrong only (w) and matching every word typed in the find box (/)."""
        words = self.needle.lower().split()

        def matches(r: DocRecord) -> bool:
            text = f"{r.question} {r.subset} {pretty(r.subset)} {r.answer} {r.pick or ''}".lower()
            return all(w in text for w in words)

        return [r for r in self.records if not (self.wrong_only and r.correct) and matches(r)]

    def action_find(self) -> None:
        tabs = self.query_one("#detail-tabs", TabbedContent)
        tabs.active = "tab-questions"
        self.query_one("#doc-filter", Input).focus()

    @on(Input.Changed, "#doc-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.needle = event.value
        self._fill_questions()

    @on(Input.Submitted, "#doc-filter")
    def _filter_done(self) -> None:
        self.query_one("#questions", DataTable).focus()

    @on(DataTable.RowSelected, "#questions")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        subset, index = str(event.row_key.value).rsplit(":", 1)
        record = self.by_key.get((subset, int(index)))
        if record is not None:
            self.app.push_screen(QuestionDetail(record, self.results.task, self.shown_records()))

    def action_detail(self) -> None:
        """enter outside the table (the tab bar): go to the documents, rather than open the first one blindly."""
        tabs = self.query_one("#detail-tabs", TabbedContent)
        table = self.query_one("#questions", DataTable)
        if tabs.active != "tab-questions":
            tabs.active = "tab-questions"
        table.focus()
