"""Helpers for Pilot tests: an app that signals every message it sees, and waiting on conditions."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.devices import DeviceInfo
from tui.app import LlmTuiApp
from tui.settings import AppSettings

CPU = DeviceInfo("cpu", "Test CPU", 8 * 2**30, True)


class ProbeApp(LlmTuiApp):
    """The real app, plus an asyncio.Event set whenever an engine event or worker state change bubbles up.

    Its engine runs in-process unless ``engine="process"`` is asked for: the jobs are the same code, and tests
    can patch them and look inside the chat sessions (``session_of``); the process transport has its own tests
    (test_engine_process.py)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("devices", [CPU])
        kwargs.setdefault("counts", None)
        kwargs.setdefault("engine", "inline")
        super().__init__(**kwargs)
        self.changed = asyncio.Event()
        self.engine_events: list[Any] = []

    def on_engine_event(self, message: Any) -> None:
        self.engine_events.append(message.event)
        self.changed.set()

    def on_worker_state_changed(self, _message: Any) -> None:
        self.changed.set()


async def wait_until(pilot: Any, predicate: Callable[[], bool], timeout: float = 120.0) -> None:
    """Wait, without fixed sleeps, until ``predicate()`` holds: re-check whenever the app sees a new message."""
    app: ProbeApp = pilot.app
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    await pilot.pause()
    while not predicate():
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise AssertionError("condition not reached in time")
        app.changed.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(app.changed.wait(), timeout=min(remaining, 1.0))
        await pilot.pause()


def session_of(chat: Any) -> Any:
    """The ChatSession behind a chat screen's view (an in-process engine's)."""
    if chat.view is None:
        return None
    return chat.app.engine.state.sessions[chat.view.session_id]


def settings(runs_dir: str, cache_dir: str | None = None) -> AppSettings:
    return AppSettings(runs_dir=runs_dir, cache_dir=cache_dir)


def write_run(
    folder: Path,
    model: str,
    task: str,
    right: list[bool],
    device: str = "cpu",
    dtype: str = "float32",
    choices: int = 4,
) -> Path:
    """A finished format-2 run folder (results.json + questions.jsonl) of ``task``, one document per ``right``,
    without running a model: for the results and compare screens."""
    from core.runs import RunStore
    from core.schema import Accuracy, DocRecord, RunIdentity, RunResults, SubsetResult, Timing
    from core.tasks import get_task

    info = get_task(task).info()
    letters = "ABCDE"[:choices]
    records = []
    for i, ok in enumerate(right):
        gold = i % choices
        pick = gold if ok else (gold + 1 + i // choices) % choices
        if pick == gold and not ok:
            pick = (gold + 1) % choices
        scores = [-3.0 + 0.1 * k for k in range(choices)]
        scores[pick] = -0.5
        records.append(
            DocRecord(
                task=task,
                subset=task,
                doc_id=i,
                question=f"{task} question {i}?",
                choices=[f"choice {x} of {i}" for x in letters],
                gold=gold,
                answer=letters[gold],
                scores=scores,
                predicted=pick,
                predicted_norm=pick if "acc_norm" in info.metrics else None,
                pick=letters[pick],
                metrics={m: float(ok) for m in info.metrics},
                correct=ok,
            )  # fmt: skip
        )
    n, c = len(right), sum(right)
    timing = Timing(wall_s=n / 10, cpu_s=n / 8, questions=n, prompt_tokens=50 * n, questions_per_s=10.0)
    subset = SubsetResult(
        total=n, answered=n, correct=c, accuracy=c / n, metrics={m: c / n for m in info.metrics}, timing=timing
    )
    results = RunResults(
        status="complete", run_dir=str(folder), created="2026-11-21T10:00:00+00:00",
        updated="2026-11-21T10:00:00+00:00",
        identity=RunIdentity(model=model, device=device, dtype=dtype, task=task, subsets=[task]), task=info,
        accuracy=Accuracy(micro=c / n, macro=c / n, correct=c, answered=n, total=n),
        metrics={m: c / n for m in info.metrics}, subsets={task: subset}, timing=timing,
    )  # fmt: skip
    folder.mkdir(parents=True, exist_ok=True)
    store = RunStore(folder)
    store.write_results(results)
    store.append(records)
    return folder
