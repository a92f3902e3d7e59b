"""Live evaluation: progress, per-subset table, the document just scored, a log and timing, fed by engine events."""

from __future__ import annotations

import os
import threading
from typing import Any

from rich.markup import escape
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Header, Label, ProgressBar, RichLog, Static
from textual.worker import Worker, WorkerState

from core.events import (
    AssetProgress,
    BatchScored,
    BatchSizeReduced,
    BatchStarted,
    DocScored,
    ModelLoaded,
    ModelLoading,
    Notice,
    RunCancelled,
    RunFinished,
    RunStarted,
    ServerStatus,
    SubsetFinished,
    SubsetStarted,
)  # fmt: skip
from core.mmlu.subjects import pretty
from core.schema import TaskInfo, Timing

from ..format import (
    cut,
    engine_words,
    human_bytes,
    in_flight_words,
    metric_short,
    model_name,
    percent,
    plural,
    seconds,
    server_words,
    where_model_runs,
)
from ..messages import EngineEvent, EngineStatusChanged
from ..widgets.key_bar import KeyBar
from ..widgets.panels import DocumentPanel, TimingPanel, pick_index

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
        self.pending: list[DocScored] = []
        self.batch_words = ""
        self.task_info: TaskInfo | None = None
        self.model = ""
        self.killed = False
        self._reset_counters()

    def _reset_counters(self) -> None:
        self.total = 0
        self.done = 0
        self.session_done = 0
        self.load_s: float | None = None
        self.finished_timing: dict[str, float] = {
            "wall_s": 0.0, "cpu_s": 0.0, "gpu_s": 0.0, "prompt_tokens": 0, "generated_tokens": 0,
        }  # fmt: skip
        self.current_timing: Timing | None = None
        self.gpu_seen = False

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="live"):
            yield Static("No run yet: pick a model and tasks on the setup screen (f2), then ctrl+r.", id="run-title")
            with Horizontal(classes="bar-row"):
                yield Label("overall ", classes="bar-label")
                yield ProgressBar(total=1, id="overall-bar", show_eta=False)
                yield Label("", id="in-flight", classes="bar-note")
            with Horizontal(classes="bar-row"):
                yield Label("subset ", id="subject-label", classes="bar-label")
                yield ProgressBar(total=1, id="subject-bar", show_eta=False)
            with Horizontal(id="live-middle"):
                yield DataTable(id="subject-table", cursor_type="none", zebra_stripes=True)
                yield TimingPanel("", id="timing")
            yield DocumentPanel("", id="question")
            yield RichLog(id="log", max_lines=400, markup=True, wrap=False)
        yield KeyBar()

    def on_mount(self) -> None:
        self.sub_title = "live evaluation"
        table = self.query_one("#subject-table", DataTable)
        table.add_column("subset", key="subject", width=22)
        table.add_column("done", key="done", width=9)
        table.add_column("acc", key="acc", width=6)

    # -- running -----------------------------------------------------------------------------------
    def start(self, configs: list[Any]) -> None:
        if self.running:
            self.notify("a run is in progress; cancel it first (escape)", severity="warning")
            return
        self.cancel = threading.Event()
        self._set_running(True)
        # shown at once, so that "No run yet" never flashes between ctrl+r and the engine's first event
        n = len(configs)
        self.query_one("#run-title", Static).update(
            f"starting {plural(n, 'run')}: checking the data, then loading {escape(configs[0].model)}..."
        )
        self.queue_size = len(configs)
        self.queue_index = 0
        self.killed = False
        self.run_queue(configs, self.cancel)

    @work(thread=True, exclusive=True, exit_on_error=False, group=EVAL_GROUP)
    def run_queue(self, configs: list[Any], cancel: threading.Event) -> None:
        """Runs in a thread: the engine (a child process) runs the queue; its events are posted as messages,
        nothing here touches a widget."""
        from core.engine import EngineDied, Evaluate

        app: Any = self.app
        try:
            app.engine.run(Evaluate(tuple(configs)), lambda event: self.post_message(EngineEvent(event)), cancel)
        except EngineDied:
            if not self.killed:  # the user's second cancel ends the engine: that is no error
                raise

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "cancel_run":
            return self.running  # the footer offers "Cancel run" only while there is one
        return True

    def _set_running(self, running: bool) -> None:
        self.running = running
        if not running:
            self._in_flight()
        self.refresh_bindings()

    def action_cancel_run(self) -> None:
        if not self.running:
            return
        app: Any = self.app
        if not self.cancel.is_set():
            self.cancel.set()
            self.log_line("[yellow]stopping after the current batch (escape again: stop the engine now)...[/]")
            self.notify("stopping after the current batch; progress is saved (escape again: stop now)")
        elif not self.killed and app.engine.kind == "process":
            self.killed = True
            app.engine.kill()  # the batch in flight is lost; every finished one is in the journal
            self.log_line("[yellow]engine stopped; the run resumes from its last finished batch (f4, u)[/]")

    @on(Worker.StateChanged)
    def _worker_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != EVAL_GROUP:
            return
        if event.state in (WorkerState.SUCCESS, WorkerState.CANCELLED):
            self._set_running(False)
            self._show_timing()  # no ETA once nothing runs
        elif event.state == WorkerState.ERROR:
            self._set_running(False)
            self._show_timing()
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
        app: Any = self.app
        if hasattr(app, "settings"):
            app.settings.remember_model(e.model)  # "recent" holds models that loaded, not every typed path
        self.load_s = i.load_s
        how = "reused (already loaded)" if i.reused else f"in {seconds(i.load_s)}"
        self.log_line(
            f"loaded {escape(e.model)} {how}: {(i.parameters or 0) / 1e6:.0f}M params, "
            f"{i.device} {i.dtype}, quant {i.quant}, {human_bytes(i.memory_bytes)}"
        )
        self._title(f"{escape(e.model)} {escape(where_model_runs(i.device, i.dtype, i.quant, i.source))}")
        self._show_timing()

    @on(EngineStatusChanged)
    def _engine_status(self, message: EngineStatusChanged) -> None:
        """Say once per model what the engine process holds and how much memory it takes."""
        st = message.status
        shown = (st.pid, st.model)
        if st.model is None or shown == getattr(self, "_engine_shown", None):
            return
        self._engine_shown = shown
        self.log_line(f"[dim]{escape(engine_words(st))}[/]")

    def _task_words(self) -> str:
        """The task and its primary metric, as the header shows them: "ARC-Challenge, acc_norm"."""
        if self.task_info is None:
            return ""
        return f"{self.task_info.title}, {self.task_info.primary_metric}"

    def _title(self, text: str) -> None:
        queue = f"  [dim]run {self.queue_index}/{self.queue_size}[/]" if self.queue_size > 1 else ""
        task = f"[b]{escape(self._task_words())}[/]: " if self.task_info is not None else ""
        self.query_one("#run-title", Static).update(task + text + queue, layout=False)  # one fixed line

    def _on_RunStarted(self, e: RunStarted) -> None:
        self.queue_index += 1
        self._reset_counters()
        self.task_info, self.model = e.task, e.model
        self.total, self.done = e.total, e.done
        self.last_run_dir = e.run_dir
        self.sub_title = f"live: {e.task.name} ({e.task.primary_metric})"
        self._title(f"{escape(e.model)} {'resuming' if e.resumed else 'starting'} {escape(e.run_dir)}")
        self.query_one("#overall-bar", ProgressBar).update(total=e.total, progress=e.done)
        # Nothing of the previous run stays on screen while this one's model loads
        self.query_one("#subject-bar", ProgressBar).update(total=None, progress=0)
        self.query_one("#question", DocumentPanel).clear("[dim]the first documents appear after the first batch[/]")
        self.pending.clear()
        self._in_flight()
        self._show_timing()
        table = self.query_one("#subject-table", DataTable)
        table.clear(columns=True)
        table.add_column(e.task.subset_label, key="subject", width=22)
        table.add_column("done", key="done", width=9)
        table.add_column(metric_short(e.task.primary_metric)[:8], key="acc", width=8)
        for s in e.subsets:
            acc = percent(s.correct / s.done) if s.done else "-"
            table.add_row(pretty(s.subset)[:22], f"{s.done}/{s.total}", acc, key=s.subset)
        self.query_one("#subject-label", Label).update(f"{e.task.subset_label} ")
        what = f"{len(e.subsets)} {e.task.subset_label}s" if len(e.subsets) > 1 else "one subset"
        self.log_line(f"run {escape(e.run_dir)}: {e.task.name}, {e.total} documents in {what}, {e.done} already done")

    def _on_SubsetStarted(self, e: SubsetStarted) -> None:
        self.query_one("#subject-label", Label).update(f"{cut(pretty(e.subset), 18)} ")
        self.query_one("#subject-bar", ProgressBar).update(total=e.total, progress=e.done)

    def _on_BatchStarted(self, e: BatchStarted) -> None:
        # Which documents the model is on now: a batch is scored together, so the bars move a batch at a time
        self.batch_words = f"scoring {in_flight_words(e.first, e.last)} of {e.overall_total}"
        self._in_flight(self.batch_words)

    def _on_ServerStatus(self, e: ServerStatus) -> None:
        words = server_words(e.in_flight, e.retries, e.alive, e.replicas)
        self._in_flight(f"{self.batch_words} · {words}" if e.in_flight else f"server: {words}")

    def _in_flight(self, text: str = "") -> None:
        for label in self.query("#in-flight").results(Label):  # none before the screen is first shown
            label.update(text)

    def _on_DocScored(self, e: DocScored) -> None:
        # A batch's documents arrive together; they are drawn once, when the batch's BatchScored follows.
        self.done = e.overall_done
        self.session_done += 1
        self.pending.append(e)

    def _flush(self) -> None:
        if not self.pending:
            return
        last = self.pending[-1]
        r = last.record
        self.query_one("#overall-bar", ProgressBar).update(progress=last.overall_done)
        self.query_one("#subject-bar", ProgressBar).update(progress=last.subset_done)
        table = self.query_one("#subject-table", DataTable)
        table.update_cell(r.subset, "done", f"{last.subset_done}/{last.subset_total}")
        table.update_cell(r.subset, "acc", percent(last.subset_correct / last.subset_done))
        self.query_one("#question", DocumentPanel).show(r, self.task_info)
        self._terminal_title()
        log = self.query_one("#log", RichLog)
        for e in self.pending:
            log.write(log_entry(e))
        self.pending.clear()

    def _on_BatchScored(self, e: BatchScored) -> None:
        self._flush()
        self.current_timing = e.timing
        self._show_timing()

    def _terminal_title(self, status: str | None = None) -> None:
        """Progress in the terminal's title, for a run watched from another window or tmux pane."""
        app: Any = self.app
        if not hasattr(app, "set_terminal_title"):
            return
        task = self.task_info.name if self.task_info else "run"
        if status is None:
            share = f"{100 * self.done / self.total:.0f}%" if self.total else "..."
            queue = f" [{self.queue_index}/{self.queue_size}]" if self.queue_size > 1 else ""
            status = f"{share} {task} {model_name(self.model, 24)}{queue}"
        app.set_terminal_title(f"llm-tui: {status}")

    def _on_BatchSizeReduced(self, e: BatchSizeReduced) -> None:
        self.log_line(f"[yellow]batch size {e.old} -> {e.new}: {escape(e.reason)}[/]")

    def _on_SubsetFinished(self, e: SubsetFinished) -> None:
        self._flush()
        self._in_flight()
        t = e.result.timing
        for key in ("wall_s", "cpu_s", "prompt_tokens", "generated_tokens"):
            self.finished_timing[key] += getattr(t, key) or 0
        if t.gpu_s is not None:
            self.gpu_seen = True
            self.finished_timing["gpu_s"] += t.gpu_s
        self.current_timing = None
        metric = metric_short(self.task_info.primary_metric) if self.task_info else "score"
        self.log_line(
            f"[b]{escape(pretty(e.subset))}[/]: {metric} {percent(e.result.accuracy)} "
            f"({e.result.correct}/{e.result.answered} right)"
        )

    def _on_RunFinished(self, e: RunFinished) -> None:
        self._flush()
        self._in_flight()
        acc = e.results.accuracy
        metric = e.results.task.primary_metric
        macro = f" (macro {percent(acc.macro)})" if len(e.results.subsets) > 1 else ""
        self.log_line(
            f"[b green]finished[/] {escape(e.run_dir)}: {metric} {percent(acc.micro)}{macro}; "
            "see the results screen (f4)"
        )
        self._title(f"finished {escape(e.run_dir)}: {metric} {percent(acc.micro)}")
        self._terminal_title(f"done {e.results.task.name} {metric} {percent(acc.micro)}")
        self.notify(f"run finished: {e.results.task.name} {metric} {percent(acc.micro)}")

    def _on_RunCancelled(self, e: RunCancelled) -> None:
        self._flush()
        self._in_flight()
        self.log_line(f"[yellow]cancelled after {e.done}/{e.total}; resume it from the results screen (f4, u)[/]")
        self._title(f"cancelled: {escape(e.run_dir)} ({e.done}/{e.total}, resumable)")
        self._terminal_title(f"cancelled at {e.done}/{e.total}")

    def engine_rss(self) -> int:
        """The memory of the process holding the model: the engine's (its last status), or this one's (inline)."""
        status = getattr(self.app, "engine_status", None)
        if status is not None and status.pid != os.getpid():
            return int(status.rss_bytes)
        import psutil

        return int(psutil.Process().memory_info().rss)

    def _show_timing(self) -> None:
        cur = self.current_timing or Timing()
        done = self.finished_timing
        wall = done["wall_s"] + cur.wall_s
        cpu = done["cpu_s"] + cur.cpu_s
        tokens = done["prompt_tokens"] + done["generated_tokens"] + cur.prompt_tokens + cur.generated_tokens
        gpu = None
        if self.gpu_seen or cur.gpu_s is not None:
            gpu = done["gpu_s"] + (cur.gpu_s or 0)
        qps = self.session_done / wall if wall else None
        self.query_one("#timing", TimingPanel).show({
            "load_s": self.load_s, "wall_s": wall, "cpu_s": cpu, "gpu_s": gpu, "questions_per_s": qps,
            "tokens_per_s": tokens / wall if wall else None,
            "eta_s": (self.total - self.done) / qps if qps and self.running and self.done < self.total else None,
            "rss_bytes": self.engine_rss(), "peak_gpu_bytes": cur.peak_gpu_bytes,
        })  # fmt: skip


def log_entry(e: DocScored) -> str:
    """One log line per document: right/wrong, where, the model's answer (how sure, or what it wrote), the answer."""
    r = e.record
    mark = "[green]right[/]" if r.correct else "[red]wrong[/]"
    where = r.subset if r.subset == r.task else f"{r.task}/{pretty(r.subset)}"
    if r.generated is not None:
        detail = f"model {escape(r.pick or '-')}"
    else:
        probs, i = r.probs, pick_index(r)
        sure = f" ({probs[i]:.2f})" if probs and i is not None and i < len(probs) else ""
        detail = f"model {escape(r.pick)}{sure}"
    question = escape(cut(r.question, 70))
    return f"{mark} {escape(where)}#{r.doc_id} {detail} answer {escape(r.answer)}  [dim]{question}[/]"
