"""The key widgets of each screen are on screen at 80x24, 100x30 and 160x50 (issue 11): the live document's
choices and the model's pick, the results table's score and status columns."""

from __future__ import annotations

import pytest
from test_live_states import _first_run_events, _text
from test_snapshots import _app
from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey

from tui.messages import EngineEvent
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
        live.current_rss = lambda: 700_000_000  # type: ignore[method-assign]
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
