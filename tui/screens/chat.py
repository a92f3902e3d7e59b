"""Chat: a streaming conversation over the chat engine (`core.chat`), with history toggle and context strategies.

The model is the one picked on the setup screen. The session and its model live in the app's engine (a child
process), shared with evaluation; this screen holds a ``ChatView`` of it. Worker threads send the engine its jobs
(open, command, turn, switch) and only post messages; handlers here render them.
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
from textual.widgets import Header, Input, Markdown, Static
from textual.worker import Worker, WorkerState

from core.events import Event

from ..format import human_bytes, keep_line_breaks, model_name, server_words, where_model_runs
from ..widgets.key_bar import KeyBar

CHAT_GROUP = "chat"
COMMAND_GROUP = "chat-command"  # commands run beside a turn (as /stats during a reply), never cancelling it


class ChatEvent(Message):
    def __init__(self, event: Event) -> None:
        super().__init__()
        self.event = event


class SessionReady(Message):
    def __init__(self, view: Any) -> None:
        super().__init__()
        self.view = view


class ModelSwitched(Message):
    def __init__(self, lines: list[str], view: Any) -> None:
        super().__init__()
        self.lines = lines
        self.view = view


class CommandApplied(Message):
    def __init__(self, command: Any, outcome: Any, view: Any) -> None:
        super().__init__()
        self.command = command
        self.outcome = outcome
        self.view = view


class ViewUpdated(Message):
    def __init__(self, view: Any) -> None:
        super().__init__()
        self.view = view


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
        self.view: Any = None  # core.engine.chat_jobs.ChatView: the engine's session, as last seen
        self.loaded_choice: dict[str, str] = {}  # what the session's model was loaded from (backend, spec, url)
        self.stop_event = threading.Event()
        self.generating = False
        self.applying = False  # a command is in the engine
        self.queued: list[tuple[str, Any]] = []  # typed while one was: ("command", cmd) or ("message", text)
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
        yield KeyBar()

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
        if self.view is None:
            self._status()
            return
        choice = self._model_choice()
        if choice != self.loaded_choice and not self.generating:
            self._switch_to(choice)

    # -- rendering ---------------------------------------------------------------------------------
    def note(self, text: str, style: str = "chat-note") -> None:
        transcript = self.query_one("#transcript", VerticalScroll)
        transcript.mount(Static(text, markup=False, classes=style))

    def _status(self) -> None:
        v = self.view
        if v is None:
            setup = self._model_choice()
            text = f"{model_name(setup['spec'], 28)} (not loaded yet) · history on · window"
        else:
            st = v.stats
            ttft = "-" if st["last_ttft_s"] is None else f"{st['last_ttft_s']:.2f} s"
            tps = "-" if st["last_tokens_per_s"] is None else f"{st['last_tokens_per_s']:.1f}"
            tokens = v.prompt_tokens if not self.generating else st["last_prompt_tokens"]
            # the numbers first and the model's name cut, so that 80 columns show all of them
            text = (
                f"{model_name(v.spec, 22)} · ctx {'-' if tokens is None else tokens}/{st['budget']} "
                f"· TTFT {ttft} · {tps} tok/s · history {'on' if st['history'] else 'off'} · {st['strategy']}"
            )
            if st["summary"]:
                text += f" · summary of {st['summarized_messages']} messages"
            stats = v.server
            if stats is not None:  # llama.cpp or a server: say which, and for a server its requests and retries
                alive = sum(1 for _, up in stats.replicas if up)
                text += " · " + (
                    "llama.cpp"
                    if v.client_label == "llamacpp"
                    else "server: " + server_words(stats.in_flight, stats.retries, alive, len(stats.replicas))
                )
            engine = getattr(self.app, "engine_status", None)
            if engine is not None and engine.model is not None and v.server is None:
                memory = f" · engine RSS {human_bytes(engine.rss_bytes)}"  # what the shared model costs
                if len(text) + len(memory) <= self.size.width - 2:  # where it fits on the one line
                    text += memory
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
        if self.view is None:
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
        """Commands run in the engine, where the session is; the outcome comes back as CommandApplied. One at a
        time, in the order typed: what is typed while one is in flight waits for it (a message too)."""
        from core.chat.commands import Help, Quit

        if isinstance(command, (Help, Quit)):  # nothing of the session's: no round trip
            from core.chat import apply_command

            self._applied(command, apply_command(None, command))
            return
        if self.applying:
            self.queued.append(("command", command))
            return
        self.applying = True
        self.apply_worker(self.view.session_id, command)

    def _next_queued(self) -> None:
        if self.queued and not self.applying:
            kind, item = self.queued.pop(0)
            if kind == "command":
                self._apply(item)
            else:
                self._send(item)

    @work(thread=True, exclusive=False, exit_on_error=False, group=COMMAND_GROUP)
    def apply_worker(self, session_id: int, command: Any) -> None:
        from core.engine.chat_jobs import ChatApply

        app: Any = self.app
        outcome, view = app.engine.run(ChatApply(session_id, command), lambda _e: None, threading.Event())
        self.post_message(CommandApplied(command, outcome, view))

    @on(CommandApplied)
    def _command_applied(self, message: CommandApplied) -> None:
        self.view = message.view
        self.applying = False
        self._applied(message.command, message.outcome)
        self._next_queued()

    def _applied(self, command: Any, outcome: Any) -> None:
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

        if self.view is None:
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
        if self.view is None:
            self._load_then(text)
            return
        if self.applying:  # a command typed before it goes first
            self.queued.append(("message", text))
            return
        self._warn_if_evaluating()
        self.stop_event = threading.Event()
        self.generating = True
        self.chat_turn(self.view.session_id, text, self.stop_event)

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
        engine = app.engine_status
        if choice.get("backend", "transformers") != "transformers":
            self.note(f"connecting to {choice['spec'] or 'the server'} ({choice['backend']})...")
        elif engine is not None and engine.model == choice["spec"]:
            self.note(f"{choice['spec']} is already loaded (the evaluation's copy): no second load")
        else:
            self.note(f"loading {choice['spec']} on {choice['device']}...")
        self.pending = (text, command, show_help)
        self.generating = text is not None
        self.loaded_choice = dict(choice)
        self.load_session(choice)

    @work(thread=True, exclusive=True, exit_on_error=False, group=CHAT_GROUP)
    def load_session(self, choice: dict[str, str]) -> None:
        """The session opens in the engine: over its shared transformers copy, or llama.cpp / a server."""
        from core.engine import ModelChoice
        from core.engine.chat_jobs import ChatOpen

        app: Any = self.app
        job = ChatOpen(ModelChoice.of(choice), app.settings.cache)
        self.post_message(SessionReady(app.engine.run(job, lambda _e: None, threading.Event())))

    def _switch_to(self, choice: dict[str, str]) -> None:
        if self.generating:
            self.note("a reply is being written; escape stops it, then switch", "chat-error")
            return
        self.note(f"loading {choice['spec']} on {choice['device']}...")
        self.generating = True  # no turn starts while the model changes
        self.switch_model(self.view.session_id, choice)

    @work(thread=True, exclusive=True, exit_on_error=False, group=CHAT_GROUP)
    def switch_model(self, session_id: int, choice: dict[str, str]) -> None:
        from core.engine import ModelChoice
        from core.engine.chat_jobs import ChatSwitch

        app: Any = self.app
        job = ChatSwitch(session_id, ModelChoice.of(choice), app.settings.cache)
        lines, view = app.engine.run(job, lambda _e: None, threading.Event())
        self.loaded_choice = dict(choice)
        self.post_message(ModelSwitched(lines, view))

    @on(ModelSwitched)
    def _model_switched(self, message: ModelSwitched) -> None:
        self.generating = False
        self.view = message.view
        for line in message.lines:
            self.note(line)
        self._remember(message.view.spec)
        self._status()

    def _remember(self, spec: str) -> None:
        """A model that loaded joins the setup screen's "recent" list, as one evaluated does (not a served name:
        it means nothing without its server)."""
        app: Any = self.app
        if hasattr(app, "settings") and self.loaded_choice.get("backend", "transformers") != "openai":
            app.settings.remember_model(spec)

    @on(SessionReady)
    def _session_ready(self, message: SessionReady) -> None:
        self.view = message.view
        self._remember(self.view.spec)
        info = self.view.info
        self.note(
            f"{info.spec} ready {where_model_runs(info.device, info.dtype, info.quant, info.source)}; "
            f"prompt format: {self.view.format_name}"
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
    def chat_turn(self, session_id: int, text: str, stop: threading.Event) -> None:
        from core.engine.chat_jobs import ChatTurn

        app: Any = self.app
        view = app.engine.run(ChatTurn(session_id, text), lambda event: self.post_message(ChatEvent(event)), stop)
        self.post_message(ViewUpdated(view))

    @on(ViewUpdated)
    def _view_updated(self, message: ViewUpdated) -> None:
        self.view = message.view
        self._status()

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
            if self._stream is not None and self.view is not None and self.view.stream:
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
        if event.worker.group not in (CHAT_GROUP, COMMAND_GROUP):
            return
        if event.state not in (WorkerState.SUCCESS, WorkerState.ERROR):
            return
        if event.worker.group == CHAT_GROUP:
            self.generating = False
        elif event.state == WorkerState.ERROR:
            self.applying = False  # a command that failed: the next one typed goes on
            self.call_after_refresh(self._next_queued)
        if event.state == WorkerState.ERROR:
            from core.engine import EngineDied
            from core.errors import LlmTuiError

            error = event.worker.error
            if event.worker.group == CHAT_GROUP:
                await self._end_reply(False)
            text = (
                str(error)
                if isinstance(error, LlmTuiError)
                else f"{getattr(error, 'kind', type(error).__name__)}: {error}"
            )
            if isinstance(error, EngineDied) and self.view is not None:  # its session went with it
                name = self.view.stats["name"]
                self.view = None
                text = f"{error}; this conversation was saved as {name}: /load {name} goes on with it"
            self.note(text, "chat-error")
        self._status()

    def _redraw_transcript(self) -> None:
        transcript = self.query_one("#transcript", VerticalScroll)
        transcript.remove_children()
        widgets: list[Any] = []
        for role, content in self.view.messages:
            if role == "user":
                widgets.append(Static(content, markup=False, classes="chat-user"))
            elif role == "assistant":
                widgets.append(Markdown(keep_line_breaks(content), classes="chat-reply"))
        if self.view.summary:
            widgets.insert(0, Static(f"summary: {self.view.summary}", markup=False, classes="chat-summary"))
        transcript.mount_all(widgets or [Static(self._welcome(), classes="chat-note")])
