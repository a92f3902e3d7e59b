"""Snapshot tests (pytest-textual-snapshot) of the setup, live and results screens with deterministic data.

Update the baselines after an intended change with: pytest tests/test_snapshots.py --snapshot-update
"""

from __future__ import annotations

from app_helpers import CPU, ProbeApp, settings
from textual.widgets import Input

from core.events import (
    BatchScored,
    ModelLoaded,
    QuestionScored,
    RunStarted,
    SubjectFinished,
    SubjectPlan,
    SubjectStarted,
)  # fmt: skip
from tui.messages import EngineEvent
from tui.screens.live import LiveScreen

COUNTS = {"astronomy": 152, "business_ethics": 100, "anatomy": 135, "virology": 166}
NO_CACHE = "/nonexistent/llm-tui-cache"


def _app(runs_dir: str = "tests/data/runs") -> ProbeApp:
    return ProbeApp(settings=settings(runs_dir, NO_CACHE), devices=[CPU], counts=COUNTS)


async def _no_blink(pilot) -> None:
    for widget in pilot.app.screen.query(Input):
        widget.cursor_blink = False
    await pilot.pause()


def test_setup_screen(snap_compare):
    assert snap_compare(_app(), terminal_size=(100, 30), run_before=_no_blink)


def test_setup_screen_80x24(snap_compare):
    assert snap_compare(_app(), terminal_size=(80, 24), run_before=_no_blink)


def _record(i: int, correct: bool) -> dict:
    return {
        "subject": "astronomy",
        "index": i,
        "question": f"Which planet is number {i} from the Sun?",
        "choices": ["Mercury", "Venus", "Earth", "Mars"],
        "answer": "C",
        "predicted": "C" if correct else "A",
        "correct": correct,
        "probs": [0.2, 0.1, 0.6, 0.1] if correct else [0.5, 0.1, 0.3, 0.1],
    }


async def _feed_live(pilot) -> None:
    app = pilot.app
    await pilot.press("f3")
    live = app.screen
    assert isinstance(live, LiveScreen)
    live.current_rss = lambda: 734_000_000  # type: ignore[method-assign]
    plan = (SubjectPlan("astronomy", 152, 0, 0), SubjectPlan("business_ethics", 100, 0, 0))
    events = [
        RunStarted("runs/example", "smollm2-135m-instruct", plan, 252, 0, False),
        ModelLoaded(
            "smollm2-135m-instruct",
            {
                "load_s": 1.9,
                "parameters": 134_515_008,
                "device": "cpu",
                "dtype": "bfloat16",
                "quant": "none",
                "memory_bytes": 269_030_016,
            },
        ),
        SubjectStarted("astronomy", 152, 0),
    ]
    correct = 0
    for i in range(16):
        correct += i % 3 == 0
        events.append(QuestionScored(_record(i, i % 3 == 0), i + 1, 152, correct, i + 1, 252, correct))
    events.append(
        BatchScored(
            "astronomy",
            16,
            16,
            0.5,
            1400,
            {"wall_s": 0.5, "cpu_s": 0.9, "gpu_s": None, "prompt_tokens": 1400, "peak_gpu_bytes": None},
        )
    )
    for e in events:
        live.post_message(EngineEvent(e))
    await pilot.pause()
    await pilot.pause()


def test_live_screen(snap_compare):
    assert snap_compare(_app(), terminal_size=(100, 30), run_before=_feed_live)


def test_live_screen_80x24(snap_compare):
    assert snap_compare(_app(), terminal_size=(80, 24), run_before=_feed_live)


def test_results_screen(snap_compare):
    assert snap_compare(_app(), press=["f4"], terminal_size=(110, 24))


def test_compare_heatmap(snap_compare):
    assert snap_compare(
        _app(), press=["f4", "space", "down", "space", "down", "space", "c", "right", "right"], terminal_size=(110, 30)
    )


_unused = (SubjectFinished,)
