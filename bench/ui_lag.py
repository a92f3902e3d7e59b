"""Benchmark: is the app responsive while the real SmolLM2 evaluates? And what does the UI cost in throughput?

In one run, on this machine, alternating (``--pairs N`` times; the machine's own speed drifts by 10-20% between
minutes, so a ratio is taken within each pair and the pairs' median is reported):
  1. the app (headless, 100x30) evaluates a task (default MMLU astronomy + business_ethics) with
     smollm2-135m-instruct, its model work in the engine process (``--engine inline``: in the app's process, as
     before issue 14; both may be given, comma-separated); meanwhile, from the app's start (the engine starting
     and loading the model included) to the run's end, a probe measures the event loop's lag (how late a 20 ms
     timer fires) and the latency of real key presses (f1 opens the help screen, escape closes it: time from the
     key event to the screen being shown), one about every second;
  2. the same evaluation with ``llm-tui --batch`` (no app) in a fresh process, for the questions/s ratio.
It also times the live screen's handler for each engine event, and names what happened around the worst lag
(a slow handler is the UI's own doing; a stall with no slow handler is the worker holding the GIL, or the
collector).

    python bench/ui_lag.py [--task mmlu] [--subjects astronomy,business_ethics] [--limit N] [--pairs 3]
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
        "lags": lags, "lag_at": lag_at, "keys": keys, "wall": wall, "ui_cpu": ui_cpu,
        "worst_at_ms": round((w0 - start) * 1000), "around": around,
        "slowest": [(name, round(d * 1000, 1)) for _, d, name in slowest],
    }  # fmt: skip


def headless(config: EvalConfig) -> dict:
    """The same evaluation as ``llm-tui --batch`` in a fresh process (this one never imports torch)."""
    import json
    import subprocess

    argv = [sys.executable, "-m", "tui.cli", "--batch", "--task", config.task, "--device", "cpu",
            "--output", str(config.output), "--runs-dir", str(config.runs_dir)]  # fmt: skip
    if config.subsets:
        argv += ["--subjects", config.subsets]
    if config.limit:
        argv += ["--limit", str(config.limit)]
    subprocess.run(argv, check=True, cwd=Path(__file__).resolve().parents[1], stdout=subprocess.DEVNULL)
    return json.loads((Path(config.output) / "results.json").read_text())["timing"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", default="mmlu", help="the task to evaluate (default mmlu)")
    p.add_argument("--subjects", help="MMLU subjects (default: the task's default: astronomy,business_ethics)")
    p.add_argument("--limit", type=int)
    p.add_argument("--engine", default="process", help="process, inline, or both comma-separated (default process)")
    p.add_argument("--pairs", type=int, default=3, help="app and headless runs, alternating (default 3)")
    ns = p.parse_args()
    engines = [e.strip() for e in ns.engine.split(",") if e.strip()]
    import json

    what = f"task {ns.task}" + (f", subjects {ns.subjects}" if ns.subjects else "")
    print(f"machine: {cpu_name()}; model smollm2-135m-instruct, {what}, cpu, default dtype; {ns.pairs} pairs")
    with tempfile.TemporaryDirectory() as tmp:
        counter = iter(range(10**6))

        def config(name: str) -> EvalConfig:
            return EvalConfig(
                task=ns.task, subsets=ns.subjects, limit=ns.limit, device="cpu",
                output=str(Path(tmp) / f"{name}-{next(counter)}"), runs_dir=tmp,
            )  # fmt: skip

        for engine in engines:
            runs, ratios = [], []
            for pair in range(ns.pairs):
                order = ("app", "headless") if pair % 2 == 0 else ("headless", "app")  # drift falls on both sides
                for side in order:
                    if side == "app":
                        cfg = config(f"app-{engine}")
                        app_result = asyncio.run(in_app(cfg, engine))
                        app_timing = json.loads((Path(cfg.output) / "results.json").read_text())["timing"]
                    else:
                        head_timing = headless(config("headless"))
                runs.append(app_result)
                app_rate, head_rate = app_timing["questions_per_s"], head_timing["questions_per_s"]
                ratios.append(app_rate / head_rate)
                print(
                    f"pair {pair + 1} ({' then '.join(order)}): documents/s in the app {app_rate:.2f}, headless "
                    f"{head_rate:.2f}: ratio {app_rate / head_rate:.2f}; the app's process used "
                    f"{app_result['ui_cpu']:.1f} s of CPU in {app_result['wall']:.1f} s; worst lag "
                    f"{max(app_result['lags']) * 1000:.0f} ms at {app_result['worst_at_ms']} ms after the start",
                    flush=True,
                )
            lags_ms = [x * 1000 for r in runs for x in r["lags"]]
            keys_ms = [x * 1000 for r in runs for x in r["keys"]]
            print(f"-- engine {engine}, {len(runs)} app runs:")
            print(
                f"event-loop lag ({len(lags_ms)} samples): median {statistics.median(lags_ms):.1f} ms, "
                f"p95 {pct(lags_ms, 0.95):.1f} ms, p99 {pct(lags_ms, 0.99):.1f} ms, max {max(lags_ms):.1f} ms"
            )
            print(
                f"key press -> screen shown ({len(keys_ms)} presses): median {statistics.median(keys_ms):.1f} ms, "
                f"p95 {pct(keys_ms, 0.95):.1f} ms, p99 {pct(keys_ms, 0.99):.1f} ms, max {max(keys_ms):.1f} ms"
            )
            worst = max(runs, key=lambda r: max(r["lags"]))
            print(
                f"worst lag at {worst['worst_at_ms']} ms after its run's start; engine-event handlers from 50 ms "
                f"before it to 50 ms after (ms after start, ms taken, event): {worst['around'] or 'none'}"
            )
            slowest = sorted((x for r in runs for x in r["slowest"]), key=lambda x: -x[1])[:3]
            print(f"slowest engine-event handlers (event, ms): {slowest}")
            print(
                f"documents/s ratio, app / headless: median {statistics.median(ratios):.2f} "
                f"(pairs: {', '.join(f'{r:.2f}' for r in ratios)})"
            )


if __name__ == "__main__":
    main()
