"""Chat scripts for headless runs.

A script is either a text file, one user message per line (blank lines and lines starting with ``#`` are
skipped; a line starting with ``/`` is a slash command such as ``/clear``, ``//`` escapes a leading slash), or
JSON::

    {"system": "You are ...",                       (optional)
     "turns": [{"user": "My name is Alice."},
               {"command": "/clear"},               (or a "user" text starting with /)
               {"user": "What's my name?", "expect": "Your name is Alice."}]}

``expect`` is the reference reply whose log-likelihood ``--compare-history`` measures.
Every line is parsed before any model loads, so a typo in a command fails at once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ..errors import UserInputError
from .commands import Command, Say, parse_input


@dataclass(frozen=True)
class ScriptStep:
    text: str  # as written
    command: Command  # Say for a message
    expect: str | None = None

    @property
    def is_message(self) -> bool:
        return isinstance(self.command, Say)


@dataclass(frozen=True)
class Script:
    path: str
    steps: tuple[ScriptStep, ...]
    system: str | None = None

    @property
    def messages(self) -> int:
        return sum(s.is_message for s in self.steps)


def _step(text: str, where: str, expect: str | None = None) -> ScriptStep:
    try:
        command = parse_input(text)
    except UserInputError as exc:
        raise UserInputError(f"{where}: {exc}") from None
    if expect is not None and not isinstance(command, Say):
        raise UserInputError(f"{where}: 'expect' belongs to a user message, not to a command")
    return ScriptStep(text.strip(), command, expect)


def parse_script(text: str, name: str = "script") -> Script:
    """Parse a script's text: JSON when it starts with '{', else one message per line."""
    if text.lstrip().startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UserInputError(f"{name}: not valid JSON (line {exc.lineno}: {exc.msg})") from None
        return _from_json(data, name)
    steps = [
        _step(line, f"{name} line {n}")
        for n, line in enumerate(text.splitlines(), 1)
        if line.strip() and not line.lstrip().startswith("#")
    ]
    if not any(s.is_message for s in steps):
        raise UserInputError(f"{name} has no messages; write one user message per line")
    return Script(name, tuple(steps))


def _from_json(data: object, name: str) -> Script:
    if not isinstance(data, dict) or not isinstance(data.get("turns"), list):
        raise UserInputError(f'{name}: a JSON script is {{"system": "...", "turns": [{{"user": "..."}}, ...]}}')
    extra = set(data) - {"system", "turns"}
    if extra:
        raise UserInputError(f"{name}: unknown key '{sorted(extra)[0]}' (a script has system and turns)")
    system = data.get("system")
    if system is not None and not isinstance(system, str):
        raise UserInputError(f"{name}: system must be text")
    steps = []
    for i, turn in enumerate(data["turns"]):
        where = f"{name} turns[{i}]"
        if isinstance(turn, str):
            steps.append(_step(turn, where))
            continue
        if not isinstance(turn, dict):
            raise UserInputError(f'{where}: a turn is {{"user": "...", "expect": "..."}} or {{"command": "/clear"}}')
        extra = set(turn) - {"user", "expect", "command"}
        if extra:
            raise UserInputError(f"{where}: unknown key '{sorted(extra)[0]}' (use user, expect or command)")
        text = turn.get("user", turn.get("command"))
        if not isinstance(text, str) or ("user" in turn) == ("command" in turn):
            raise UserInputError(f"{where}: give either a 'user' message or a 'command', as text")
        expect = turn.get("expect")
        if expect is not None and (not isinstance(expect, str) or not expect.strip()):
            raise UserInputError(f"{where}: expect must be non-empty text")
        steps.append(_step(text, where, expect))
    if not any(s.is_message for s in steps):
        raise UserInputError(f"{name} has no user messages")
    return Script(name, tuple(steps), system)


def load_script(path: str | Path) -> Script:
    p = Path(path).expanduser()
    if not p.is_file():
        raise UserInputError(f"script not found: {path}; give a text file (one message per line) or a JSON script")
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserInputError(f"cannot read script {path}: {exc}") from None
    script = parse_script(text, p.name)
    return Script(str(p), script.steps, script.system)
