"""Messages that workers post to screens (thread-safe); handlers on the screens change state."""

from __future__ import annotations

from typing import Any

from textual.message import Message

from core.events import Event


class EngineEvent(Message):
    """One engine event, carried from the evaluation worker thread to the live screen."""

    def __init__(self, event: Event) -> None:
        super().__init__()
        self.event = event


class WarmupDone(Message):
    """torch/transformers imported in the background; the devices present and the bundled question counts."""

    def __init__(self, devices: list[Any], counts: dict[str, int] | None, error: str | None = None) -> None:
        super().__init__()
        self.devices = devices
        self.counts = counts
        self.error = error


class StartRuns(Message):
    """The setup screen asks for a queue of evaluations to run."""

    def __init__(self, configs: list[Any]) -> None:
        super().__init__()
        self.configs = configs


class DataSubjects(Message):
    """The MMLU subjects (with question counts) of the data file typed on the setup screen, or why it failed."""

    def __init__(self, spec: str, counts: dict[str, int] | None, error: str | None = None) -> None:
        super().__init__()
        self.spec = spec
        self.counts = counts
        self.error = error


class ServerChecked(Message):
    """The setup screen's connection check: the models a server lists, or why it could not be asked."""

    def __init__(self, url: str, models: list[str], error: str | None) -> None:
        super().__init__()
        self.url = url
        self.models = models
        self.error = error


class EngineStatusChanged(Message, bubble=False):
    """The engine process's model and memory changed (core.engine.EngineStatus). The app passes it to the
    screens that show it; it must not bubble back up to the app from them."""

    def __init__(self, status: Any) -> None:
        super().__init__()
        self.status = status
