"""MT-Bench in the app: answer the questions with a model (each answer streamed as it is written), judge the answers,
and see the scores per category as a chart with the same tables as `llm-tui mtbench show`.

Files live in FastChat's layout under ``<runs folder>/mtbench``: ``model_answer/<model>.jsonl`` and
``model_judgment/<judge>_single.jsonl``; what the CLI writes there shows here too, and both resume each other's
work. Answering and judging run in a thread worker that only posts messages; the handlers here render them.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from rich.console import Group
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Checkbox, Header, Input, Label, ProgressBar, Static, TabbedContent, TabPane
from textual.worker import Worker, WorkerState

from ..format import model_name
from ..messages import EngineEvent
from ..widgets.charts import drawing
from ..widgets.key_bar import KeyBar
from ..widgets.legend_plot import LegendPlot, grouped_bars

MT_GROUP = "mtbench"


def category_bars(plot: LegendPlot, summaries: list[Any]) -> None:
    """Mean score per category (1-10), one bar per model answer set."""
    from core.mtbench.answers import CATEGORIES

    with drawing(plot) as plt:
        cats = [c for c in CATEGORIES if any(c in s.categories for s in summaries)]
        if not cats:
            plt.title("no judgments yet: answer (ctrl+r), then judge (ctrl+g)")
            return
        series = [[(s.categories[c].mean or 0) if c in s.categories else 0 for c in cats] for s in summaries]
        names = [f"{model_name(s.model, 30)} ({s.overall.mean or 0:.2f})" for s in summaries]
        grouped_bars(plot, plt, [c[:5] for c in cats], series, names)
        plt.ylim(0, 10)
        plt.yticks([0, 2, 4, 6, 8, 10])
        plt.title(f"MT-Bench mean score per category, judged by {model_name(summaries[0].judge, 24)}")


class MtBenchScreen(Screen[None]):
    BINDINGS = [
        Binding("ctrl+r", "answer", "Answer"),
        Binding("ctrl+g", "judge", "Judge"),
        Binding("escape", "stop", "Stop"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.cancel = threading.Event()
        self.busy = ""  # "answering" or "judging" while a worker runs
        self.turn_shown: tuple[int, int] | None = None
        self.live_text = ""

    # -- layout ----------------------------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="mt"):
            with Horizontal(classes="mt-row"):
                yield Label("model ", classes="field-label")
                yield Input(placeholder="the setup screen's", id="mt-model", compact=True)
                yield Checkbox("history", True, id="mt-history", compact=True)
                yield Label(" per category ", classes="field-label")
                yield Input(value="1", id="mt-per-category", type="integer", compact=True, classes="mt-number")
            with Horizontal(classes="mt-row"):
                yield Label("judge ", classes="field-label")
                yield Input(placeholder="server URL or model (qwen2.5-coder-1.5b-instruct)", id="mt-judge",
                            compact=True)  # fmt: skip
                yield Label(" max tokens ", classes="field-label")
                yield Input(value="256", id="mt-max-tokens", type="integer", compact=True, classes="mt-number")
            yield Static("", id="mt-status")
            with Horizontal(classes="bar-row"):
                yield ProgressBar(total=1, id="mt-bar", show_eta=False)
                yield Label("", id="mt-count", classes="bar-note")
            with TabbedContent(id="mt-tabs"):
                with TabPane("Answer", id="mt-tab-live"), VerticalScroll(id="mt-live-scroll"):
                    yield Static("Each answer appears here as the model writes it.", id="mt-live", markup=False)
                with TabPane("Scores", id="mt-tab-scores"):
                    yield LegendPlot(id="mt-plot")
                with TabPane("Tables", id="mt-tab-tables"), VerticalScroll():
                    yield Static("", id="mt-tables")
        yield KeyBar()

    def on_mount(self) -> None:
        self.sub_title = "MT-Bench"
        self.query_one("#mt-live-scroll", VerticalScroll).anchor()
        self._idle_status()
        self.action_refresh()

    def on_screen_resume(self) -> None:
        self._idle_status()

    # -- where things are -----------------------------------------------------------------------------------------
    @property
    def folder(self) -> Path:
        app: Any = self.app
        return Path(app.settings.runs_dir).expanduser() / "mtbench"

    def _choice(self) -> dict[str, str]:
        from .setup import SetupScreen

        setup = self.app.get_screen("setup")
        if isinstance(setup, SetupScreen) and setup.is_mounted:
            c = setup.build_configs()[0]
            choice = {"spec": c.model, "device": c.device, "dtype": c.dtype, "quant": c.quant, "backend": c.backend,
                      "base_url": c.base_url or ""}  # fmt: skip
        else:
            from core.assets import DEFAULT_MODEL

            choice = {"spec": DEFAULT_MODEL, "device": "auto", "dtype": "auto", "quant": "none",
                      "backend": "transformers", "base_url": ""}  # fmt: skip
        typed = self.query_one("#mt-model", Input).value.strip()
        if typed:
            choice["spec"] = typed
        return choice

    def _number(self, widget: str, what: str) -> int | None:
        raw = self.query_one(widget, Input).value.strip()
        try:
            value = int(raw)
        except ValueError:
            value = 0
        if value < 1:
            self._say(f"{what}: give a whole number of 1 or more", error=True)
            return None
        return value

    def _idle_status(self) -> None:
        if not self.busy:
            choice = self._choice()
            self._say(f"ctrl+r: {model_name(choice['spec'], 28)} ({choice['backend']}) answers · ctrl+g judges · "
                      f"files in {self.folder}")  # fmt: skip

    def _say(self, text: str, error: bool = False) -> None:
        status = self.query_one("#mt-status", Static)
        status.update(text)
        status.set_class(error, "mt-error")

    # -- actions ---------------------------------------------------------------------------------------------------
    def action_answer(self) -> None:
        if self.busy:
            self._say(f"{self.busy}: escape stops it first", error=True)
            return
        per_category = self._number("#mt-per-category", "per category")
        max_tokens = self._number("#mt-max-tokens", "max new tokens")
        if per_category is None or max_tokens is None:
            return
        app: Any = self.app
        self.cancel = threading.Event()
        self.busy = "answering"
        self.live_text, self.turn_shown = "", None
        self.query_one("#mt-live", Static).update("")
        self.query_one("#mt-tabs", TabbedContent).active = "mt-tab-live"
        history = self.query_one("#mt-history", Checkbox).value
        choice = self._choice()
        self._say(f"loading {choice['spec']}...")
        self.answer_worker(choice, history, per_category, max_tokens, app.settings.cache, self.cancel)

    def action_judge(self) -> None:
        if self.busy:
            self._say(f"{self.busy}: escape stops it first", error=True)
            return
        max_tokens = self._number("#mt-max-tokens", "max new tokens")
        per_category = self._number("#mt-per-category", "per category")
        if max_tokens is None or per_category is None:
            return
        app: Any = self.app
        self.cancel = threading.Event()
        self.busy = "judging"
        judge = self.query_one("#mt-judge", Input).value.strip() or "qwen2.5-coder-1.5b-instruct"
        self._say(f"starting the judge {judge}...")
        self.judge_worker(judge, self._choice(), per_category, app.settings.cache, self.cancel)

    def action_stop(self) -> None:
        if self.busy:
            self.cancel.set()
            self._say(f"stopping {self.busy} after the reply or judgment in flight; what finished is saved")

    def action_refresh(self) -> None:
        from core.errors import LlmTuiError
        from core.mtbench.results import load_results

        from ..mtbench_tables import score_tables

        judgments = self.folder / "model_judgment"
        try:
            res = load_results([judgments]) if judgments.is_dir() else None
        except LlmTuiError as exc:
            self.query_one("#mt-tables", Static).update(str(exc))
            return
        if res is None or not res.single:
            self.query_one("#mt-tables", Static).update("no judgments yet: answer (ctrl+r), then judge (ctrl+g)")
            category_bars(self.query_one("#mt-plot", LegendPlot), [])
            return
        self.query_one("#mt-tables", Static).update(Group(*score_tables(res)))
        summaries = res.summaries
        first_judge = summaries[0].judge
        category_bars(self.query_one("#mt-plot", LegendPlot), [s for s in summaries if s.judge == first_judge])

    # -- workers ---------------------------------------------------------------------------------------------------
    @work(thread=True, exclusive=True, exit_on_error=False, group=MT_GROUP)
    def answer_worker(self, choice: dict[str, str], history: bool, per_category: int, max_tokens: int,
                      cache: Path, cancel: threading.Event) -> None:  # fmt: skip
        """In the engine (the app's shared model), answers written as each finishes; events come back here."""
        from core.engine import ModelChoice, MtAnswer

        app: Any = self.app
        job = MtAnswer(ModelChoice.of(choice), history, per_category, max_tokens, self.folder, cache)
        app.engine.run(job, lambda event: self.post_message(EngineEvent(event)), cancel)

    @work(thread=True, exclusive=True, exit_on_error=False, group=MT_GROUP)
    def judge_worker(self, judge_spec: str, choice: dict[str, str], per_category: int, cache: Path,
                     cancel: threading.Event) -> None:  # fmt: skip
        from core.engine import ModelChoice, MtJudge

        app: Any = self.app
        job = MtJudge(judge_spec, ModelChoice.of(choice), per_category, self.folder, cache)
        app.engine.run(job, lambda event: self.post_message(EngineEvent(event)), cancel)

    # -- events ----------------------------------------------------------------------------------------------------
    @on(EngineEvent)
    def _event(self, message: EngineEvent) -> None:
        from core.events import ModelLoaded, Notice
        from core.mtbench import AnswerDelta, AnswerFinished, AnswerStarted
        from core.mtbench.judge import JudgingStarted, JudgmentFinished

        e = message.event
        bar = self.query_one("#mt-bar", ProgressBar)
        if isinstance(e, AnswerStarted):
            bar.update(total=e.total, progress=e.done)
            self._say(f"answering question {e.question_id} ({e.category})")
            self.query_one("#mt-count", Label).update(f"{e.done}/{e.total} answered")
        elif isinstance(e, AnswerDelta):
            if self.turn_shown != (e.question_id, e.turn):
                self.turn_shown = (e.question_id, e.turn)
                self.live_text += f"\n\n── question {e.question_id}, turn {e.turn} ──\n"
                self._say(f"answering question {e.question_id}, turn {e.turn} of 2")
            shown = "".join(ch for ch in e.text if ch.isprintable() or ch in "\n\t")  # no terminal controls
            self.live_text = (self.live_text + shown)[-20000:]
            self.query_one("#mt-live", Static).update(self.live_text.lstrip("\n"))
        elif isinstance(e, AnswerFinished):
            bar.update(total=e.total, progress=e.done)
            self.query_one("#mt-count", Label).update(f"{e.done}/{e.total} answered")
        elif isinstance(e, JudgingStarted):
            bar.update(total=e.total, progress=e.total - e.todo)
            self._say(f"judge {e.judge} on {e.where}: {e.todo} of {e.total} judgments to make")
            self.query_one("#mt-count", Label).update(f"{e.total - e.todo}/{e.total} judged")
        elif isinstance(e, JudgmentFinished):
            bar.update(total=e.total, progress=e.done)
            self.query_one("#mt-count", Label).update(f"{e.done}/{e.total} judged")
            retries = f" · {e.retries} retries" if e.retries else ""
            self._say(f"question {e.question_id} turn {e.turn}, {' vs '.join(e.models)}: {e.verdict}{retries}",
                      error=e.failed)  # fmt: skip
        elif isinstance(e, ModelLoaded):
            self._say(f"{e.info.spec} loaded; asking the first question...")
        elif isinstance(e, Notice):
            self._say(e.message, error=e.level != "info")

    @on(Worker.StateChanged)
    def _worker_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != MT_GROUP or event.state not in (WorkerState.SUCCESS, WorkerState.ERROR,
                                                                 WorkerState.CANCELLED):  # fmt: skip
            return
        what, self.busy = self.busy, ""
        if event.state == WorkerState.ERROR:
            from core.errors import LlmTuiError

            error = event.worker.error
            text = str(error) if isinstance(error, LlmTuiError) else f"{type(error).__name__}: {error}"
            self._say(f"{what} stopped: {text}", error=True)
        elif self.cancel.is_set():
            self._say(f"{what} stopped; what finished is saved, and ctrl+{'r' if what == 'answering' else 'g'} "
                      "goes on from there")  # fmt: skip
        else:
            self._say(f"{what} done · files in {self.folder}")
        self.action_refresh()
        if what == "judging" and event.state == WorkerState.SUCCESS:
            self.query_one("#mt-tabs", TabbedContent).active = "mt-tab-scores"
