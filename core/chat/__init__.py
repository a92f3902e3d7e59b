"""The chat engine: conversations over a loaded model, context strategies, streaming generation, persistence.

Importing this package does not import torch (generation imports it when a reply is generated).
"""

from .commands import Command, Outcome, apply_command, parse_input
from .context import ContextPlan, SummaryState, plan_context
from .conversation import Conversation
from .events import (
    CommandApplied,
    ReplyDelta,
    ScriptStarted,
    Summarizing,
    SummaryUpdated,
    TurnFinished,
    TurnRefused,
    TurnStarted,
)  # fmt: skip
from .messages import Message, TurnRecord
from .session import ChatSession, GenerationError
from .settings import STRATEGIES, ChatSettings, GenerationSettings
from .store import ChatStore, default_chats_dir

__all__ = [
    "STRATEGIES",
    "ChatSession",
    "ChatSettings",
    "ChatStore",
    "Command",
    "CommandApplied",
    "ContextPlan",
    "Conversation",
    "GenerationError",
    "GenerationSettings",
    "Message",
    "Outcome",
    "ReplyDelta",
    "ScriptStarted",
    "Summarizing",
    "SummaryState",
    "SummaryUpdated",
    "TurnFinished",
    "TurnRefused",
    "TurnRecord",
    "TurnStarted",
    "apply_command",
    "default_chats_dir",
    "parse_input",
    "plan_context",
]
