"""Snapshot tests (pytest-textual-snapshot) of the setup, live, results and compare screens with deterministic data.

Update the baselines after an intended change with: pytest tests/test_snapshots.py --snapshot-update
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

from app_helpers import CPU, ProbeApp, settings, wait_until, write_run
from textual.widgets import Input

from core.events import BatchScored, DocScored, ModelLoaded, RunStarted, SubsetPlan, SubsetStarted
from core.schema import DocRecord, ModelInfo, TaskInfo, Timing
from core.tasks import get_task
from core.tasks.catalog import describe_tasks
from tui.messages import EngineEvent
from tui.screens.live import LiveScreen

COUNTS = {"astronomy": 152, "business_ethics": 100, "anatomy": 135, "virology": 166}
NO_CACHE = "/nonexistent/llm-tui-cache"
# The catalogue as a machine with nothing cached sees it (the hub's cache would otherwise leak into baselines).
TASKS = [
    dataclasses.replace(r, data_state="not fetched" if r.offline else "hub") for r in describe_tasks(Path(NO_CACHE))
]


def _app(runs_dir: str = "tests/data/runs") -> ProbeApp:
    return ProbeApp(settings=settings(runs_dir, NO_CACHE), devices=[CPU], counts=COUNTS, tasks=TASKS)


async def _no_blink(pilot) -> None:
    for widget in pilot.app.screen.query(Input):
        widget.cursor_blink = False
    await pilot.pause()


def test_setup_screen(snap_compare):
    assert snap_compare(_app(), terminal_size=(100, 30), run_before=_no_blink)


def test_setup_screen_80x24(snap_compare):
    assert snap_compare(_app(), terminal_size=(80, 24), run_before=_no_blink)


async def _tick_arc_untick_mmlu(pilot) -> None:
    await pilot.press("ctrl+k", "space", "down", "space")  # mmlu off, arc_challenge on: the subjects are dimmed
    await _no_blink(pilot)


def test_setup_screen_other_task_80x24(snap_compare):
    assert snap_compare(_app(), terminal_size=(80, 24), run_before=_tick_arc_untick_mmlu)


def _logliks(probs: list[float]) -> list[float]:
    return [round(math.log(p), 4) for p in probs]


def _mmlu_record(i: int, correct: bool) -> DocRecord:
    probs = [0.2, 0.1, 0.6, 0.1] if correct else [0.5, 0.1, 0.3, 0.1]
    return DocRecord(
        task="mmlu", subset="astronomy", doc_id=i, question=f"Which planet is number {i} from the Sun?",
        choices=["Mercury", "Venus", "Earth", "Mars"], gold=2, answer="C", scores=_logliks(probs),
        predicted=2 if correct else 0, pick="C" if correct else "A", metrics={"acc": float(correct)}, correct=correct,
    )  # fmt: skip


def _arc_record(i: int, correct: bool) -> DocRecord:
    choices = [
        "the rock was carried away by running water over a long period of time, grain by grain",
        "the rock was melted by heat from the Sun",
        "a glacier froze over the rock and cracked it into pieces that fell into the valley below the mountain",
        "an animal dug a hole under the rock",
    ]
    probs = [0.35, 0.3, 0.2, 0.15] if correct else [0.2, 0.45, 0.25, 0.1]
    scores = _logliks(probs)
    norm = [s / len(c) for s, c in zip(scores, choices, strict=True)]
    pick = max(range(4), key=lambda k: norm[k])
    return DocRecord(
        task="arc_challenge", subset="arc_challenge", doc_id=i,
        question=(
            "A student finds a smooth, rounded rock at the bottom of a canyon, far from where rocks of that kind "
            f"form ({i}). Which of these most likely gave the rock its smooth, rounded shape over time?"
        ),
        choices=choices, gold=0, answer="A", scores=scores, predicted=max(range(4), key=lambda k: scores[k]),
        predicted_norm=pick, pick="ABCD"[pick], metrics={"acc": float(correct), "acc_norm": float(pick == 0)},
        correct=pick == 0,
    )  # fmt: skip


def _gsm8k_record(i: int, correct: bool) -> DocRecord:
    said = "18" if correct else "16"
    return DocRecord(
        task="gsm8k", subset="gsm8k", doc_id=i,
        question=(
            "Janet's ducks lay 16 eggs per day. She eats three for breakfast every morning and bakes muffins for her "
            "friends every day with four. She sells the remainder at the farmers' market daily for $2 per fresh duck "
            "egg. How much in dollars does she make every day at the farmers' market?"
        ),
        answer="18",
        generated=(
            " Janet sells 16 - 3 - 4 = 9 duck eggs a day. She makes 9 * 2 = $"
            f"{said} every day at the farmer's market. The answer is {said}.\n\n"
        ),
        pick=said, metrics={"exact_match": float(correct), "exact_match_flex": float(correct)}, correct=correct,
        prompt_tokens=900, generated_tokens=41,
    )  # fmt: skip


FEEDS = {
    "mmlu": (_mmlu_record, [SubsetPlan("astronomy", 152, 0, 0), SubsetPlan("business_ethics", 100, 0, 0)]),
    "arc_challenge": (_arc_record, [SubsetPlan("arc_challenge", 1172, 0, 0)]),
    "gsm8k": (_gsm8k_record, [SubsetPlan("gsm8k", 1319, 0, 0)]),
}


def _feeder(task: str):
    async def feed(pilot) -> None:
        app = pilot.app
        await pilot.press("f3")
        live = app.screen
        assert isinstance(live, LiveScreen)
        live.engine_rss = lambda: 734_000_000  # type: ignore[method-assign]
        live._set_running(True)  # as start() does: a run is in progress
        make, plan = FEEDS[task]
        info: TaskInfo = get_task(task).info()
        total = sum(p.total for p in plan)
        first = plan[0]
        events = [
            RunStarted(f"runs/example-{task}", "smollm2-135m-instruct", info, tuple(plan), total, 0, False),
            ModelLoaded(
                "smollm2-135m-instruct",
                ModelInfo(
                    spec="smollm2-135m-instruct",
                    load_s=1.9,
                    parameters=134_515_008,
                    device="cpu",
                    dtype="bfloat16",
                    memory_bytes=269_030_016,
                ),
            ),  # fmt: skip
            SubsetStarted(first.subset, first.total, 0),
        ]
        correct = 0
        for i in range(16):
            record = make(i, i % 3 == 0)
            correct += record.correct
            events.append(DocScored(record, i + 1, first.total, correct, i + 1, total, correct))
        timing = Timing(wall_s=0.5, cpu_s=0.9, questions=16, prompt_tokens=1400)
        events.append(BatchScored(first.subset, 16, 16, 0.5, 1400, timing))
        for e in events:
            live.post_message(EngineEvent(e))
        await pilot.pause()
        await pilot.pause()

    return feed


def test_live_screen(snap_compare):
    assert snap_compare(_app(), terminal_size=(100, 30), run_before=_feeder("mmlu"))


def test_live_screen_80x24(snap_compare):
    assert snap_compare(_app(), terminal_size=(80, 24), run_before=_feeder("mmlu"))


def test_live_screen_loglik_task_80x24(snap_compare):
    assert snap_compare(_app(), terminal_size=(80, 24), run_before=_feeder("arc_challenge"))


def test_live_screen_generate_task_80x24(snap_compare):
    assert snap_compare(_app(), terminal_size=(80, 24), run_before=_feeder("gsm8k"))


def test_results_screen(snap_compare):
    assert snap_compare(_app(), press=["f4"], terminal_size=(110, 24))


def test_compare_heatmap(snap_compare):
    assert snap_compare(
        _app(), press=["f4", "space", "down", "space", "down", "space", "c", "right", "right"], terminal_size=(110, 30)
    )


def test_compare_matrix_of_two_tasks(snap_compare, tmp_path):
    runs = tmp_path / "runs"
    write_run(runs / "a-arc", "smollm2-135m-instruct", "arc_challenge", [i % 2 == 0 for i in range(40)])
    write_run(runs / "b-arc", "gemma-3-270m", "arc_challenge", [i % 3 != 0 for i in range(40)])
    write_run(runs / "a-wino", "smollm2-135m-instruct", "winogrande", [i % 4 != 0 for i in range(30)], choices=2)
    write_run(runs / "b-wino", "gemma-3-270m", "winogrande", [i % 5 != 0 for i in range(30)], choices=2)

    async def compare(pilot) -> None:
        await pilot.press("f4", "space", "down", "space", "down", "space", "down", "space", "c")
        screen = pilot.app.screen
        await wait_until(pilot, lambda: screen.matrix is not None and screen.analysis is not None)

    assert snap_compare(_app(str(runs)), terminal_size=(100, 30), run_before=compare)


def test_results_screen_80x24(snap_compare):
    assert snap_compare(_app(), press=["f4"], terminal_size=(80, 24))


def test_compare_heatmap_80x24(snap_compare):
    assert snap_compare(_app(), press=["f4", "space", "down", "space", "c", "right", "right"], terminal_size=(80, 24))


def test_compare_mistakes_80x24(snap_compare):
    async def mistakes(pilot) -> None:
        await pilot.press("f4", "space", "down", "space", "c")
        screen = pilot.app.screen
        await wait_until(pilot, lambda: screen.analysis is not None)
        await pilot.press(*["right"] * 5)
        await pilot.pause()

    assert snap_compare(_app(), terminal_size=(80, 24), run_before=mistakes)


def test_chat_screen_before_loading_80x24(snap_compare):
    async def chat(pilot) -> None:
        await pilot.press("f5")
        await _no_blink(pilot)

    assert snap_compare(_app(), terminal_size=(80, 24), run_before=chat)
