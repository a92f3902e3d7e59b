"""The app's MT-Bench screen (issue 13): a model answers (each answer streamed into the screen, progress per
question and turn), a judge server grades, the scores show as a chart per category and the same tables as
`llm-tui mtbench show`; at 80x24 the form, the status and the progress stay on screen."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from app_helpers import CPU, ProbeApp, settings, wait_until
from fake_server import FakeServer
from test_snapshots import COUNTS, TASKS
from textual.widgets import Input, Label, Static, TabbedContent

from core.mtbench import model_id_for
from tui.screens.mtbench import MtBenchScreen
from tui.widgets.legend_plot import LegendPlot


def _app(tmp_path: Path) -> ProbeApp:
    return ProbeApp(settings=settings(str(tmp_path / "runs")), devices=[CPU], counts=COUNTS, tasks=TASKS)


def _lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


async def test_answer_then_judge_then_scores_per_category(tiny_model, tmp_path):
    app = _app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("f6")
        screen = app.screen
        assert isinstance(screen, MtBenchScreen)
        screen.query_one("#mt-model", Input).value = str(tiny_model)
        screen.query_one("#mt-max-tokens", Input).value = "6"
        await pilot.press("ctrl+r")
        answers = tmp_path / "runs" / "mtbench" / "model_answer" / f"{model_id_for(str(tiny_model), True)}.jsonl"
        await wait_until(pilot, lambda: not screen.busy and len(_lines(answers)) == 8)
        live = str(screen.query_one("#mt-live", Static).render())
        assert "question 81, turn 1" in live and "question 81, turn 2" in live  # streamed, turn by turn
        assert str(screen.query_one("#mt-count", Label).render()) == "8/8 answered"
        assert {a["question_id"] for a in _lines(answers)} == {81, 91, 101, 111, 121, 131, 141, 151}

        with FakeServer(model="judge-7b") as server:
            screen.query_one("#mt-judge", Input).value = server.url
            await pilot.press("ctrl+g")
            judgments = tmp_path / "runs" / "mtbench" / "model_judgment" / "judge-7b_single.jsonl"
            await wait_until(pilot, lambda: not screen.busy and len(_lines(judgments)) == 16)
        assert str(screen.query_one("#mt-count", Label).render()) == "16/16 judged"
        await wait_until(pilot, lambda: screen.query_one("#mt-tabs", TabbedContent).active == "mt-tab-scores")
        plot = screen.query_one("#mt-plot", LegendPlot)
        assert len(plot.series) == 1 and plot.series[0].startswith(model_id_for(str(tiny_model), True)[:20])
        tables = screen.query_one("#mt-tables", Static).content
        from rich.console import Console

        console = Console(width=100, record=True)
        console.print(tables)
        text = console.export_text()
        assert "judged by judge-7b" in text and "writing" in text and "0/16" in text


@pytest.mark.parametrize("size", [(80, 24), (160, 50)], ids=lambda s: f"{s[0]}x{s[1]}")
async def test_the_form_status_and_progress_fit(size, tmp_path):
    app = _app(tmp_path)
    async with app.run_test(size=size) as pilot:
        await pilot.press("f6")
        await pilot.pause()
        screen = app.screen
        for selector in ("#mt-model", "#mt-history", "#mt-per-category", "#mt-judge", "#mt-max-tokens", "#mt-status",
                         "#mt-bar", "#mt-tabs"):  # fmt: skip
            widget = screen.query_one(selector)
            assert screen.region.contains_region(widget.region), selector
            assert widget.region.width >= 3, selector
        assert screen.query_one("#mt-model", Input).region.width >= 20
        assert screen.query_one("#mt-tabs").region.height >= 8
        # a bad number is refused in the status line, nothing starts
        screen.query_one("#mt-max-tokens", Input).value = "0"
        await pilot.press("ctrl+r")
        assert not screen.busy
        assert "max new tokens" in str(screen.query_one("#mt-status", Static).render())
