"""Chat as engine jobs: the session (and its model) lives in the engine; the app holds a ``ChatView`` of it.

Every chat job returns a fresh view, so the screen renders what the engine holds without reaching into it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..backends.server import ServerStats
from ..errors import UserInputError
from ..schema import ModelInfo
from .jobs import Emit, EngineState, Job, ModelChoice


@dataclass(frozen=True)
class ChatView:
    """A chat session as the screen shows it."""

    session_id: int
    spec: str
    info: ModelInfo
    format_name: str
    stats: dict[str, Any]
    prompt_tokens: int | None  # what the next prompt would send now (the system prompt and the kept history)
    messages: tuple[tuple[str, str], ...]  # (role, content)
    summary: str
    stream: bool
    client_label: str | None  # "llamacpp", "openai"... for a model behind a server; None in-process
    server: ServerStats | None


def view_of(session_id: int, session: Any) -> ChatView:
    client = getattr(session.loaded, "client", None)
    return ChatView(
        session_id=session_id,
        spec=session.loaded.source.spec,
        info=session.loaded.info,
        format_name=session.format.name,
        stats=session.stats(),
        prompt_tokens=session.plan("").prompt_tokens,
        messages=tuple((m.role, m.content) for m in session.messages),
        summary=session.summary.text,
        stream=session.settings.stream,
        client_label=None if client is None else client.label,
        server=None if client is None else client.stats(),
    )


def _session(state: EngineState, session_id: int) -> Any:
    with state.lock:
        session = state.sessions.get(session_id)
    if session is None:
        raise UserInputError("this chat's engine was restarted: send a message to start again, /load NAME to go on")
    return session


@dataclass(frozen=True)
class ChatOpen(Job):
    choice: ModelChoice
    cache: Path

    def run(self, state: EngineState, emit: Emit, cancel: threading.Event) -> ChatView:
        from ..chat import ChatSession, ChatStore

        session = ChatSession(self.choice.open(state, self.cache, emit, cancel), store=ChatStore(), autosave=True)
        with state.lock:
            sid = state.next_session
            state.next_session += 1
            state.sessions[sid] = session
        return view_of(sid, session)


@dataclass(frozen=True)
class ChatApply(Job):
    """A slash command (not a message): its outcome and the view after it."""

    session_id: int
    command: Any  # a core.chat.commands command

    def run(self, state: EngineState, emit: Emit, cancel: threading.Event) -> tuple[Any, ChatView]:
        from ..chat import apply_command

        session = _session(state, self.session_id)
        outcome = apply_command(session, self.command)
        return outcome, view_of(self.session_id, session)


@dataclass(frozen=True)
class ChatTurn(Job):
    session_id: int
    text: str

    def run(self, state: EngineState, emit: Emit, cancel: threading.Event) -> ChatView:
        session = _session(state, self.session_id)
        session.run_turn(self.text, emit, cancel)
        return view_of(self.session_id, session)


@dataclass(frozen=True)
class ChatSwitch(Job):
    """Go on with another model (loaded first; the conversation stays)."""

    session_id: int
    choice: ModelChoice
    cache: Path

    def run(self, state: EngineState, emit: Emit, cancel: threading.Event) -> tuple[list[str], ChatView]:
        session = _session(state, self.session_id)
        lines = session.switch_model(self.choice.open(state, self.cache, emit, cancel))
        return lines, view_of(self.session_id, session)
