"""Modal screens: error dialog, help, document detail."""

from __future__ import annotations

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from core.schema import LETTERS, DocRecord, TaskInfo

from ..widgets.panels import gold_indexes, pick_index


class ErrorDialog(ModalScreen[None]):
    BINDINGS = [Binding("escape,enter", "dismiss", "Close")]

    def __init__(self, title: str, message: str) -> None:
        super().__init__()
        self.title_text = title
        self.message = message

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="error"):
            yield Label(self.title_text, id="dialog-title")
            yield Static(self.message, markup=False, id="dialog-message")
            yield Button("OK (enter)", variant="error", id="dialog-ok")

    def on_button_pressed(self) -> None:
        self.dismiss()


class ConfirmDialog(ModalScreen[bool]):
    """A yes/no question: y or enter confirms, n or escape declines."""

    BINDINGS = [Binding("y,enter", "answer(True)", "Yes"), Binding("n,escape", "answer(False)", "No")]

    def __init__(self, title: str, message: str) -> None:
        super().__init__()
        self.title_text = title
        self.message = message

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(self.title_text, id="dialog-title")
            yield Static(self.message, markup=False, id="dialog-message")
            yield Static("y / enter: yes    n / escape: no", classes="note")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class TextDialog(ModalScreen[str | None]):
    """One line of text: enter gives it, escape gives None."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, message: str, value: str = "") -> None:
        super().__init__()
        self.title_text = title
        self.message = message
        self.value = value

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(self.title_text, id="dialog-title")
            yield Static(self.message, markup=False, id="dialog-message")
            yield Input(self.value, id="dialog-input")
            yield Static("enter: ok    escape: cancel", classes="note")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)


class HelpScreen(ModalScreen[None]):
    """Every key binding of the app and its screens."""

    BINDINGS = [Binding("escape,q,f1,question_mark", "dismiss", "Close")]

    def __init__(self, sections: list[tuple[str, list[tuple[str, str]]]]) -> None:
        super().__init__()
        self.sections = sections
        self.unseen: list[str] | None = None  # while the app shows it unseen (LlmTuiApp._prepare_help): keys held

    def on_key(self, event: events.Key) -> None:
        if self.unseen is not None:
            self.unseen.append(event.key)
            event.stop()
            event.prevent_default()

    def compose(self) -> ComposeResult:
        # padded columns as one Content, not a rich Table: the same look, and cheap to lay out (a Table measures
        # every cell at every layout, a quarter of a second for these ~80 rows on a small machine)
        rows = [(where, key, does) for where, bindings in self.sections for key, does in bindings]
        w_where = max(len("where"), *(len(r[0]) for r in rows))
        w_key = max(len("key"), *(len(r[1]) for r in rows))
        parts: list[tuple[str, str] | str] = [(f"{'where':<{w_where}}  {'key':<{w_key}}  does\n", "bold")]
        for where, key, does in rows:
            parts += [(f"{where:<{w_where}}  ", "dim"), (f"{key:<{w_key}}  ", "bold"), does + "\n"]
        with VerticalScroll(id="dialog", classes="help"):
            yield Label("Keys (escape closes)", id="dialog-title")
            yield Static(Content.assemble(*parts))


class QuestionDetail(ModalScreen[None]):
    """One document in full: the question, each choice with its probability and log-likelihood, the model's pick
    and the right answer; for generated answers, the whole text the model wrote and what was extracted from it."""

    BINDINGS = [
        Binding("escape,enter", "dismiss", "Close"),
        Binding("n,right,down", "step(1)", "Next"),
        Binding("p,left,up", "step(-1)", "Previous"),
    ]

    def __init__(self, record: DocRecord, task: TaskInfo | None = None, records: list[DocRecord] | None = None) -> None:
        """``records``: the list the document was opened from (the table's rows), for next/previous."""
        super().__init__()
        self.records = records or [record]
        self.at = next((i for i, r in enumerate(self.records) if r is record), 0)
        self.record = record
        self.task_info = task

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="dialog", classes="question"):
            yield Static(self._text(), id="question-text")

    def action_step(self, step: int) -> None:
        at = self.at + step
        if not 0 <= at < len(self.records):
            self.notify("no more documents this way" if len(self.records) > 1 else "the only document shown")
            return
        self.at, self.record = at, self.records[at]
        self.query_one("#question-text", Static).update(self._text())
        self.query_one("#dialog", VerticalScroll).scroll_home(animate=False)

    def _text(self) -> Text:
        r = self.record
        text = Text()
        if len(self.records) > 1:
            text.append(f"{self.at + 1} of {len(self.records)} (n/p: next/previous)   ", style="dim")
        where = r.subset if r.subset == r.task else f"{r.task}, {r.subset}"
        text.append(f"{where.replace('_', ' ')} #{r.doc_id}\n\n", style="dim")
        text.append(r.question.strip() + "\n\n")
        golds, pick = gold_indexes(r), pick_index(r)
        probs = r.probs
        for i, choice in enumerate(r.choices):
            label = LETTERS[i] if i < len(LETTERS) else str(i)
            style = "green" if i in golds else ("red" if i == pick else "")
            tags = [t for t, on in (("answer", i in golds), ("model", i == pick)) if on]
            score = ""
            if probs and r.scores and i < len(probs):
                kind = "logit" if r.score_kind == "logit" else "log-lik"
                score = f"({probs[i]:5.1%}, {kind} {r.scores[i]:.2f}) "
            text.append(f"{label}. {score}{choice}" + (f"   <- {', '.join(tags)}" if tags else "") + "\n", style)
        if r.generated is not None:
            text.append("\nthe model wrote:\n", style="dim")
            text.append(r.generated.strip() + "\n")
            text.append("\nextracted ", style="dim")
            text.append(r.pick or "-", style="bold")
            text.append(", reference ", style="dim")
            text.append(r.answer + "\n", style="green")
        elif not r.choices:
            text.append(f"model {r.pick}, answer {r.answer}\n")
        if r.metrics:
            shown = ", ".join(f"{k} {v:g}" for k, v in r.metrics.items())
            text.append(f"\n{shown}", style="dim")
        text.append("\nright" if r.correct else "\nwrong", style="bold green" if r.correct else "bold red")
        return text


MIN_SIZE = (80, 24)  # the smallest terminal every screen is laid out for


class TooSmall(ModalScreen[None]):
    """Shown over everything while the terminal is smaller than MIN_SIZE; goes away when it is large enough."""

    BINDINGS = [Binding("escape", "noop", show=False)]

    def compose(self) -> ComposeResult:
        yield Static("", id="too-small")

    def on_mount(self) -> None:
        self.show_size(self.app.size.width, self.app.size.height)

    def show_size(self, width: int, height: int) -> None:
        w, h = MIN_SIZE
        self.query_one("#too-small", Static).update(
            f"terminal too small: {width}x{height}\n\nllm-tui needs at least {w}x{h}; make the window larger "
            "(or the font smaller). A run in progress goes on.\n\nq quits"
        )

    def action_noop(self) -> None:
        pass
