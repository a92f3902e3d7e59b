"""The key widgets of each screen are on screen at 80x24, 100x30 and 160x50 (issue 11): the live document's
choices and the model's pick, the results table's score and status columns, the setup form's fields and keys,
every compare tab with its tables and legends, and the chat status line's TTFT and tok/s."""

from __future__ import annotations

import pytest
from app_helpers import ProbeApp, session_of, settings, wait_until
from test_live_states import _first_run_events, _text
from test_snapshots import _app
from textual.geometry import Region
from textual.widgets import DataTable, Input
from textual.widgets.data_table import ColumnKey

from tui.messages import EngineEvent
from tui.screens.chat import ChatScreen
from tui.screens.live import LiveScreen
from tui.widgets.panels import DocumentPanel

SIZES = [(80, 24), (100, 30), (160, 50)]


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
async def test_live_document_shows_every_choice_and_the_pick(size):
    app = _app()
    async with app.run_test(size=size) as pilot:
        await pilot.press("f3")
        live = app.screen
        assert isinstance(live, LiveScreen)
        live.engine_rss = lambda: 700_000_000  # type: ignore[method-assign]
        for e in _first_run_events():
            live.post_message(EngineEvent(e))
        await pilot.pause()
        await pilot.pause()
        panel = live.query_one("#question", DocumentPanel)
        assert live.region.contains_region(panel.region)
        lines = _text(panel).splitlines()
        assert len([x for x in lines if x.strip()]) <= panel.content_size.height  # nothing cut at the bottom
        for choice in ("Mercury", "Venus", "Earth", "Mars"):
            assert any(choice in line for line in lines), (choice, lines)
        pick = next(line for line in lines if "Earth" in line)
        assert "model" in pick and "answer" in pick  # the model's pick and the right answer, on its line
        assert all(len(line.rstrip()) <= panel.content_size.width for line in lines)
        flight = live.query_one("#in-flight")
        assert live.region.contains_region(flight.region) and flight.region.width >= len("scoring documents 1-8 of 252")
        assert live.query_one("#overall-bar").region.width >= 20  # the bar keeps room beside it


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
async def test_results_show_the_score_and_status_columns(size):
    app = _app()
    async with app.run_test(size=size) as pilot:
        await pilot.press("f4")
        await pilot.pause()
        table = app.screen.query_one("#runs", DataTable)
        widths = [c.get_render_width(table) for c in table.columns.values()]
        keys = [c.key for c in table.columns.values()]
        through_status = sum(widths[: keys.index(ColumnKey("status")) + 1])
        assert through_status <= table.scrollable_content_region.width, (size, widths)
        assert table.get_cell_at((0, keys.index(ColumnKey("accuracy")))).endswith("acc")


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
async def test_setup_shows_the_model_tasks_subjects_and_start(size):
    app = _app()
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        screen = app.screen
        for selector in ("#model-input", "#tasks", "#subject-search", "#subject-summary", "#task-note"):
            widget = screen.query_one(selector)
            assert screen.region.contains_region(widget.region), (selector, widget.region)
        assert "252 questions" in _text(screen.query_one("#subject-summary"))
        footer = " ".join(b.binding.description for b in app.active_bindings.values() if b.binding.show)
        assert "Start" in footer and "Queue" in footer
        # every label in the left column fits its width (no "wrap prompts in the chat templat")
        left = screen.query_one("#setup-left")
        box = screen.query_one("#chat-template")
        assert box.region.right <= left.scrollable_content_region.right
        assert len(str(box.label)) + 4 <= box.region.width
        for button in screen.query("#backend RadioButton"):  # where the model runs: every choice whole
            assert button.region.x + 4 + len(str(button.label)) <= left.scrollable_content_region.right, button.label
        if size != (80, 24):  # from 100x30 up the whole form shows without scrolling
            assert left.max_scroll_y == 0 and screen.query_one("#queue").region.bottom <= left.region.bottom


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
async def test_compare_shows_every_tab_the_table_and_the_legend(size):
    app = _app()
    async with app.run_test(size=size) as pilot:
        await pilot.press("f4", "space", "down", "space", "c")
        screen = app.screen
        await wait_until(pilot, lambda: screen.analysis is not None)
        tabs = screen.query_one("#compare-tabs").query("Tab")
        assert len(tabs) == 9 and all(screen.region.contains_region(t.region) for t in tabs)
        await pilot.press("right", "right")  # the heatmap: table and key within the width
        await pilot.pause()
        heatmap = screen.query_one("#heatmap")
        lines = _text(heatmap).splitlines()
        assert any(line.startswith("1: smollm2-135m-instruct cpu float32 4bit") for line in lines), lines
        await pilot.press("right", "right")  # timing: the legend above its chart, on screen
        await pilot.pause()
        plot = screen.query_one("#timing-plot")
        legend_row = Region(plot.region.x, plot.region.y, plot.region.width, 1)
        assert screen.region.contains_region(legend_row), (legend_row, screen.region)
        assert "■ wall s  ■ CPU s  ■ GPU s" in plot.render().plain.splitlines()[0]


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
async def test_chat_status_shows_ttft_and_speed_with_a_long_model_name(size, tiny_model, tmp_path, monkeypatch):
    monkeypatch.setenv("LLM_TUI_CHATS", str(tmp_path / "chats"))
    folder = tmp_path / "a-model-folder-with-a-rather-long-name-indeed"
    folder.symlink_to(tiny_model)
    app = ProbeApp(settings=settings(str(tmp_path)))
    async with app.run_test(size=size) as pilot:
        app.screen.query_one("#model-input", Input).value = str(folder)
        await pilot.press("f5")
        chat = app.screen
        assert isinstance(chat, ChatScreen)
        box = chat.query_one("#chat-input", Input)
        box.value = "/set max_new_tokens=3"
        await pilot.press("enter")
        await wait_until(pilot, lambda: session_of(chat) is not None)
        box.value = "Hello"
        await pilot.press("enter")
        await wait_until(pilot, lambda: session_of(chat).turns and not chat.generating)
        await pilot.pause()
        status = chat.query_one("#chat-status")
        text = _text(status)
        visible = status.content_size.width
        assert "None" not in text
        for word in ("TTFT", "tok/s"):
            assert text.find(word) >= 0 and text.find(word) + len(word) <= visible, (word, text, visible)
        assert chat.region.contains_region(box.region)
