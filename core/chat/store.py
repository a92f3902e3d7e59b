"""Conversations saved as versioned JSON in a chats folder; loading validates every field.

File format (``"format": "llm-tui-chat"``, ``"version": 1``)::

    {"format", "version", "name", "model", "created", "updated",
     "settings": {... "generation": {...}},
     "summary": {"text": "...", "upto": 4},
     "messages": [{"role": "user", "content": "..."}, {"role": "assistant", "content": "...", "stopped": true}],
     "turns": [{"index", "user", "reply", "prompt_tokens", "sent", "kept", "dropped", "summarized", ...}]}

Writes are atomic (a temporary file renamed over the old one). A malformed or foreign file raises a
UserInputError with one line naming the problem; the caller's conversation is never touched.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import fields
from pathlib import Path
from typing import Any

from ..errors import UserInputError
from ..fsutil import atomic_write_text, ensure_writable_dir, exclusive
from .context import SummaryState
from .conversation import Conversation, now_iso
from .messages import FINISH_REASONS, ROLES, Message, TurnRecord
from .settings import ChatSettings

CHAT_FORMAT = "llm-tui-chat"
CHAT_VERSION = 1
CHATS_ENV = "LLM_TUI_CHATS"
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,79}")


def default_chats_dir() -> Path:
    """$LLM_TUI_CHATS, else the per-user data folder's chats/ ($XDG_DATA_HOME/llm-tui/chats or
    ~/.local/share/llm-tui/chats on Linux)."""
    env = os.environ.get(CHATS_ENV)
    if env:
        return Path(env).expanduser()
    from ..locations import data_dir

    return data_dir() / "chats"


def _fingerprint(path: Path) -> str | None:
    """The sha256 of a saved chat's bytes (None when the file is missing or unreadable)."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def check_name(name: str) -> str:
    name = name.strip()
    if name.endswith(".json"):
        name = name[:-5]
    if not NAME.fullmatch(name):
        raise UserInputError(
            f"'{name}' is not a usable chat name; use letters, digits, '.', '_' or '-' (at most 80 characters)"
        )
    return name


def conversation_to_dict(conv: Conversation) -> dict[str, Any]:
    return {
        "format": CHAT_FORMAT,
        "version": CHAT_VERSION,
        "name": conv.name,
        "model": conv.model,
        "created": conv.created,
        "updated": conv.updated,
        "settings": conv.settings.to_dict(),
        "summary": {"text": conv.summary.text, "upto": conv.summary.upto},
        "messages": [m.to_dict() for m in conv.messages],
        "turns": [t.to_dict() for t in conv.turns],
    }


def _expect(cond: bool, problem: str) -> None:
    if not cond:
        raise UserInputError(problem)


def _message(d: Any, where: str) -> Message:
    _expect(isinstance(d, dict), f"{where} must be an object")
    _expect(d.get("role") in ROLES, f"{where}.role must be one of {', '.join(ROLES)}")
    _expect(isinstance(d.get("content"), str), f"{where}.content must be text")
    _expect(isinstance(d.get("stopped", False), bool), f"{where}.stopped must be true or false")
    extra = set(d) - {"role", "content", "stopped"}
    _expect(not extra, f"{where} has an unknown key '{sorted(extra)[0]}'" if extra else "")
    return Message(d["role"], d["content"], d.get("stopped", False))


_TURN_TYPES: dict[str, tuple[type, ...]] = {
    "index": (int,), "user": (str,), "reply": (str,), "prompt_tokens": (int,), "budget": (int,),
    "strategy": (str,), "history": (bool,), "sent": (list,), "kept": (list,), "dropped": (list,),
    "summarized": (list,), "summary": (str,), "stopped": (bool,), "refused": (str, type(None)),
    "finish_reason": (str,), "new_tokens": (int,), "ttft_s": (float, int, type(None)),
    "tokens_per_s": (float, int, type(None)), "total_s": (float, int, type(None)),
    "summarize_s": (float, int, type(None)), "generation": (dict,), "model": (str,),
}  # fmt: skip
_REQUIRED = ("index", "user", "reply", "prompt_tokens", "budget", "strategy", "history", "sent")


def _turn(d: Any, where: str) -> TurnRecord:
    _expect(isinstance(d, dict), f"{where} must be an object")
    known = {f.name for f in fields(TurnRecord)}
    for key, value in d.items():
        _expect(key in known, f"{where} has an unknown key '{key}'")
        ok = isinstance(value, _TURN_TYPES[key]) and not (isinstance(value, bool) and bool not in _TURN_TYPES[key])
        _expect(ok, f"{where}.{key} has the wrong type ({type(value).__name__})")
    missing = [k for k in _REQUIRED if k not in d]
    _expect(not missing, f"{where} lacks '{missing[0]}'" if missing else "")
    _expect(d.get("finish_reason", "eos") in FINISH_REASONS, f"{where}.finish_reason is not one of {FINISH_REASONS}")
    for i, m in enumerate(d["sent"]):
        ok = isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)
        _expect(ok, f"{where}.sent[{i}] must be a message with role and content")
    for key in ("kept", "dropped", "summarized"):
        _expect(all(isinstance(i, int) for i in d.get(key, [])), f"{where}.{key} must list message numbers")
    return TurnRecord(**d)


def conversation_from_dict(d: Any) -> Conversation:
    """Validate a parsed file and build the conversation; UserInputError naming the first problem."""
    _expect(
        isinstance(d, dict) and d.get("format") == CHAT_FORMAT,
        f'not an llm-tui chat file (no "format": "{CHAT_FORMAT}")',
    )
    version = d.get("version")
    _expect(isinstance(version, int), "its version is missing or not a number")
    _expect(
        version <= CHAT_VERSION, f"it was saved by a newer llm-tui (version {version}; this one reads {CHAT_VERSION})"
    )
    for key in ("name", "model"):
        _expect(isinstance(d.get(key), str) and d[key], f"'{key}' must be non-empty text")
    settings = ChatSettings.from_dict(d.get("settings", {}))
    summary = d.get("summary", {"text": "", "upto": 0})
    _expect(
        isinstance(summary, dict) and isinstance(summary.get("text"), str) and isinstance(summary.get("upto"), int),
        'summary must be {"text": ..., "upto": N}',
    )
    messages = d.get("messages", [])
    _expect(isinstance(messages, list), "messages must be a list")
    msgs = [_message(m, f"messages[{i}]") for i, m in enumerate(messages)]
    _expect(0 <= summary["upto"] <= len(msgs), f"summary.upto {summary['upto']} is past the {len(msgs)} messages")
    turns = d.get("turns", [])
    _expect(isinstance(turns, list), "turns must be a list")
    records = [_turn(t, f"turns[{i}]") for i, t in enumerate(turns)]
    return Conversation(
        name=d["name"],
        model=d["model"],
        settings=settings,
        messages=msgs,
        summary=SummaryState(summary["text"], summary["upto"]),
        turns=records,
        created=str(d.get("created") or now_iso()),
        updated=str(d.get("updated") or now_iso()),
    )


class ChatStore:
    """The chats folder: one ``<name>.json`` per conversation.

    Saving takes the file's lock (two processes never interleave a write) and refuses to overwrite a chat that
    another process saved since this store last wrote or read it (two sessions autosaving under one name would
    otherwise silently keep only the last writer's turns)."""

    def __init__(self, folder: Path | str | None = None) -> None:
        self.folder = Path(folder).expanduser() if folder else default_chats_dir()
        self._seen: dict[Path, str | None] = {}  # file -> the sha256 of its bytes when this store last wrote/read it

    def path_for(self, name: str) -> Path:
        return self.folder / f"{check_name(name)}.json"

    def resolve(self, name_or_path: str) -> Path:
        """A saved name, or a path to a file anywhere."""
        text = name_or_path.strip()
        if not text:
            raise UserInputError("/load needs a chat name (see the chats folder) or a file path")
        as_path = Path(text).expanduser()
        if os.sep in text or text.endswith(".json") and as_path.is_file():
            return as_path
        return self.path_for(text)

    def save(self, conv: Conversation) -> Path:
        path = self.path_for(conv.name)
        ensure_writable_dir(self.folder, "chats folder (LLM_TUI_CHATS)")
        with exclusive(path.with_name(f".{path.name}.lock"), f"chat file {path}", wait=True, timeout=30):
            if path.exists() and (path not in self._seen or _fingerprint(path) != self._seen[path]):
                raise UserInputError(
                    f"chat '{conv.name}' ({path}) was saved by another session since this one last saved or "
                    "loaded it; nothing was overwritten: save under another name (/save NEW-NAME)"
                )
            conv.updated = now_iso()
            text = json.dumps(conversation_to_dict(conv), indent=1, ensure_ascii=False)
            atomic_write_text(path, text, "chats folder (LLM_TUI_CHATS)")
            self._seen[path] = hashlib.sha256(text.encode("utf-8")).hexdigest()
        return path

    def load(self, name_or_path: str) -> Conversation:
        path = self.resolve(name_or_path)
        if not path.is_file():
            known = ", ".join(self.names()[:5]) or "none saved yet"
            raise UserInputError(f"no saved chat '{name_or_path}' ({path}); saved chats: {known}")
        try:
            blob = path.read_bytes()
            raw = blob.decode("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise UserInputError(f"cannot read {path}: {exc}; nothing was loaded") from exc
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise UserInputError(
                f"cannot load {path.name}: not valid JSON (line {exc.lineno}: {exc.msg}); nothing was loaded"
            ) from None
        try:
            conv = conversation_from_dict(data)
            self._seen[path] = hashlib.sha256(blob).hexdigest()
            return conv
        except UserInputError as exc:
            raise UserInputError(f"cannot load {path.name}: {exc}; nothing was loaded") from None
        except (TypeError, ValueError) as exc:  # a value that passed the type checks but not the dataclass
            raise UserInputError(f"cannot load {path.name}: {exc}; nothing was loaded") from None

    def names(self) -> list[str]:
        if not self.folder.is_dir():
            return []
        files = sorted(self.folder.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
        return [p.stem for p in files]

    def unique_name(self, base: str) -> str:
        name, n = check_name(base), 2
        while self.path_for(name).exists():
            name = f"{base}-{n}"
            n += 1
        return name
