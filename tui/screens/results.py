"""Results: the runs in the runs folder as a sortable table (one row per model and task); open one, or compare
several (of one task or of several: then a models x tasks matrix)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Header, Static
from textual.widgets.data_table import ColumnKey

from core.runs import list_runs
from core.schema import RunResults

from ..format import metric_short, model_name, percent, plural, seconds
from ..messages import StartRuns
from ..widgets.key_bar import KeyBar

COLUMNS = [
    ("mark", " "), ("model", "model"), ("task", "task"), ("accuracy", "score"), ("questions", "docs"),
    ("status", "status"), ("device", "device"), ("dtype", "dtype"), ("quant", "quant"), ("subjects", "subsets"),
    ("wall", "wall"), ("date", "date"),
]  # fmt: skip
DTYPE_SHORT = {"bfloat16": "bf16", "float32": "fp32", "float16": "fp16"}


def run_row(run_dir: Path, results: RunResults) -> dict[str, Any]:
    """One line of the runs table; ``accuracy`` is the task's primary metric (micro), ``metric`` its name."""
    ident = results.identity
    subsets = list(ident.subsets) or list(results.subsets)
    label = results.task.subset_label
    if len(subsets) == 1:
        subsets_text = "-" if subsets[0] == results.task.name else subsets[0]
    else:
        subsets_text = f"{len(subsets)} {label}s"
    return {
        "dir": str(run_dir),
        "model": str(ident.model),
        "task": results.task.name + (f" {ident.shots}-shot" if ident.shots else ""),
        "device": ident.device,
        "dtype": ident.dtype,
        "quant": ident.quant,
        "subjects": len(subsets),
        "subjects_text": subsets_text,
        "questions": results.accuracy.answered,
        "total": results.accuracy.total,
        "accuracy": results.accuracy.micro,  # the primary metric, named by "metric"
        "metric": results.task.primary_metric,
        "wall": results.timing.wall_s,
        "date": str(results.updated or results.created or "")[:16].replace("T", " "),
        "status": results.status + (" (v1)" if results.migrated_from else ""),
        "results": results,
    }


class ResultsScreen(Screen[None]):
    BINDINGS = [
        Binding("enter", "open", "Open"),
        Binding("space", "mark", "Mark"),
        Binding("c", "compare", "Compare marked"),
        Binding("s", "sort", "Sort by column"),
        Binding("u", "resume", "Resume run"),
        Binding("d,delete", "delete", "Delete run"),
        Binding("r", "rename", "Rename run", show=False),
        Binding("ctrl+l", "reload", "Reload"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[dict[str, Any]] = []
        self.marked: set[str] = set()
        self.sort_key = "date"
        self.sort_reverse = True

    def compose(self) -> ComposeResult:
        yield Header()
        yield DataTable(id="runs", cursor_type="cell", zebra_stripes=True)
        yield Static("", id="runs-hint", classes="note")
        yield KeyBar()

    def on_mount(self) -> None:
        self.sub_title = "results"
        table = self.query_one("#runs", DataTable)
        for key, label in COLUMNS:
            table.add_column(label, key=key)
        self.reload()

    def on_screen_resume(self) -> None:
        self.reload()

    def reload(self) -> None:
        app: Any = self.app
        self.rows = [run_row(d, r) for d, r in list_runs(app.settings.runs_dir)]
        self.marked &= {r["dir"] for r in self.rows}
        self._render_rows()

    def action_reload(self) -> None:
        self.reload()

    def _render_rows(self) -> None:
        table = self.query_one("#runs", DataTable)
        cursor = table.cursor_coordinate
        table.clear()

        def key(row: dict[str, Any]) -> Any:
            value = row["dir"] in self.marked if self.sort_key == "marked" else row.get(self.sort_key)
            return (value is None, value if value is not None else 0)

        self.rows.sort(key=key, reverse=self.sort_reverse)
        for r in self.rows:
            table.add_row(
                "*" if r["dir"] in self.marked else " ", model_name(r["model"], 24), r["task"],
                f"{percent(r['accuracy'])} {metric_short(r['metric'])}", f"{r['questions']}/{r['total']}",
                r["status"], r["device"], DTYPE_SHORT.get(r["dtype"], r["dtype"]), r["quant"],
                r["subjects_text"][:14], seconds(r["wall"]), r["date"][5:], key=r["dir"],
            )  # fmt: skip
        if self.rows:
            table.move_cursor(row=min(cursor.row, len(self.rows) - 1), column=cursor.column)
        app: Any = self.app
        for k, label in COLUMNS:  # the sorted column's header carries the direction
            arrow = (" ▼" if self.sort_reverse else " ▲") if k == self._sort_column() else ""
            table.columns[ColumnKey(k)].label = Text(label + arrow)
        hint = (
            f"{plural(len(self.rows), 'run')} in {app.settings.runs_dir}/, sorted by {self._sort_label()}"
            f"{' (descending)' if self.sort_reverse else ''}; {len(self.marked)} marked"
        )
        if not self.rows:
            hint = f"no runs in {app.settings.runs_dir}/ yet: start one from the setup screen (f2)"
        self.query_one("#runs-hint", Static).update(hint)

    def _current(self) -> dict[str, Any] | None:
        table = self.query_one("#runs", DataTable)
        if not self.rows or table.cursor_row < 0:
            return None
        row_key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
        return next((r for r in self.rows if r["dir"] == row_key.value), None)

    def _sort_column(self) -> str:
        return {"marked": "mark"}.get(self.sort_key, self.sort_key)

    def _sort_label(self) -> str:
        if self.sort_key == "marked":
            return "marked first"
        return dict(COLUMNS).get(self.sort_key, self.sort_key)

    def action_sort(self) -> None:
        table = self.query_one("#runs", DataTable)
        column = COLUMNS[table.cursor_column][0]
        column = {"mark": "marked"}.get(column, column)
        if column == self.sort_key:
            self.sort_reverse = not self.sort_reverse
        else:
            self.sort_key, self.sort_reverse = column, column in ("marked", "accuracy", "questions", "date", "wall")
        self._render_rows()

    def action_mark(self) -> None:
        row = self._current()
        if row is None:
            return
        self.marked ^= {row["dir"]}
        table = self.query_one("#runs", DataTable)
        table.update_cell(row["dir"], "mark", "*" if row["dir"] in self.marked else " ")
        self._render_rows()

    def action_open(self) -> None:
        from .run_detail import RunDetailScreen

        row = self._current()
        if row is not None:
            self.app.push_screen(RunDetailScreen(row["dir"], row["results"]))

    @on(DataTable.CellSelected, "#runs")
    def _selected(self) -> None:
        self.action_open()

    def action_compare(self) -> None:
        from .compare import CompareScreen

        chosen = [r for r in self.rows if r["dir"] in self.marked]
        if len(chosen) < 2:
            self.notify("mark two or more runs with space, then press c", severity="warning")
            return
        self.app.push_screen(CompareScreen([(r["dir"], r["results"]) for r in chosen]))

    def action_delete(self) -> None:
        from .dialogs import ConfirmDialog

        row = self._current()
        if row is None:
            return
        results: RunResults = row["results"]
        done = f"{results.accuracy.answered}/{results.accuracy.total} documents"

        def answered(yes: bool | None) -> None:
            from core.errors import LlmTuiError
            from core.runs import delete_run

            if not yes:
                return
            try:
                delete_run(row["dir"])
            except LlmTuiError as exc:
                self.notify(str(exc), severity="error")
                return
            self.notify(f"deleted {row['dir']}")
            self.reload()

        self.app.push_screen(
            ConfirmDialog(
                "Delete this run?",
                f"{row['dir']}\n{row['model']}, {row['task']}, {row['status']}, {done}\n\n"
                "Its results.json and questions.jsonl are removed (other files in the folder stay).",
            ),
            answered,
        )

    def action_rename(self) -> None:
        from pathlib import Path

        from .dialogs import TextDialog

        row = self._current()
        if row is None:
            return
        old = Path(row["dir"])

        def answered(name: str | None) -> None:
            from core.errors import LlmTuiError
            from core.runs import rename_run

            if name is None or name.strip() == old.name:
                return
            try:
                new = rename_run(old, name)
            except LlmTuiError as exc:
                self.notify(str(exc), severity="error")
                return
            self.marked.discard(str(old))
            self.notify(f"renamed to {new}")
            self.reload()

        self.app.push_screen(
            TextDialog("Rename this run", f"{old}\nnew folder name (in {old.parent}/):", old.name), answered
        )

    def action_resume(self) -> None:
        from core.config import EvalConfig

        row = self._current()
        if row is None:
            return
        results: RunResults = row["results"]
        if results.status == "complete":
            self.notify("this run is complete; nothing to resume")
            return
        if results.migrated_from:
            self.notify(
                "this run was written by an earlier llm-tui (format 1): it opens, but cannot be resumed",
                severity="warning",
            )
            return
        config = EvalConfig.from_saved(results.config)
        config.output = row["dir"]
        self.app.post_message(StartRuns([config]))
