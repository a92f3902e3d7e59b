"""The stored transcript: messages, and one record per turn of what was sent and how the reply went."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

ROLES = ("user", "assistant")
FINISH_REASONS = ("eos", "length", "stopped", "stop_string", "refused")


@dataclass(frozen=True)
class Message:
    """One message of the transcript. The system prompt is a setting, not a message."""

    role: str  # "user" or "assistant"
    content: str
    stopped: bool = False  # an assistant reply cut short by a stop request

    def as_chat(self) -> dict[str, str]:
        return {"role": self.role, "content": self.content}

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"role": self.role, "content": self.content}
        if self.stopped:
            d["stopped"] = True
        return d


@dataclass(frozen=True)
class TurnRecord:
    """One turn: the user's message, the reply, and exactly what was sent to the model for it.

    ``kept``, ``dropped`` and ``summarized`` are indices into the transcript's messages (as they were before
    this turn): sent as is, left out, or sent folded into the summary. ``sent`` is the message list the
    model saw (system prompt with any summary, earlier messages, this message), ``prompt_tokens`` its size.
    """

    index: int
    user: str
    reply: str
    prompt_tokens: int
    budget: int
    strategy: str
    history: bool
    sent: list[dict[str, str]]
    kept: list[int] = field(default_factory=list)
    dropped: list[int] = field(default_factory=list)
    summarized: list[int] = field(default_factory=list)
    summary: str = ""
    stopped: bool = False
    refused: str | None = None  # why the prompt was not sent (strategy `none` over budget, a message too long)
    finish_reason: str = "eos"
    new_tokens: int = 0
    ttft_s: float | None = None
    tokens_per_s: float | None = None  # decode speed: tokens after the first over the time they took
    total_s: float | None = None
    summarize_s: float | None = None  # time spent folding turns into the summary before this reply
    generation: dict[str, Any] = field(default_factory=dict)
    model: str = ""  # the model that wrote the reply (a conversation may switch models with /model)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def turn_groups(messages: Sequence[Message], start: int = 0) -> list[list[int]]:
    """Indices of ``messages[start:]`` grouped into whole turns (each begins at a user message)."""
    groups: list[list[int]] = []
    for i in range(start, len(messages)):
        if messages[i].role == "user" or not groups:
            groups.append([i])
        else:
            groups[-1].append(i)
    return groups
