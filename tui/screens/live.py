"""Live evaluation: progress, per-subject table, the current question, a log and timing, fed by engine events."""

from __future__ import annotations

import threading
from typing import Any

from rich.markup import escape
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Label, ProgressBar, RichLog, Static
from textual.worker import Worker, WorkerState

from core.events import (
    AssetProgress,
    BatchScored,
    BatchSizeReduced,
    ModelLoaded,
    ModelLoading,
    Notice,
    QuestionScored,
    RunCancelled,
    RunFinished,
    RunStarted,
    SubjectFinished,
    SubjectStarted,
)  # fmt: skip
from core.mmlu.subjects import pretty

from ..format import human_bytes, percent
from ..messages import EngineEvent
from ..widgets.panels import QuestionPanel, TimingPanel

EVAL_GROUP = "evaluation"


class LiveScreen(Screen[None]):
    """Watches the evaluation worker. The worker only posts EngineEvent messages; handlers here render them."""

    BINDINGS = [Binding("escape,x", "cancel_run", "Cancel run")]

    def __init__(self) -> None:
        super().__init__()
        self.cancel = threading.Event()
        self.running = False
        self.queue_size = 0
        self.queue_index = 0
        self.last_run_dir: str | None = None
        self.events_seen = 0
        self.pending: list[QuestionScored] = []
        self._reset_counters()

    def _reset_counters(self) -> None:
        self.total = 0
        self.done = 0
        self.session_done = 0
        self.load_s: float | None = None
        self.finished_timing: dict[str, float] = {"wall_s": 0.0, "cpu_s": 0.0, "gpu_s": 0.0, "prompt_tokens": 0}
        self.current_timing: dict[str, Any] = {}
        self.subject_base: dict[str, Any] = {}
        self.gpu_seen = False

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="live"):
            yield Static("No run yet: pick a model and subjects on the setup screen (f2), then ctrl+r.", id="run-title")
            with Horizontal(classes="bar-row"):
                yield Label("overall ", classes="bar-label")
                yield ProgressBar(total=1, id="overall-bar", show_eta=False)
            with Horizontal(classes="bar-row"):
                yield Label("subject ", id="subject-label", classes="bar-label")
                yield ProgressBar(total=1, id="subject-bar", show_eta=False)
            with Horizontal(id="live-middle"):
                yield DataTable(id="subject-table", cursor_type="none", zebra_stripes=True)
                yield TimingPanel("", id="timing")
            yield QuestionPanel("", id="question")
            yield RichLog(id="log", max_lines=400, markup=True, wrap=False)
        yield Footer(show_command_palette=False)

    def on_mount(self) -> None:
        self.sub_title = "live evaluation"
        table = self.query_one("#subject-table", DataTable)
        table.add_column("subject", key="subject", width=24)
        table.add_column("done", key="done", width=9)
        table.add_column("acc", key="acc", width=6)

    # -- running -----------------------------------------------------------------------------------
    def start(self, configs: list[Any]) -> None:
        if self.running:
            self.notify("a run is in progress; cancel it first (escape)", severity="warning")
            return
        self.cancel = threading.Event()
        self.running = True
        self.queue_size = len(configs)
        self.queue_index = 0
        app: Any = self.app
        self.run_queue(configs, self.cancel, app.models)

    @work(thread=True, exclusive=True, exit_on_error=False, group=EVAL_GROUP)
    def run_queue(self, configs: list[Any], cancel: threading.Event, models: Any) -> None:
        """Runs in a thread: the engine's events are posted as messages, nothing here touches a widget."""
        from core.evaluate import evaluate

        for config in configs:
            if cancel.is_set():
                break
            evaluate(config, lambda event: self.post_message(EngineEvent(event)), cancel, models)

    def action_cancel_run(self) -> None:
        if self.running and not self.cancel.is_set():
            self.cancel.set()
            self.log_line("[yellow]stopping after the current batch...[/]")
            self.notify("stopping after the current batch; progress is saved")

    @on(Worker.StateChanged)
    def _worker_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != EVAL_GROUP:
            return
        if event.state in (WorkerState.SUCCESS, WorkerState.CANCELLED):
            self.running = False
        elif event.state == WorkerState.ERROR:
            self.running = False
            app: Any = self.app
            app.show_error(event.worker.error)

    # -- events ------------------------------------------------------------------------------------
    @on(EngineEvent)
    def _engine_event(self, message: EngineEvent) -> None:
        self.events_seen += 1
        handler = getattr(self, f"_on_{type(message.event).__name__}", None)
        if handler is not None:
            handler(message.event)

    def log_line(self, text: str) -> None:
        self.query_one("#log", RichLog).write(text)

    def _on_Notice(self, e: Notice) -> None:
        self.log_line(("[yellow]" if e.level == "warning" else "") + escape(e.message))

    def _on_AssetProgress(self, e: AssetProgress) -> None:
        if e.stage == "done":
            self.log_line(f"asset {e.name} ready ({human_bytes(e.total)})")
        else:
            self.query_one("#run-title", Static).update(f"fetching {e.name}: {e.stage} {human_bytes(e.done)}")

    def _on_ModelLoading(self, e: ModelLoading) -> None:
        self.query_one("#run-title", Static).update(f"model {escape(e.model)}: {e.stage} {escape(e.detail)}")
        self.log_line(f"[dim]model {escape(e.model)}: {e.stage} {escape(e.detail)}[/]")

    def _on_ModelLoaded(self, e: ModelLoaded) -> None:
        i = e.info
        self.load_s = i.get("load_s")
        self.log_line(
            f"loaded {escape(e.model)} in {i.get('load_s')} s: {i.get('parameters', 0) / 1e6:.0f}M params, "
            f"{i.get('device')} {i.get('dtype')}, quant {i.get('quant')}, {human_bytes(i.get('memory_bytes'))}"
        )
        self._title(f"{escape(e.model)} on {i.get('device')} ({i.get('dtype')}, quant {i.get('quant')})")
        self._show_timing()

    def _title(self, text: str) -> None:
        queue = f"  [dim]model {self.queue_index}/{self.queue_size}[/]" if self.queue_size > 1 else ""
        self.query_one("#run-title", Static).update(text + queue)

    def _on_RunStarted(self, e: RunStarted) -> None:
        self.queue_index += 1
        self._reset_counters()
        self.total, self.done = e.total, e.done
        self.last_run_dir = e.run_dir
        self._title(f"{escape(e.model)}: {'resuming' if e.resumed else 'starting'} {escape(e.run_dir)}")
        self.query_one("#overall-bar", ProgressBar).update(total=e.total, progress=e.done)
        table = self.query_one("#subject-table", DataTable)
        table.clear()
        for s in e.subjects:
            acc = percent(s.correct / s.done) if s.done else "-"
            table.add_row(pretty(s.subject)[:22], f"{s.done}/{s.total}", acc, key=s.subject)
        self.log_line(f"run {escape(e.run_dir)}: {e.total} questions, {e.done} already done")

    def _on_SubjectStarted(self, e: SubjectStarted) -> None:
        self.query_one("#subject-label", Label).update(f"{pretty(e.subject)[:18]} ")
        self.query_one("#subject-bar", ProgressBar).update(total=e.total, progress=e.done)

    def _on_QuestionScored(self, e: QuestionScored) -> None:
        # A batch's questions arrive together; they are drawn once, when the batch's BatchScored follows.
        self.done = e.overall_done
        self.session_done += 1
        self.pending.append(e)

    def _flush(self) -> None:
        if not self.pending:
            return
        last = self.pending[-1]
        r = last.record
        self.query_one("#overall-bar", ProgressBar).update(progress=last.overall_done)
        self.query_one("#subject-bar", ProgressBar).update(progress=last.subject_done)
        table = self.query_one("#subject-table", DataTable)
        table.update_cell(r["subject"], "done", f"{last.subject_done}/{last.subject_total}")
        table.update_cell(r["subject"], "acc", percent(last.subject_correct / last.subject_done))
        self.query_one("#question", QuestionPanel).show(r)
        log = self.query_one("#log", RichLog)
        for e in self.pending:
            q = e.record
            mark = "[green]right[/]" if q["correct"] else "[red]wrong[/]"
            question = escape(" ".join(q["question"].split())[:70])
            log.write(
                f"{mark} {q['subject']}#{q['index']} model {q['predicted']} ({max(q['probs']):.2f}) "
                f"answer {q['answer']}  [dim]{question}[/]"
            )
        self.pending.clear()

    def _on_BatchScored(self, e: BatchScored) -> None:
        self._flush()
        self.current_timing = dict(e.timing, subject=e.subject)
        self._show_timing()

    def _on_BatchSizeReduced(self, e: BatchSizeReduced) -> None:
        self.log_line(f"[yellow]batch size {e.old} -> {e.new}: {escape(e.reason)}[/]")

    def _on_SubjectFinished(self, e: SubjectFinished) -> None:
        self._flush()
        t = e.result.get("timing", {})
        for key in ("wall_s", "cpu_s", "prompt_tokens"):
            self.finished_timing[key] += t.get(key) or 0
        if t.get("gpu_s") is not None:
            self.gpu_seen = True
            self.finished_timing["gpu_s"] += t["gpu_s"]
        self.current_timing = {}
        self.log_line(
            f"[b]{pretty(e.subject)}[/]: {percent(e.result['accuracy'])} ({e.result['correct']}/{e.result['answered']})"
        )

    def _on_RunFinished(self, e: RunFinished) -> None:
        self._flush()
        acc = e.results["accuracy"]
        self.log_line(
            f"[b green]finished[/] {escape(e.run_dir)}: accuracy {percent(acc['micro'])} "
            f"(macro {percent(acc['macro'])}); see the results screen (f4)"
        )
        self._title(f"finished: {escape(e.run_dir)}  accuracy {percent(acc['micro'])}")
        self.notify(f"run finished: accuracy {percent(acc['micro'])}")

    def _on_RunCancelled(self, e: RunCancelled) -> None:
        self._flush()
        self.log_line(f"[yellow]cancelled after {e.done}/{e.total}; resume it from the results screen (f4, u)[/]")
        self._title(f"cancelled: {escape(e.run_dir)} ({e.done}/{e.total}, resumable)")

    @staticmethod
    def current_rss() -> int:
        import psutil

        return int(psutil.Process().memory_info().rss)

    def _show_timing(self) -> None:
        cur = self.current_timing
        wall = self.finished_timing["wall_s"] + (cur.get("wall_s") or 0)
        cpu = self.finished_timing["cpu_s"] + (cur.get("cpu_s") or 0)
        tokens = self.finished_timing["prompt_tokens"] + (cur.get("prompt_tokens") or 0)
        gpu = None
        if self.gpu_seen or cur.get("gpu_s") is not None:
            gpu = self.finished_timing["gpu_s"] + (cur.get("gpu_s") or 0)
        qps = self.session_done / wall if wall else None
        self.query_one("#timing", TimingPanel).show({
            "load_s": self.load_s, "wall_s": wall, "cpu_s": cpu, "gpu_s": gpu, "questions_per_s": qps,
            "tokens_per_s": tokens / wall if wall else None,
            "eta_s": (self.total - self.done) / qps if qps else None,
            "rss_bytes": self.current_rss(), "peak_gpu_bytes": cur.get("peak_gpu_bytes"),
        })  # fmt: skip
