"""Chat: a streaming conversation over the chat engine (`core.chat`), with history toggle and context strategies.

The model is the one picked on the setup screen, shared with evaluation through the app's ModelCache. Model
loading and generation run in a thread worker that only posts messages; handlers here render them.
Replies stream into a Markdown widget through its MarkdownStream (batched updates, no full redraw per token);
the transcript follows new text only while it is scrolled to the bottom.
"""

from __future__ import annotations

import threading
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Header, Input, Markdown, Static
from textual.worker import Worker, WorkerState

from core.events import Event

from ..format import keep_line_breaks, model_name, server_words, where_model_runs

CHAT_GROUP = "chat"


class ChatEvent(Message):
    def __init__(self, event: Event) -> None:
        super().__init__()
        self.event = event


class SessionReady(Message):
    def __init__(self, session: Any) -> None:
        super().__init__()
        self.session = session


class ModelSwitched(Message):
    def __init__(self, loaded: Any) -> None:
        super().__init__()
        self.loaded = loaded


class ChatScreen(Screen[None]):
    BINDINGS = [
        Binding("escape", "stop", "Stop reply"),
        Binding("ctrl+o", "history", "History on/off", priority=True),
        Binding("ctrl+y", "strategy", "Strategy", priority=True),
        Binding("ctrl+l", "clear", "Clear", priority=True),
        Binding("ctrl+b", "save", "Save", priority=True),
        Binding("ctrl+g", "load", "Load", show=False, priority=True),
        Binding("ctrl+t", "stats", "Stats", show=False, priority=True),
        Binding("ctrl+e", "model", "Model", priority=True),
        Binding("ctrl+r", "retry", "Retry", show=False, priority=True),
        Binding("ctrl+k", "copy", "Copy reply", show=False, priority=True),
        Binding("up", "recall(-1)", "Earlier input", show=False),
        Binding("down", "recall(1)", "Later input", show=False),
    ]
    AUTO_FOCUS = "#chat-input"

    def __init__(self) -> None:
        super().__init__()
        self.session: Any = None
        self.loaded_choice: dict[str, str] = {}  # what the session's model was loaded from (backend, spec, url)
        self.stop_event = threading.Event()
        self.generating = False
        self.inputs: list[str] = []
        self.recall_at = 0
        self._reply: Markdown | None = None
        self._stream: Any = None
        self._reply_text = ""

    def compose(self) -> ComposeResult:
        yield Header()
        yield VerticalScroll(Static(self._welcome(), classes="chat-note"), id="transcript")
        yield Static("", id="chat-status")
        yield Input(placeholder="message, or /help for commands (enter sends, up recalls)", id="chat-input")
        yield Footer(show_command_palette=False)

    @staticmethod
    def _welcome() -> str:
        return (
            "Chat with the model picked on the setup screen (f2). The first message loads it (already loaded "
            "if you just evaluated it). Keys: escape stops a reply, ctrl+o history on/off, ctrl+y next context "
            "strategy, ctrl+l clear, ctrl+b save, ctrl+e (or /model SPEC) switch model; /help lists the slash "
            "commands."
        )

    def on_mount(self) -> None:
        self.sub_title = "chat"
        self.query_one("#transcript", VerticalScroll).anchor()
        self._status()

    def on_screen_resume(self) -> None:
        """Back from the setup screen with another model picked there: the chat goes on with that model."""
        if self.session is None:
            self._status()
            return
        choice = self._model_choice()
        app: Any = self.app
        if choice.get("backend", "transformers") != "transformers":
            if choice != self.loaded_choice and not self.generating:
                self._switch_to(choice)
            return
        held = app.models.holds(choice["spec"], choice["device"], choice["dtype"], choice["quant"])
        if not (held and app.models.current is self.session.loaded) and not self.generating:
            self._switch_to(choice)

    # -- rendering ---------------------------------------------------------------------------------
    def note(self, text: str, style: str = "chat-note") -> None:
        transcript = self.query_one("#transcript", VerticalScroll)
        transcript.mount(Static(text, markup=False, classes=style))

    def _status(self) -> None:
        s = self.session
        if s is None:
            setup = self._model_choice()
            text = f"{model_name(setup['spec'], 28)} (not loaded yet) · history on · window"
        else:
            st = s.stats()
            ttft = "-" if st["last_ttft_s"] is None else f"{st['last_ttft_s']:.2f} s"
            tps = "-" if st["last_tokens_per_s"] is None else f"{st['last_tokens_per_s']:.1f}"
            tokens = s.plan("").prompt_tokens if not self.generating else st["last_prompt_tokens"]
            # the numbers first and the model's name cut, so that 80 columns show all of them
            text = (
                f"{model_name(s.loaded.source.spec, 22)} · ctx {'-' if tokens is None else tokens}/{st['budget']} "
                f"· TTFT {ttft} · {tps} tok/s · history {'on' if st['history'] else 'off'} · {st['strategy']}"
            )
            if st["summary"]:
                text += f" · summary of {st['summarized_messages']} messages"
            client = getattr(s.loaded, "client", None)
            if client is not None:  # llama.cpp or a server: say which, and for a server its requests and retries
                stats = client.stats()
                alive = sum(1 for _, up in stats.replicas if up)
                text += " · " + (
                    "llama.cpp"
                    if client.label == "llamacpp"
                    else "server: " + server_words(stats.in_flight, stats.retries, alive, len(stats.replicas))
                )
        self.query_one("#chat-status", Static).update(text)

    def _model_choice(self) -> dict[str, str]:
        from .setup import SetupScreen

        setup = self.app.get_screen("setup")
        if isinstance(setup, SetupScreen) and setup.is_mounted:
            config = setup.build_configs()[0]
            return {"spec": config.model, "device": config.device, "dtype": config.dtype, "quant": config.quant,
                    "backend": config.backend, "base_url": config.base_url or ""}  # fmt: skip
        from core.assets import DEFAULT_MODEL

        return {"spec": DEFAULT_MODEL, "device": "auto", "dtype": "auto", "quant": "none", "backend": "transformers",
                "base_url": ""}  # fmt: skip

    # -- input ---------------------------------------------------------------------------------------
    @on(Input.Submitted, "#chat-input")
    def _submitted(self, event: Input.Submitted) -> None:
        from core.chat import parse_input
        from core.chat.commands import Say
        from core.errors import LlmTuiError

        text = event.value
        box = self.query_one("#chat-input", Input)
        try:
            command = parse_input(text)
        except LlmTuiError as exc:
            self.note(str(exc), "chat-error")
            return
        if text.strip():
            self.inputs.append(text)
        self.recall_at = len(self.inputs)
        box.value = ""
        if isinstance(command, Say):
            self._send(command.text)
            return
        if self.session is None:
            from core.chat.commands import Help, Quit

            if isinstance(command, Quit):
                self.app.switch_mode("setup")
            elif isinstance(command, Help):
                self._load_then(None, show_help=True)
            else:
                self._load_then(None, command=command)
            return
        self._apply(command)

    def _apply(self, command: Any) -> None:
        from core.chat import apply_command
        from core.errors import LlmTuiError

        try:
            outcome = apply_command(self.session, command)
        except LlmTuiError as exc:
            self.note(str(exc), "chat-error")
            return
        if outcome.changed and type(command).__name__ in ("Clear", "Load", "Retry", "Edit"):
            self._redraw_transcript()
        for line in outcome.lines:
            self.note(line)
        if outcome.quit:
            self.app.switch_mode("setup")
        if outcome.copy is not None:
            self.app.copy_to_clipboard(outcome.copy)  # OSC 52: works over SSH, where the terminal supports it
        if outcome.edit is not None:
            box = self.query_one("#chat-input", Input)
            box.value = outcome.edit
            box.cursor_position = len(box.value)
            box.focus()
        if outcome.resend is not None:
            self._send(outcome.resend)
        if outcome.switch_model is not None:  # the same backend (and server), another model
            self._switch_to(dict(self.loaded_choice, spec=outcome.switch_model))
        self._status()

    def action_recall(self, step: int) -> None:
        if not self.inputs:
            return
        self.recall_at = max(0, min(len(self.inputs), self.recall_at + step))
        box = self.query_one("#chat-input", Input)
        box.value = self.inputs[self.recall_at] if self.recall_at < len(self.inputs) else ""
        box.cursor_position = len(box.value)

    def _command(self, text: str) -> None:
        from core.chat import parse_input

        if self.session is None:
            self._load_then(None, command=parse_input(text))
        else:
            self._apply(parse_input(text))

    def action_history(self) -> None:
        self._command("/history")

    def action_strategy(self) -> None:
        self._command("/strategy")

    def action_clear(self) -> None:
        self._command("/clear")

    def action_save(self) -> None:
        self._command("/save")

    def action_retry(self) -> None:
        self._command("/retry")

    def action_copy(self) -> None:
        self._command("/copy")

    def action_stats(self) -> None:
        self._command("/stats")

    def action_load(self) -> None:
        from core.chat import ChatStore

        names = sorted(p.stem for p in ChatStore().folder.glob("*.json")) if ChatStore().folder.is_dir() else []
        self.note("saved chats: " + (", ".join(names[-12:]) if names else "none yet"))
        box = self.query_one("#chat-input", Input)
        box.value = "/load "
        box.cursor_position = len(box.value)
        box.focus()

    def action_model(self) -> None:
        from core.assets import MODEL_ALIASES

        self.note("bundled models: " + ", ".join(sorted(MODEL_ALIASES)) + " (or a hub id, a folder, a .gguf path)")
        box = self.query_one("#chat-input", Input)
        box.value = "/model "
        box.cursor_position = len(box.value)
        box.focus()

    def action_stop(self) -> None:
        if self.generating:
            self.stop_event.set()

    # -- model and turns -----------------------------------------------------------------------------
    def _send(self, text: str) -> None:
        if self.generating:
            self.note("a reply is being written; escape stops it", "chat-error")
            return
        if self.session is None:
            self._load_then(text)
            return
        self._warn_if_evaluating()
        self.stop_event = threading.Event()
        self.generating = True
        self.chat_turn(self.session, text, self.stop_event)

    def _warn_if_evaluating(self) -> None:
        """A reply written while an evaluation runs shares the CPU or GPU with it: say so (its timing is skewed)."""
        from .live import LiveScreen

        live = self.app.get_screen("live")
        if isinstance(live, LiveScreen) and live.running:
            self.note(
                "an evaluation is running: this reply shares the device with it, so both are slower and the "
                "run's timing includes this chat",
                "chat-error",
            )
            if live.is_mounted:
                live.log_line("[yellow]a chat reply was generated during this run: its timing includes it[/]")

    def _load_then(self, text: str | None, command: Any = None, show_help: bool = False) -> None:
        choice = self._model_choice()
        app: Any = self.app
        if choice.get("backend", "transformers") != "transformers":
            self.note(f"connecting to {choice['spec'] or 'the server'} ({choice['backend']})...")
        elif app.models.holds(choice["spec"], choice["device"], choice["dtype"], choice["quant"]):
            self.note(f"{choice['spec']} is already loaded (the evaluation's copy): no second load")
        else:
            self.note(f"loading {choice['spec']} on {choice['device']}...")
        self.pending = (text, command, show_help)
        self.generating = text is not None
        self.load_session(choice, app.models)

    @work(thread=True, exclusive=True, exit_on_error=False, group=CHAT_GROUP)
    def load_session(self, choice: dict[str, str], models: Any) -> None:
        from core.chat import ChatSession, ChatStore

        loaded = self._obtain(choice, models)
        self.post_message(SessionReady(ChatSession(loaded, store=ChatStore(), autosave=True)))

    def _obtain(self, choice: dict[str, str], models: Any) -> Any:
        """The model for ``choice``, in the worker: the app's shared transformers copy, or llama.cpp / a server."""
        from core.chat.remote import open_chat_model

        app: Any = self.app
        self.loaded_choice = dict(choice)
        return open_chat_model(
            choice.get("backend", "transformers"), choice["spec"], app.settings.cache, device=choice["device"],
            dtype=choice["dtype"], quant=choice["quant"], base_url=choice.get("base_url") or None, models=models,
        )  # fmt: skip

    def _switch_to(self, choice: dict[str, str]) -> None:
        if self.generating:
            self.note("a reply is being written; escape stops it, then switch", "chat-error")
            return
        self.note(f"loading {choice['spec']} on {choice['device']}...")
        self.generating = True  # no turn starts while the model changes
        app: Any = self.app
        self.switch_model(choice, app.models)

    @work(thread=True, exclusive=True, exit_on_error=False, group=CHAT_GROUP)
    def switch_model(self, choice: dict[str, str], models: Any) -> None:
        self.post_message(ModelSwitched(self._obtain(choice, models)))

    @on(ModelSwitched)
    def _model_switched(self, message: ModelSwitched) -> None:
        from core.errors import LlmTuiError

        self.generating = False
        try:
            lines = self.session.switch_model(message.loaded)
        except LlmTuiError as exc:
            self.note(str(exc), "chat-error")
        else:
            for line in lines:
                self.note(line)
            self._remember(message.loaded.source.spec)
        self._status()

    def _remember(self, spec: str) -> None:
        """A model that loaded joins the setup screen's "recent" list, as one evaluated does (not a served name:
        it means nothing without its server)."""
        app: Any = self.app
        if hasattr(app, "settings") and self.loaded_choice.get("backend", "transformers") != "openai":
            app.settings.remember_model(spec)

    @on(SessionReady)
    def _session_ready(self, message: SessionReady) -> None:
        self.session = message.session
        self._remember(self.session.loaded.source.spec)
        info = self.session.loaded.info
        self.note(
            f"{info.spec} ready {where_model_runs(info.device, info.dtype, info.quant, info.source)}; "
            f"prompt format: {self.session.format.name}"
        )
        text, command, show_help = getattr(self, "pending", (None, None, False))
        self.pending = (None, None, False)
        self.generating = False
        if show_help:
            from core.chat.commands import Help

            self._apply(Help())
        if command is not None:
            self._apply(command)
        if text is not None:
            self._send(text)
        self._status()

    @work(thread=True, exclusive=True, exit_on_error=False, group=CHAT_GROUP)
    def chat_turn(self, session: Any, text: str, stop: threading.Event) -> None:
        session.run_turn(text, lambda event: self.post_message(ChatEvent(event)), stop)

    @on(ChatEvent)
    async def _chat_event(self, message: ChatEvent) -> None:
        from core.chat import ReplyDelta, Summarizing, SummaryUpdated, TurnFinished, TurnRefused, TurnStarted

        e = message.event
        transcript = self.query_one("#transcript", VerticalScroll)
        if isinstance(e, TurnStarted):
            await transcript.mount(Static(e.user, markup=False, classes="chat-user"))
            self._reply = Markdown("", classes="chat-reply")
            self._reply_text = ""
            await transcript.mount(self._reply)
            self._stream = Markdown.get_stream(self._reply)
            self.query_one("#chat-status", Static).update(
                f"sending {e.plan.prompt_tokens} tokens ({len(e.plan.kept)} earlier messages kept, "
                f"{len(e.plan.dropped)} dropped, {len(e.plan.summarized)} summarized)..."
            )
        elif isinstance(e, ReplyDelta):
            self._reply_text += e.text
            if self._stream is not None and self.session is not None and self.session.settings.stream:
                await self._stream.write(keep_line_breaks(e.text))
        elif isinstance(e, Summarizing):
            self.note(f"summarizing {e.messages} older messages to fit the context...")
        elif isinstance(e, SummaryUpdated):
            self.note(f"summary: {e.summary}", "chat-summary")
        elif isinstance(e, TurnFinished):
            await self._end_reply(e.record.stopped)
        elif isinstance(e, TurnRefused):
            if self._reply is not None:
                await self._reply.remove()
            self._reply, self._stream = None, None
            self.note(e.message, "chat-error")

    async def _end_reply(self, stopped: bool) -> None:
        if self._stream is not None:
            await self._stream.stop()
        if self._reply is not None:
            text = self._reply_text + ("\n\n*[stopped]*" if stopped else "")
            await self._reply.update(keep_line_breaks(text))
        self._stream = None
        self._reply = None

    @on(Worker.StateChanged)
    async def _worker_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != CHAT_GROUP or event.state not in (WorkerState.SUCCESS, WorkerState.ERROR):
            return
        self.generating = False
        if event.state == WorkerState.ERROR:
            from core.errors import LlmTuiError

            error = event.worker.error
            await self._end_reply(False)
            text = str(error) if isinstance(error, LlmTuiError) else f"{type(error).__name__}: {error}"
            self.note(text, "chat-error")
        self._status()

    def _redraw_transcript(self) -> None:
        transcript = self.query_one("#transcript", VerticalScroll)
        transcript.remove_children()
        widgets: list[Any] = []
        for m in self.session.messages:
            if m.role == "user":
                widgets.append(Static(m.content, markup=False, classes="chat-user"))
            elif m.role == "assistant":
                widgets.append(Markdown(keep_line_breaks(m.content), classes="chat-reply"))
        if self.session.summary.text:
            widgets.insert(0, Static(f"summary: {self.session.summary.text}", markup=False, classes="chat-summary"))
        transcript.mount_all(widgets or [Static(self._welcome(), classes="chat-note")])
