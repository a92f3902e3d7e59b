"""Modal screens: error dialog, help, question detail."""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static

from core.mmlu.data import LETTERS


class ErrorDialog(ModalScreen[None]):
    BINDINGS = [Binding("escape,enter", "dismiss", "Close")]

    def __init__(self, title: str, message: str) -> None:
        super().__init__()
        self.title_text = title
        self.message = message

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="error"):
            yield Label(self.title_text, id="dialog-title")
            yield Static(escape(self.message), id="dialog-message")
            yield Button("OK (enter)", variant="error", id="dialog-ok")

    def on_button_pressed(self) -> None:
        self.dismiss()


class HelpScreen(ModalScreen[None]):
    """Every key binding of the app and its screens."""

    BINDINGS = [Binding("escape,q,f1,question_mark", "dismiss", "Close")]

    def __init__(self, sections: list[tuple[str, list[tuple[str, str]]]]) -> None:
        super().__init__()
        self.sections = sections

    def compose(self) -> ComposeResult:
        table = Table(show_header=True, box=None, padding=(0, 2))
        table.add_column("where", style="dim")
        table.add_column("key", style="bold")
        table.add_column("does")
        for where, bindings in self.sections:
            for key, description in bindings:
                table.add_row(where, key, description)
        with VerticalScroll(id="dialog", classes="help"):
            yield Label("Keys (escape closes)", id="dialog-title")
            yield Static(table)


class QuestionDetail(ModalScreen[None]):
    BINDINGS = [Binding("escape,enter", "dismiss", "Close")]

    def __init__(self, record: dict[str, Any]) -> None:
        super().__init__()
        self.record = record

    def compose(self) -> ComposeResult:
        r = self.record
        text = Text()
        text.append(f"{r['subject'].replace('_', ' ')} #{r['index']}\n\n", style="dim")
        text.append(r["question"].strip() + "\n\n")
        for letter, choice, p in zip(LETTERS, r["choices"], r["probs"], strict=True):
            style = "green" if letter == r["answer"] else ("red" if letter == r["predicted"] else "")
            tags = [t for t, on in (("answer", letter == r["answer"]), ("model", letter == r["predicted"])) if on]
            text.append(f"{letter}. ({p:5.1%}) {choice}" + (f"   <- {', '.join(tags)}" if tags else "") + "\n", style)
        text.append("\nright" if r["correct"] else "\nwrong", style="bold green" if r["correct"] else "bold red")
        with VerticalScroll(id="dialog", classes="question"):
            yield Static(text)
