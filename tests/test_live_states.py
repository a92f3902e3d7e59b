"""The live screen between runs: nothing of a finished run stays on screen while the next one's model loads, and
no ETA or "Cancel run" once nothing runs (issue 11, items 4 and 9)."""

from __future__ import annotations

import io

from app_helpers import wait_until
from test_snapshots import FEEDS, _app
from textual.widgets import ProgressBar

from core.events import BatchScored, BatchStarted, DocScored, RunFinished, RunStarted, SubsetStarted
from core.schema import RunResults, Timing
from core.tasks import get_task
from tui.messages import EngineEvent
from tui.screens.live import LiveScreen
from tui.widgets.panels import DocumentPanel, TimingPanel


def _first_run_events() -> list:
    make, plan = FEEDS["mmlu"]
    info = get_task("mmlu").info()
    total = sum(p.total for p in plan)
    events: list = [
        RunStarted("runs/one", "smollm2-135m-instruct", info, tuple(plan), total, 0, False),
        SubsetStarted(plan[0].subset, plan[0].total, 0),
        BatchStarted(plan[0].subset, 1, 8, total),
    ]
    for i in range(8):
        events.append(DocScored(make(i, True), i + 1, plan[0].total, i + 1, i + 1, total, i + 1))
    events.append(BatchScored(plan[0].subset, 8, 8, 0.5, 800, Timing(wall_s=0.5, cpu_s=0.9, questions=8)))
    return events


def _offered(app) -> set[str]:
    return {b.binding.action for b in app.active_bindings.values() if b.enabled}


def _text(widget) -> str:
    """What a Static shows, as plain text (markup and Rich tables alike)."""
    from rich.console import Console
    from rich.text import Text

    content = widget.content
    if isinstance(content, str):
        return Text.from_markup(content).plain
    console = Console(width=widget.size.width or 80, record=True, file=io.StringIO())
    console.print(content)
    return console.export_text()


async def test_the_next_runs_model_loads_on_a_clean_screen_and_a_finished_run_has_no_eta():
    app = _app()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("f3")
        live = app.screen
        assert isinstance(live, LiveScreen)
        live.engine_rss = lambda: 700_000_000  # type: ignore[method-assign]
        live._set_running(True)  # as start() does; the worker is not needed to feed events
        assert "cancel_run" in _offered(app)
        for e in _first_run_events():
            live.post_message(EngineEvent(e))
        await wait_until(pilot, lambda: "number 7 from the Sun" in _text(live.query_one("#question", DocumentPanel)))
        # between batches the screen says which documents the model is on (the bars move a batch at a time)
        assert _text(live.query_one("#in-flight")) == "scoring documents 1-8 of 252"
        assert app.terminal_title == "llm-tui: 3% mmlu smollm2-135m-instruct"  # 8 of 252, seen from tmux
        assert "ETA" in _text(live.query_one("#timing", TimingPanel))
        # the second queued run starts: its model is loading, nothing has been scored yet
        make, plan = FEEDS["mmlu"]
        live.post_message(
            EngineEvent(RunStarted("runs/two", "gemma-3-270m", get_task("mmlu").info(), tuple(plan), 252, 0, False))
        )
        await wait_until(pilot, lambda: "runs/two" in _text(live.query_one("#run-title")))
        assert "from the Sun" not in _text(live.query_one("#question", DocumentPanel))
        assert live.query_one("#subject-bar", ProgressBar).progress == 0
        assert live.query_one("#subject-bar", ProgressBar).total is None
        timing = _text(live.query_one("#timing", TimingPanel))
        assert "0.5 s" not in timing  # the first run's wall time is not shown as the second's
        # the run ends: no ETA, no "Cancel run" in the footer
        live.post_message(EngineEvent(RunFinished("runs/two", RunResults(identity=_identity()))))
        live._set_running(False)
        live._show_timing()
        await pilot.pause()
        eta_row = next(line for line in _text(live.query_one("#timing", TimingPanel)).splitlines() if "ETA" in line)
        assert eta_row.split()[-1] == "-"
        assert "cancel_run" not in _offered(app)
        assert _text(live.query_one("#in-flight")) == ""


async def test_the_log_names_a_subset_as_the_table_does():
    from textual.widgets import RichLog

    from core.events import SubsetFinished
    from core.schema import SubsetResult

    app = _app()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("f3")
        live = app.screen
        for e in _first_run_events():
            live.post_message(EngineEvent(e))
        result = SubsetResult(total=100, answered=100, correct=31, accuracy=0.31)
        live.post_message(EngineEvent(SubsetFinished("business_ethics", result)))
        log = live.query_one("#log", RichLog)
        await wait_until(pilot, lambda: any("31/100" in line.text for line in log.lines))
        line = next(line.text for line in log.lines if "31/100" in line.text)
        assert line.startswith("business ethics: acc 31.0%") and "business_ethics" not in line


async def test_below_80x24_a_too_small_view_replaces_the_screens_and_goes_when_it_fits():
    from tui.screens.dialogs import TooSmall
    from tui.screens.setup import SetupScreen

    app = _app()
    async with app.run_test(size=(60, 20)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, TooSmall))
        assert "terminal too small: 60x20" in _text(app.screen.query_one("#too-small"))
        await pilot.press("f4")  # nothing to switch to behind it
        assert isinstance(app.screen, TooSmall)
        await pilot.resize_terminal(79, 30)
        await wait_until(pilot, lambda: "79x30" in _text(app.screen.query_one("#too-small")))
        await pilot.resize_terminal(80, 24)
        await wait_until(pilot, lambda: isinstance(app.screen, SetupScreen))
        await pilot.press("f4")
        await wait_until(pilot, lambda: app.screen.id != "setup" and not isinstance(app.screen, TooSmall))


def _identity():
    from core.schema import RunIdentity

    return RunIdentity(model="gemma-3-270m", device="cpu", dtype="bfloat16", quant="none", task="mmlu")
