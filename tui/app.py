"""The Textual app: setup, live evaluation and results screens over the `core` engine.

torch and transformers are imported by a background worker after the first frame, so the app starts fast.
"""

from __future__ import annotations

import contextlib
import os
import weakref
from collections.abc import Iterable
from functools import partial
from pathlib import Path
from typing import Any

from textual import events, on, work
from textual.app import App, AwaitMount, SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from .collector import collect_less_often, freeze_long_lived
from .messages import EngineStatusChanged, StartRuns, WarmupDone
from .screens.chat import ChatScreen
from .screens.dialogs import MIN_SIZE, ErrorDialog, HelpScreen, TooSmall
from .screens.live import LiveScreen
from .screens.mtbench import MtBenchScreen
from .screens.results import ResultsScreen
from .screens.setup import SetupScreen
from .settings import AppSettings


class LlmTuiApp(App[None]):
    CSS_PATH = Path(__file__).parent / "app.tcss"  # absolute: subclasses (tests) live elsewhere
    TITLE = "llm-tui"
    SCREENS = {"setup": SetupScreen, "live": LiveScreen, "results": ResultsScreen, "chat": ChatScreen,
               "mtbench": MtBenchScreen}  # fmt: skip
    MODES = {"setup": "setup", "live": "live", "results": "results", "chat": "chat", "mtbench": "mtbench"}
    DEFAULT_MODE = "setup"
    BINDINGS = [
        Binding("f1,question_mark", "help", "Help"),
        Binding("f2", "switch_mode('setup')", "Setup"),
        Binding("f3", "switch_mode('live')", "Live"),
        Binding("f4", "switch_mode('results')", "Results"),
        Binding("f5", "switch_mode('chat')", "Chat"),
        Binding("f6", "switch_mode('mtbench')", "MT-Bench"),
        Binding("q", "quit", "Quit"),
        Binding("ctrl+q", "quit", "Quit", show=False, priority=True),
    ]

    def __init__(
        self,
        settings: AppSettings | None = None,
        devices: list[Any] | None = None,
        counts: dict[str, int] | None = None,
        tasks: list[Any] | None = None,
        handle_signals: bool = False,
        engine: str | None = None,
    ) -> None:
        """``devices`` and ``counts`` given: no warm-up; ``tasks``: fixed catalogue rows (tests, snapshots).

        ``engine``: "process" (the default: models load and run in a child process at a lower priority, so the
        UI stays responsive and a crash there is an error dialog, not the end of the app) or "inline" (in this
        process; also ``LLM_TUI_ENGINE=inline``)."""
        super().__init__()
        self.settings = settings or AppSettings.load()
        self.warmup_result: WarmupDone | None = None
        self._shown: weakref.WeakSet[Screen] = weakref.WeakSet()
        from core.engine import make_engine

        kind = engine or os.environ.get("LLM_TUI_ENGINE", "process")
        # one engine for evaluation, chat and MT-Bench answers: a model loaded once there serves them all
        self.engine = make_engine(kind, on_status=lambda status: self.post_message(EngineStatusChanged(status)))
        self.engine_status: Any = None
        self._injected = (devices, counts) if devices is not None else None
        self._tasks = tasks
        self._quitting = False
        self._too_small: TooSmall | None = None
        self.terminal_title = ""
        self._handle_signals = handle_signals  # the real app (run_app) quits cleanly on SIGTERM/SIGHUP

    def task_rows(self) -> list[Any]:
        """The task catalogue, each task with its data state (a few file checks: no download, no dataset read)."""
        if self._tasks is not None:
            return list(self._tasks)
        from core.tasks.catalog import describe_tasks

        return describe_tasks(self.settings.cache)

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        """ctrl+p offers the app's own commands first (each also has a key), then Textual's (theme, keys, quit)."""
        screens = (("setup", "Setup"), ("live", "Live"), ("results", "Results"), ("chat", "Chat"),
                   ("mtbench", "MT-Bench"))  # fmt: skip
        for mode, title in screens:
            yield SystemCommand(f"Go to {title}", f"the {mode} screen", partial(self.switch_mode, mode))
        setup = self.get_screen("setup")
        if isinstance(setup, SetupScreen) and setup.is_mounted:
            yield SystemCommand("Start run", "evaluate the setup screen's model and tasks (ctrl+r)", setup.action_start)
            yield SystemCommand(
                "Queue model", "add the setup screen's model to the queue (ctrl+t)", setup.action_queue_model
            )
        if isinstance(screen, ResultsScreen):
            yield SystemCommand("Open run", "the highlighted run (enter)", screen.action_open)
            yield SystemCommand("Compare marked runs", "two or more runs marked with space (c)", screen.action_compare)
            yield SystemCommand("Resume run", "continue the highlighted run (u)", screen.action_resume)
            yield SystemCommand("Delete run", "the highlighted run, after a yes/no question (d)", screen.action_delete)
            yield SystemCommand(
                "Rename run", "give the highlighted run's folder another name (r)", screen.action_rename
            )
        if isinstance(screen, ChatScreen):
            yield SystemCommand(
                "Switch model", "continue the conversation with another model (ctrl+e)", screen.action_model
            )
            yield SystemCommand("Save chat", "save the conversation (ctrl+b)", screen.action_save)
            yield SystemCommand("Clear chat", "start a new conversation (ctrl+l)", screen.action_clear)
        if isinstance(screen, MtBenchScreen):
            yield SystemCommand("Answer MT-Bench", "the model answers the questions (ctrl+r)", screen.action_answer)
            yield SystemCommand("Judge MT-Bench", "the judge grades every answer (ctrl+g)", screen.action_judge)
        from .screens.compare import CompareScreen

        if isinstance(screen, CompareScreen):
            yield SystemCommand("Export report", "PDF, PNG charts and Markdown into reports/ (e)", screen.action_export)
            yield SystemCommand("Next task", "the per-task tabs show the next task (t)", screen.action_next_task)
        yield SystemCommand("Help", "every key of every screen (f1)", self.action_help)
        yield from super().get_system_commands(screen)

    def set_terminal_title(self, text: str) -> None:
        """The terminal window's (or tmux pane's) title: the progress of a run, seen from another window."""
        if text == self.terminal_title:
            return
        self.terminal_title = text
        driver = self._driver
        if driver is not None and not self.is_headless:
            safe = "".join(ch for ch in text if ch.isprintable())
            driver.write(f"\x1b]2;{safe}\x07")  # OSC 2; Textual has no API for it
            driver.flush()

    def on_resize(self, event: events.Resize) -> None:
        self._fit(event.size.width, event.size.height)

    def _fit(self, width: int, height: int) -> None:
        """Below MIN_SIZE a clear "terminal too small" view replaces the screens (no cut-off tables)."""
        small = width < MIN_SIZE[0] or height < MIN_SIZE[1]
        if small and self._too_small is None:
            self._too_small = TooSmall()
            self.push_screen(self._too_small)
        elif small and self._too_small is not None and self._too_small.is_mounted:
            self._too_small.show_size(width, height)
        elif not small and self._too_small is not None:
            shown, self._too_small = self._too_small, None
            if shown in self.screen_stack:
                shown.dismiss()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # nothing to see behind the "too small" view until the terminal is large enough
        return not (self._too_small is not None and action in ("switch_mode", "help"))

    def on_mount(self) -> None:
        self.on_mount_signals()
        collect_less_often()
        self.screen_change_signal.subscribe(self, self._screen_shown)
        self._fit(self.size.width, self.size.height)
        if self._injected is not None:
            self._warmed(WarmupDone(self._injected[0], self._injected[1]))
        else:  # (not when devices are given: tests that press keys at once, snapshots)
            self._prepare_help()
            self.warm_up()

    @work(thread=True, exclusive=True, exit_on_error=False, group="warmup")
    def warm_up(self) -> None:
        """Start the engine, which imports the heavy libraries and looks at the hardware (so the first run starts
        at once); this process never imports torch."""
        import threading

        from core import assets
        from core.engine import Warm

        error = None
        from . import mtbench_tables  # noqa: F401  (numpy and the analysis: here, not on the first f6)
        from .screens import compare, run_detail  # noqa: F401  (here, not on the first f1 or enter)

        try:
            devices = self.engine.run(Warm(), lambda _event: None, threading.Event())
        except Exception as exc:  # a broken torch install must not kill the app
            devices, error = [], f"device detection failed: {exc}"
        counts = None
        if assets.is_verified(assets.ASSETS["mmlu"], self.settings.cache):
            from core.mmlu.data import load_bundled

            counts = load_bundled(self.settings.cache).counts()
        self.post_message(WarmupDone(devices, counts, error))

    def _screen_shown(self, screen: Screen) -> None:
        # an installed screen (setup, live, ..., help) lives as long as the app: out of the collector's way once
        # shown; not a dialog, made for one use, whose cycles must stay collectable
        if screen not in self._shown and self.is_screen_installed(screen):
            self._shown.add(screen)
            self.call_after_refresh(freeze_long_lived)

    @on(WarmupDone)
    def _warmed(self, message: WarmupDone) -> None:
        self.warmup_result = message
        self.call_after_refresh(freeze_long_lived)
        setup = self.get_screen("setup")
        if setup.is_mounted:
            setup.post_message(WarmupDone(message.devices, message.counts, message.error))

    @on(EngineStatusChanged)
    def _engine_status(self, message: EngineStatusChanged) -> None:
        """What the engine holds, for the screens that show it (live, chat)."""
        self.engine_status = message.status
        for name in ("live", "chat"):
            try:
                screen = self.get_screen(name)
            except KeyError:  # shutting down
                return
            if screen.is_mounted:
                screen.post_message(EngineStatusChanged(message.status))

    async def on_unmount(self) -> None:
        import asyncio

        await asyncio.to_thread(self.engine.close)  # its jobs stop at a batch boundary; killed after a grace

    def switch_mode(self, mode: str) -> AwaitMount:
        screen = self.get_screen(self.MODES[mode]) if isinstance(self.MODES.get(mode), str) else None
        if screen is not None and not screen.is_mounted:
            # Its first display composes it under the current stylesheet; Textual would then re-parse every CSS rule
            # and restyle every widget again (~100 ms on a small CPU: a stall while a model loads). Nothing has
            # changed since, so mark it up to date (a theme change later still refreshes it).
            screen._css_update_count = self._css_update_count
        return super().switch_mode(mode)

    @on(StartRuns)
    def _start_runs(self, message: StartRuns) -> None:
        self.switch_mode("live")
        live = self.get_screen("live")
        assert isinstance(live, LiveScreen)
        self.call_after_refresh(live.start, message.configs)

    def show_error(self, error: BaseException | None) -> None:
        """The one place failures of background work become a dialog; then back to setup."""
        from core.engine import EngineDied
        from core.errors import LlmTuiError

        if isinstance(error, EngineDied):
            title, text = "The engine stopped", str(error)
        elif isinstance(error, LlmTuiError):
            title, text = "Cannot run this", str(error)
        else:  # an unexpected failure in the engine process keeps the name of its exception
            title, text = "Unexpected error", f"{getattr(error, 'kind', type(error).__name__)}: {error}"
        self.switch_mode("setup")
        self.push_screen(ErrorDialog(title, text))

    def action_help(self) -> None:
        self._install_help()
        self.push_screen("help")

    def _prepare_help(self) -> None:
        """Show the help screen once, unseen (the first frame waits for it), at start-up: its first display (compose,
        styles, two layout passes: ~50 ms on 2 cores, the slowest key press of a session) is paid here, not on the
        user's first f1."""
        if self.is_screen_installed("help") or len(self.screen_stack) != 1 or self._too_small is not None:
            return
        self._install_help()
        screen = self.get_screen("help", HelpScreen)
        held = self.batch_update()
        held.__enter__()
        screen.unseen = []  # keys pressed meanwhile are kept for the screen beneath

        def done() -> None:
            keys, screen.unseen = screen.unseen, None
            try:
                if self.screen is screen:
                    self.pop_screen()
            finally:
                held.__exit__(None, None, None)
            for key in keys or ():
                self.simulate_key(key)

        self.push_screen(screen)
        self.call_after_refresh(done)

    def _install_help(self) -> None:
        if self.is_screen_installed("help"):
            return
        from .screens.compare import CompareScreen
        from .screens.run_detail import RunDetailScreen

        def keys(cls: Any) -> list[tuple[str, str]]:
            out = []
            for b in cls.BINDINGS:
                if isinstance(b, Binding) and b.description:
                    out.append((b.key.replace(",", " / "), b.description))
            return out

        sections = [
            ("anywhere", keys(LlmTuiApp)),
            ("setup", keys(SetupScreen)),
            ("live", keys(LiveScreen)),
            ("results", keys(ResultsScreen)),
            ("run", keys(RunDetailScreen)),
            ("compare", keys(CompareScreen)),
            ("chat", keys(ChatScreen) + [("/help", "in the message box: the slash commands")]),
            ("MT-Bench", keys(MtBenchScreen)),
        ]
        sections[1][1].extend(
            [
                ("tab / shift+tab", "move between fields"),
                ("space", "tick a task, a subject or a category"),
                ("enter", "pick the highlighted model"),
            ]
        )
        self.install_screen(HelpScreen(sections), "help")  # built once: the table of every key does not change

    def on_mount_signals(self) -> None:
        """SIGTERM (kill, systemd) and SIGHUP (a closed SSH session) quit like `q`: a run in progress stops after
        its batch, with its progress saved."""
        import asyncio
        import signal

        if not self._handle_signals:
            return
        loop = asyncio.get_running_loop()
        for sig in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None)):
            if sig is not None:
                with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):  # no signals here
                    loop.add_signal_handler(sig, lambda: self.call_later(self.action_quit))

    async def action_quit(self) -> None:
        """Quit; a run in progress first stops after the batch in flight and saves (q again: quit at once)."""
        mt = self.get_screen("mtbench")
        if isinstance(mt, MtBenchScreen) and mt.busy:
            mt.cancel.set()  # MT-Bench answers and judgments are written as each finishes: nothing to wait for
        live = self.get_screen("live")
        running = [w for w in self.workers if w.group == "evaluation" and w.is_running]
        if self._quitting:
            self.engine.kill()  # q again: the engine ends now; the journal holds every finished batch
        elif isinstance(live, LiveScreen) and running:
            self._quitting = True
            live.cancel.set()  # the worker stops after its batch; the journal is consistent at any point
            self.notify("stopping after the batch in flight, saving progress (q again to quit at once)")
            self.run_worker(self._exit_when_stopped(running), group="quit", exclusive=True, exit_on_error=False)
            return
        self.exit()

    async def _exit_when_stopped(self, workers: list[Any]) -> None:
        for worker in workers:
            with contextlib.suppress(Exception):  # a failed run still ends; its error was shown already
                await worker.wait()
        self.exit()


def create_app(**kwargs: Any) -> LlmTuiApp:
    return LlmTuiApp(**kwargs)
