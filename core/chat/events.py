"""Typed events of a chat turn, in order: TurnStarted, (Summarizing, SummaryUpdated), ReplyDelta..., then
TurnFinished or TurnRefused. Front ends render them; the engine never imports a UI package."""

from __future__ import annotations

from dataclasses import dataclass

from ..events import Event
from .context import ContextPlan
from .messages import TurnRecord


@dataclass(frozen=True)
class TurnStarted(Event):
    """The prompt is planned and generation begins. ``plan`` holds exactly what is sent."""

    index: int
    user: str
    plan: ContextPlan


@dataclass(frozen=True)
class Summarizing(Event):
    """`summarize` is folding ``messages`` transcript messages into the running summary (the model is writing)."""

    messages: int


@dataclass(frozen=True)
class SummaryUpdated(Event):
    summary: str
    upto: int  # transcript messages [0, upto) are now folded into it


@dataclass(frozen=True)
class ReplyDelta(Event):
    """New reply text. Append ``text``; ``tokens`` is how many tokens the reply has so far."""

    text: str
    tokens: int


@dataclass(frozen=True)
class TurnFinished(Event):
    """The reply is complete (``record.stopped`` when a stop request cut it short) and in the transcript."""

    record: TurnRecord


@dataclass(frozen=True)
class TurnRefused(Event):
    """The prompt could not be sent (``message`` says why and what to do); the transcript is unchanged."""

    record: TurnRecord
    message: str


@dataclass(frozen=True)
class ScriptStarted(Event):
    """A headless script begins (``label`` names the run, e.g. history_on, when there are several)."""

    path: str
    steps: int
    messages: int
    label: str = ""


@dataclass(frozen=True)
class CommandApplied(Event):
    """A slash command from a script was applied; ``lines`` is what it reports."""

    command: str
    lines: tuple[str, ...]


ChatEvent = Event
