"""A conversation: settings, the full transcript, the running summary and per-turn records."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone

from .context import SummaryState
from .messages import Message, TurnRecord
from .settings import ChatSettings


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def new_name() -> str:
    """A default conversation name: the local time, to the second."""
    return datetime.now().strftime("chat-%Y%m%d-%H%M%S")


@dataclass
class Conversation:
    """Everything saved about one conversation. The transcript keeps every message, whatever is sent."""

    name: str
    model: str
    settings: ChatSettings = field(default_factory=ChatSettings)
    messages: list[Message] = field(default_factory=list)
    summary: SummaryState = field(default_factory=SummaryState)
    turns: list[TurnRecord] = field(default_factory=list)
    created: str = field(default_factory=now_iso)
    updated: str = field(default_factory=now_iso)
