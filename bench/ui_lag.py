"""Benchmark: is the app responsive while the real SmolLM2 evaluates? And what does the UI cost in throughput?

In one run, on this machine:
  1. the app (headless, 100x30) evaluates a task (default MMLU astronomy + business_ethics) with
     smollm2-135m-instruct, its model work in the engine process (``--engine inline``: in the app's process, as
     before issue 14; both may be given, comma-separated); meanwhile, from the app's start (the engine starting
     and loading the model included) to the run's end, a probe measures the event loop's lag (how late a 20 ms
     timer fires) and the latency of real key presses (f1 opens the help screen, escape closes it: time from the
     key event to the screen being shown);
  2. the same evaluation headless (no UI, in this process), for the questions/s ratio.
It also times the live screen's handler for each engine event, and names what happened around the worst lag
(a slow handler is the UI's own doing; a stall with no slow handler is the worker holding the GIL).

    python bench/ui_lag.py [--task mmlu] [--subjects astronomy,business_ethics] [--limit N]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from textual import events  # noqa: E402

from core import events as core_events  # noqa: E402
from core.config import EvalConfig  # noqa: E402
from core.devices import cpu_name  # noqa: E402
from core.events import RunFinished  # noqa: E402
from tui.app import LlmTuiApp  # noqa: E402
from tui.screens.dialogs import HelpScreen  # noqa: E402
from tui.screens.live import LiveScreen  # noqa: E402
from tui.settings import AppSettings  # noqa: E402


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


async def in_app(config: EvalConfig, engine: str) -> dict:
    app = LlmTuiApp(settings=AppSettings(runs_dir=config.runs_dir), engine=engine)
    lags: list[float] = []
    keys: list[float] = []
    opened = asyncio.Event()
    original_resume = getattr(HelpScreen, "on_screen_resume", None)

    def shown(self: HelpScreen) -> None:  # each time the help screen becomes the current one
        opened.set()
        if original_resume:
            original_resume(self)

    HelpScreen.on_screen_resume = shown  # type: ignore[attr-defined]
    handled: list[tuple[float, float, str]] = []  # (start, seconds, event type) of each engine-event handler
    event_types = {name for name, value in vars(core_events).items() if isinstance(value, type)}
    originals = {name: vars(LiveScreen)[name] for name in vars(LiveScreen) if name[4:] in event_types}

    def timed(name: str, original):  # type: ignore[no-untyped-def]
        def handler(self: LiveScreen, event) -> None:  # type: ignore[no-untyped-def]
            h0 = time.perf_counter()
            original(self, event)
            handled.append((h0, time.perf_counter() - h0, name[4:]))

        return handler

    for name, original in originals.items():  # the live screen looks these up by event type, per event
        setattr(LiveScreen, name, timed(name, original))
    lag_at: list[float] = []
    async with app.run_test(size=(100, 30)) as pilot:
        start = time.perf_counter()
        cpu0 = time.process_time()  # this process's CPU: the UI's own cost (and the model's, with --engine inline)
        await pilot.pause()
        app.post_message(__import__("tui.messages", fromlist=["StartRuns"]).StartRuns([config]))
        live = app.get_screen("live")
        started = False
        while not started or live.running:  # from the app's start: the engine's start and the model load count
            started = started or live.running
            t0 = time.perf_counter()
            await asyncio.sleep(0.02)
            lags.append(time.perf_counter() - t0 - 0.02)
            lag_at.append(t0)
            if len(lags) % 50 == 0:  # a key press about every second (and the help screen shown, then closed)
                opened.clear()
                k0 = time.perf_counter()
                app.post_message(events.Key("f1", None))
                await opened.wait()
                keys.append(time.perf_counter() - k0)
                app.post_message(events.Key("escape", None))
                while isinstance(app.screen, HelpScreen):
                    await asyncio.sleep(0.005)
        wall = time.perf_counter() - start
        ui_cpu = time.process_time() - cpu0
    for name, original in originals.items():
        setattr(LiveScreen, name, original)
    worst = max(range(len(lags)), key=lags.__getitem__)
    w0, w1 = lag_at[worst], lag_at[worst] + 0.02 + lags[worst]
    around = [
        (round((h - start) * 1000), round(d * 1000, 1), name) for h, d, name in handled if w0 - 0.05 <= h <= w1 + 0.05
    ]
    slowest = sorted(handled, key=lambda x: -x[1])[:3]
    return {
        "lags": lags, "keys": keys, "wall": wall, "ui_cpu": ui_cpu, "worst_at_ms": round((w0 - start) * 1000),
        "around": around,
        "slowest": [(name, round(d * 1000, 1)) for _, d, name in slowest],
    }  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", default="mmlu", help="the task to evaluate (default mmlu)")
    p.add_argument("--subjects", help="MMLU subjects (default: the task's default: astronomy,business_ethics)")
    p.add_argument("--limit", type=int)
    p.add_argument("--engine", default="process", help="process, inline, or both comma-separated (default process)")
    ns = p.parse_args()
    engines = [e.strip() for e in ns.engine.split(",") if e.strip()]
    with tempfile.TemporaryDirectory() as tmp:

        def config(name: str) -> EvalConfig:
            return EvalConfig(
                task=ns.task, subsets=ns.subjects, limit=ns.limit, device="cpu", output=str(Path(tmp) / name),
                runs_dir=tmp,
            )  # fmt: skip

        import json

        what = f"task {ns.task}" + (f", subjects {ns.subjects}" if ns.subjects else "")
        print(f"machine: {cpu_name()}; model smollm2-135m-instruct, {what}, cpu, default dtype")
        results = {}
        for engine in engines:  # the app first: its process has not imported torch (as when a user starts it)
            app_result = asyncio.run(in_app(config(f"app-{engine}"), engine))
            app_timing = json.loads((Path(tmp) / f"app-{engine}" / "results.json").read_text())["timing"]
            results[engine] = (app_result, app_timing)
        from core.evaluate import evaluate  # torch is imported here, after the app ran (its process never does)

        headless: list[RunFinished] = []
        evaluate(config("headless"), lambda e: headless.append(e) if isinstance(e, RunFinished) else None)
    head_timing = headless[0].results.timing.model_dump()
    for engine, (app_result, app_timing) in results.items():
        lags_ms = [x * 1000 for x in app_result["lags"]]
        keys_ms = [x * 1000 for x in app_result["keys"]]
        print(
            f"-- the app, engine {engine}: wall {app_result['wall']:.1f} s from the app's start to the run's end; "
            f"the app's process used {app_result['ui_cpu']:.1f} s of CPU"
        )
        print(
            f"event-loop lag ({len(lags_ms)} samples): median {statistics.median(lags_ms):.1f} ms, "
            f"p95 {pct(lags_ms, 0.95):.1f} ms, p99 {pct(lags_ms, 0.99):.1f} ms, max {max(lags_ms):.1f} ms"
        )
        print(
            f"key press -> screen shown ({len(keys_ms)} presses): median {statistics.median(keys_ms):.1f} ms, "
            f"p95 {pct(keys_ms, 0.95):.1f} ms, p99 {pct(keys_ms, 0.99):.1f} ms, max {max(keys_ms):.1f} ms"
        )
        print(
            f"worst lag at {app_result['worst_at_ms']} ms after the start; engine-event handlers from 50 ms before "
            f"it to 50 ms after (ms after start, ms taken, event): {app_result['around'] or 'none'}"
        )
        print(f"slowest engine-event handlers (event, ms): {app_result['slowest']}")
        in_app_rate, head_rate = app_timing["questions_per_s"], head_timing["questions_per_s"]
        print(
            f"documents/s: in the app {in_app_rate:.1f}, headless {head_rate:.1f} (ratio {in_app_rate / head_rate:.2f})"
        )


if __name__ == "__main__":
    main()
