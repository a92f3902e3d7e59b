"""One run: accuracy per subject as a chart, the timing summary, and its questions (filterable to wrong ones)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.table import Table
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static, TabbedContent, TabPane
from textual_plotext import PlotextPlot

from core.runs import QUESTIONS

from ..format import human_bytes, percent, rate, seconds
from ..widgets.charts import accuracy_bars, run_label
from .dialogs import QuestionDetail


def timing_table(results: dict[str, Any]) -> Table:
    t = results.get("timing", {})
    table = Table(title=run_label(results), title_justify="left")
    for col in ("subject", "questions", "accuracy", "wall", "CPU", "GPU", "q/s", "tok/s", "peak RSS"):
        table.add_column(col, justify="left" if col == "subject" else "right")
    for s, v in results.get("subjects", {}).items():
        st = v.get("timing", {})
        table.add_row(
            s.replace("_", " "),
            str(v.get("answered")),
            percent(v.get("accuracy")),
            seconds(st.get("wall_s")),
            seconds(st.get("cpu_s")),
            seconds(st.get("gpu_s")),
            rate(st.get("questions_per_s"), ""),
            rate(st.get("tokens_per_s"), ""),
            human_bytes(st.get("peak_rss_bytes")),
        )
    table.add_section()
    table.add_row(
        "all",
        str(results.get("accuracy", {}).get("answered")),
        percent(results["accuracy"]["micro"]),
        seconds(t.get("wall_s")),
        seconds(t.get("cpu_s")),
        seconds(t.get("gpu_s")),
        rate(t.get("questions_per_s"), ""),
        rate(t.get("tokens_per_s"), ""),
        human_bytes(t.get("peak_rss_bytes")),
    )
    table.caption = (
        f"model load {seconds(t.get('load_s'))}, peak GPU memory {human_bytes(t.get('peak_gpu_bytes'))}, "
        f"prompt tokens {t.get('prompt_tokens', 0):,}"
    )
    return table


class RunDetailScreen(Screen[None]):
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("w", "toggle_wrong", "Wrong only"),
        Binding("enter", "detail", "Question detail", show=False),
    ]

    def __init__(self, run_dir: str, results: dict[str, Any]) -> None:
        super().__init__()
        self.run_dir = run_dir
        self.results = results
        self.records: list[dict[str, Any]] = []
        self.wrong_only = False

    def compose(self) -> ComposeResult:
        yield Header()
        with TabbedContent(id="detail-tabs"):
            with TabPane("Accuracy", id="tab-accuracy"):
                yield PlotextPlot(id="accuracy-plot")
            with TabPane("Timing", id="tab-timing"):
                yield Static(timing_table(self.results), id="timing-table")
            with TabPane("Questions", id="tab-questions"):
                yield DataTable(id="questions", cursor_type="row", zebra_stripes=True)
        yield Footer(show_command_palette=False)

    def on_mount(self) -> None:
        self.sub_title = f"run {Path(self.run_dir).name}"
        path = Path(self.run_dir) / QUESTIONS
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    self.records.append(json.loads(line))
                except ValueError:
                    continue
        table = self.query_one("#questions", DataTable)
        for key, label in (
            ("ok", " "),
            ("subject", "subject"),
            ("index", "#"),
            ("model", "model"),
            ("answer", "answer"),
            ("p", "p(model)"),
            ("question", "question"),
        ):
            table.add_column(label, key=key)
        self._fill_questions()
        accuracy_bars(self.query_one("#accuracy-plot", PlotextPlot), self.results)

    def _fill_questions(self) -> None:
        table = self.query_one("#questions", DataTable)
        table.clear()
        for r in self.records:
            if self.wrong_only and r.get("correct"):
                continue
            table.add_row(
                "[green]ok[/]" if r.get("correct") else "[red]x[/]",
                r["subject"].replace("_", " ")[:20],
                str(r["index"]),
                r["predicted"],
                r["answer"],
                f"{max(r['probs']):.2f}",
                " ".join(r["question"].split())[:60],
                key=f"{r['subject']}:{r['index']}",
            )

    def action_toggle_wrong(self) -> None:
        self.wrong_only = not self.wrong_only
        self._fill_questions()
        self.notify("showing wrong answers only" if self.wrong_only else "showing all questions")

    @on(DataTable.RowSelected, "#questions")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        subject, index = str(event.row_key.value).rsplit(":", 1)
        record = next(r for r in self.records if r["subject"] == subject and r["index"] == int(index))
        self.app.push_screen(QuestionDetail(record))

    def action_detail(self) -> None:
        table = self.query_one("#questions", DataTable)
        if table.row_count:
            table.action_select_cursor()
