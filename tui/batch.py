"""The headless front end: renders engine events as rich progress bars (or plain lines) and tables."""

from __future__ import annotations

import sys
from pathlib import Path
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
    DocScored,
    Event,
    ModelLoaded,
    ModelLoading,
    Notice,
    RunCancelled,
    RunFinished,
    RunStarted,
    SubsetFinished,
    SubsetStarted,
)  # fmt: skip
from core.mmlu.subjects import pretty
from core.schema import DocRecord, RunResults

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
        reused = " (already loaded)" if i.reused else ""
        self.print(
            f"loaded [bold]{e.model}[/] in {seconds(i.load_s)}{reused}: {(i.parameters or 0) / 1e6:.0f}M "
            f"parameters, {i.device} {i.dtype}, quant {i.quant}, {human_bytes(i.memory_bytes)}"
        )

    def on_RunStarted(self, e: RunStarted) -> None:
        verb = "resuming" if e.resumed else "starting"
        named = bool(e.subsets) and e.subsets[0].subset != e.task.name
        plural = "s" if len(e.subsets) > 1 else ""
        what = f"{len(e.subsets)} {e.task.subset_label}{plural}" if named else e.task.title
        self.print(
            f"{verb} run [bold]{e.run_dir}[/]: {e.task.name}, {e.total} documents in {what}"
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
                acc=self._acc(sum(s.correct for s in e.subsets), e.done),
            )

    def on_SubsetStarted(self, e: SubsetStarted) -> None:
        if self.progress is not None:
            self.subject_tasks[e.subset] = self.progress.add_task(
                pretty(e.subset)[:28], total=e.total, completed=e.done, acc="-"
            )
        else:
            self.print(escape(f"[{e.subset}] {e.done}/{e.total} done, starting"))

    def on_DocScored(self, e: DocScored) -> None:
        r = e.record
        if self.progress is not None:
            self.progress.update(
                self.subject_tasks[r.subset], advance=1, acc=self._acc(e.subset_correct, e.subset_done)
            )
            assert self.overall is not None
            self.progress.update(self.overall, advance=1, acc=self._acc(e.overall_correct, e.overall_done))
        if self.verbose:
            self.print(verbose_line(r))

    def on_BatchScored(self, e: BatchScored) -> None:
        if self.progress is None:
            t = e.timing
            self.print(
                escape(
                    f"[{e.subset}] +{e.size} q in {e.seconds:.2f} s (batch {e.batch_size}); so far "
                    f"{t.questions} q, {rate(t.questions_per_s, 'q/s')}"
                )
            )

    def on_BatchSizeReduced(self, e: BatchSizeReduced) -> None:
        self.print(f"[yellow]batch size {e.old} -> {e.new}: {e.reason}[/]")

    def on_SubsetFinished(self, e: SubsetFinished) -> None:
        if self.progress is None:
            r = e.result
            self.print(
                escape(
                    f"[{e.subset}] done: {percent(r.accuracy)} ({r.correct}/{r.answered}), {seconds(r.timing.wall_s)}"
                )
            )

    def on_RunFinished(self, e: RunFinished) -> None:
        self.close()
        self.console.print(results_table(e.results))
        self.console.print(timing_table(e.results))
        self.console.print(f"saved to {e.run_dir}")

    def on_RunCancelled(self, e: RunCancelled) -> None:
        self.close()
        if e.done == 0 and not Path(e.run_dir).exists():
            self.console.print("[yellow]stopped before any document was scored; no run folder was left[/]")
            return
        self.console.print(f"[yellow]stopped after {e.done}/{e.total} questions; progress saved in {e.run_dir}[/]")

    @staticmethod
    def _acc(correct: int, done: int) -> str:
        return f"{100 * correct / done:5.1f}%" if done else "-"


def verbose_line(r: DocRecord) -> str:
    """--verbose: the document, the model's answer (with how sure it was, or what it wrote), right or wrong."""
    mark = "[green]right[/]" if r.correct else "[red]wrong[/]"
    question = escape(" ".join(r.question.split()))
    if r.generated is not None:
        said = escape(" ".join(r.generated.split())[-80:])
        detail = f"model {escape(r.pick)} (wrote: ...{said})"
    else:
        probs = r.probs
        detail = f"model {escape(r.pick)} (p={max(probs):.2f})" if probs else f"model {escape(r.pick)}"
    return f"{r.subset}#{r.doc_id}: {question[:90]}\n    {detail}  answer {escape(r.answer)}  {mark}"


def metric_label(results: RunResults) -> str:
    return results.task.primary_metric


def results_table(results: RunResults) -> Table:
    ident = results.identity
    title = (
        f"{ident.model} on {results.task.title} ({ident.device}, {ident.dtype}, quant {ident.quant}, "
        f"{ident.shots}-shot)"
    )
    table = Table(title=title, title_justify="left")
    table.add_column(results.task.subset_label)
    many = len(results.subsets) > 1
    if results.categories:
        table.add_column("category")
    metric_names = [results.task.primary_metric] + [m for m in results.task.metrics if m != results.task.primary_metric]
    for m in metric_names:
        table.add_column(m, justify="right")
    table.add_column("right", justify="right")
    table.add_column("wall", justify="right")
    table.add_column("q/s", justify="right")
    for s, v in results.subsets.items():
        cells = [pretty(s)] + ([v.category or ""] if results.categories else [])
        cells += [percent(v.metrics.get(m)) for m in metric_names]
        cells += [f"{v.correct}/{v.answered}", seconds(v.timing.wall_s), rate(v.timing.questions_per_s, "")]
        table.add_row(*cells)
    acc = results.accuracy
    table.add_section()
    label = "[bold]overall (micro)" if many else "[bold]overall"
    cells = [label] + ([""] if results.categories else [])
    cells += [f"[bold]{percent(results.metrics.get(metric_names[0]))}"] + [
        percent(results.metrics.get(m)) for m in metric_names[1:]
    ]
    cells += [f"{acc.correct}/{acc.answered}", seconds(results.timing.wall_s), rate(results.timing.questions_per_s, "")]
    table.add_row(*cells)
    if many:
        table.add_row(
            *(
                ["overall (macro)"]
                + ([""] if results.categories else [])
                + [percent(acc.macro)]
                + [""] * (len(metric_names) + 2)
            )
        )
    return table


def timing_table(results: RunResults) -> Table:
    t = results.timing
    table = Table(title="timing", title_justify="left", show_header=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    rows = [
        ("model load", seconds(t.load_s)),
        ("wall time (documents)", seconds(t.wall_s)),
        ("process CPU time", seconds(t.cpu_s)),
        ("GPU time", "n/a (no GPU)" if t.gpu_s is None else seconds(t.gpu_s)),
        ("documents/s", rate(t.questions_per_s, "q/s")),
        ("tokens/s (prompt + generated)", rate(t.tokens_per_s, "tok/s")),
        ("prompt tokens", f"{t.prompt_tokens:,}"),
    ]
    if t.generated_tokens:
        rows.append(("generated tokens", f"{t.generated_tokens:,}"))
    rows += [("peak RSS", human_bytes(t.peak_rss_bytes)), ("peak GPU memory", human_bytes(t.peak_gpu_bytes))]
    for row in rows:
        table.add_row(*row)
    return table


def comparison_table(runs: list[tuple[str, RunResults | None, str | None]]) -> Table:
    table = Table(title="comparison", title_justify="left")
    left = ("model", "device", "dtype", "quant")
    for col in (*left, "documents", "score (micro)", "score (macro)", "q/s", "wall", "load", "peak RSS"):
        table.add_column(col, justify="left" if col in left else "right")
    for spec, res, error in runs:
        if res is None:
            table.add_row(spec, "", "", "", "", f"[red]{error or 'failed'}", "", "", "", "", "")
            continue
        ident, acc, t = res.identity, res.accuracy, res.timing
        table.add_row(
            spec, ident.device, ident.dtype, ident.quant, f"{acc.answered}/{acc.total}", percent(acc.micro),
            percent(acc.macro), rate(t.questions_per_s, ""), seconds(t.wall_s), seconds(t.load_s),
            human_bytes(t.peak_rss_bytes),
        )  # fmt: skip
    return table


def matrix_table(runs: list[tuple[str, str, RunResults | None, str | None]]) -> Table:
    """Models x tasks: each cell the task's primary metric (and its name), with documents answered."""
    models = list(dict.fromkeys(m for m, *_ in runs))
    tasks = list(dict.fromkeys(t for _, t, *_ in runs))
    cell = {(m, t): (r, e) for m, t, r, e in runs}
    table = Table(title="models x tasks (primary metric)", title_justify="left")
    table.add_column("model")
    for t in tasks:
        table.add_column(t, justify="right")
    for m in models:
        row = [m]
        for t in tasks:
            res, error = cell.get((m, t), (None, "not run"))
            if res is None:
                row.append(f"[red]{error or 'failed'}")
            else:
                row.append(f"{percent(res.accuracy.micro)} {res.task.primary_metric} ({res.accuracy.answered})")
        table.add_row(*row)
    return table


def stdout_console() -> Console:
    return Console(file=sys.stdout, highlight=False)
