"""Helpers for Pilot tests: an app that signals every message it sees, and waiting on conditions."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from core.devices import DeviceInfo
from tui.app import LlmTuiApp
from tui.settings import AppSettings

CPU = DeviceInfo("cpu", "Test CPU", 8 * 2**30, True)


class ProbeApp(LlmTuiApp):
    """The real app, plus an asyncio.Event set whenever an engine event or worker state change bubbles up."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("devices", [CPU])
        kwargs.setdefault("counts", None)
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


def settings(runs_dir: str, cache_dir: str | None = None) -> AppSettings:
    return AppSettings(runs_dir=runs_dir, cache_dir=cache_dir)
