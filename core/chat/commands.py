"""Slash commands, parsed into typed commands and applied to a session; the app and headless mode share them.

    cmd = parse_input("/set temperature=0.7")   # UserInputError (one line) on anything wrong
    outcome = apply_command(session, cmd)        # Say is not applied here: the caller sends it as a turn

A line starting with ``//`` is a message that begins with ``/``.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import UserInputError
from .settings import ALIASES, SETTABLE, STRATEGIES, parse_value
from .store import check_name

HELP = [
    ("/help", "this list"),
    ("/save [name]", "save the conversation (it is also saved after every turn)"),
    ("/load name", "load a saved conversation (a name in the chats folder, or a file path)"),
    ("/clear", "start a new conversation with the same settings"),
    ("/stats", "turns, tokens in context / budget, time to first token, tokens/s, summary"),
    ("/stream [on|off]", "show replies token by token, or whole"),
    ("/history [on|off]", "send the conversation (on) or only the system prompt and your message (off)"),
    ("/strategy [NAME]", f"context strategy: {', '.join(STRATEGIES)} (no name: the next one)"),
    ("/system [TEXT]", "set the system prompt (no text: show it)"),
    ("/set key=value ...", f"change settings: {', '.join(SETTABLE)}"),
    ("/retry", "take back the last reply and ask again"),
    ("/edit", "take back the last turn and put its message in the box to edit"),
    ("/prompt", "exactly what the last turn sent: each message and its tokens"),
    ("/copy [code]", "copy the last reply (or its last code block) to the clipboard"),
    ("/export [FILE]", "write the conversation as Markdown (default: the chats folder)"),
    ("/model [SPEC]", "switch model (alias, hub id, folder or .gguf); the conversation goes on (no SPEC: show it)"),
    ("/quit", "leave the chat"),
]


@dataclass(frozen=True)
class Command:
    """Base of every parsed input."""


@dataclass(frozen=True)
class Say(Command):
    """A message for the model."""

    text: str


@dataclass(frozen=True)
class Help(Command):
    pass


@dataclass(frozen=True)
class Save(Command):
    name: str | None = None


@dataclass(frozen=True)
class Load(Command):
    name: str


@dataclass(frozen=True)
class Clear(Command):
    pass


@dataclass(frozen=True)
class Stats(Command):
    pass


@dataclass(frozen=True)
class Stream(Command):
    on: bool | None = None  # None: toggle


@dataclass(frozen=True)
class History(Command):
    on: bool | None = None  # None: toggle


@dataclass(frozen=True)
class Strategy(Command):
    name: str | None = None  # None: the next one


@dataclass(frozen=True)
class System(Command):
    text: str | None = None  # None: show the current system prompt


@dataclass(frozen=True)
class Set(Command):
    values: tuple[tuple[str, Any], ...] = ()  # validated (key, value) pairs; empty: show the settings


@dataclass(frozen=True)
class Quit(Command):
    pass


@dataclass(frozen=True)
class Retry(Command):
    pass


@dataclass(frozen=True)
class Edit(Command):
    pass


@dataclass(frozen=True)
class Prompt(Command):
    pass


@dataclass(frozen=True)
class Copy(Command):
    code: bool = False  # the last code block of the reply rather than the whole reply


@dataclass(frozen=True)
class Export(Command):
    path: str | None = None


@dataclass(frozen=True)
class Model(Command):
    spec: str | None = None  # None: show the current model


@dataclass(frozen=True)
class Outcome:
    """What applying a command did: lines to show, and whether to leave."""

    lines: tuple[str, ...] = ()
    quit: bool = False
    changed: bool = False
    switch_model: str | None = None  # the front end loads this model, then calls session.switch_model()
    resend: str | None = None  # the front end sends this message as a new turn (/retry)
    edit: str | None = None  # the front end puts this text in the message box (/edit)
    copy: str | None = None  # the front end copies this text to the clipboard (/copy)


NAMES = (
    "help", "save", "load", "clear", "stats", "stream", "history", "strategy", "system", "set", "model", "retry",
    "edit", "prompt", "copy", "export", "quit",
)  # fmt: skip
_ALIASES = {"exit": "quit", "q": "quit", "?": "help", "reset": "clear"}


def _on_off(name: str, arg: str) -> bool | None:
    if not arg:
        return None
    value = arg.lower()
    if value in ("on", "true", "yes", "1"):
        return True
    if value in ("off", "false", "no", "0"):
        return False
    raise UserInputError(f"/{name} {arg}: use /{name} on, /{name} off, or /{name} alone to toggle")


def _no_arg(name: str, arg: str) -> None:
    if arg:
        raise UserInputError(f"/{name} takes no argument (got '{arg}')")


def parse_input(text: str) -> Command:
    """Turn one line of input into a command; UserInputError with one clear line if it is not valid."""
    stripped = text.strip()
    if not stripped:
        raise UserInputError("empty message: type something to send, or /help for the commands")
    if stripped.startswith("//"):
        return Say(stripped[1:])
    if not stripped.startswith("/"):
        return Say(stripped)
    head, _, arg = stripped[1:].partition(" ")
    name, arg = _ALIASES.get(head.lower(), head.lower()), arg.strip()
    if name not in NAMES:
        close = difflib.get_close_matches(name, NAMES, n=1)
        hint = f"did you mean /{close[0]}? " if close else ""
        raise UserInputError(f"unknown command /{head}; {hint}commands: {' '.join('/' + n for n in NAMES)}")
    if name == "save":
        return Save(check_name(arg) if arg else None)
    if name == "load":
        if not arg:
            raise UserInputError("/load needs a name: /load NAME (a saved chat) or /load PATH.json")
        return Load(arg)
    if name in ("stream", "history"):
        on = _on_off(name, arg)
        return Stream(on) if name == "stream" else History(on)
    if name == "strategy":
        if arg and arg.lower() not in STRATEGIES:
            raise UserInputError(f"unknown strategy '{arg}'; use one of {', '.join(STRATEGIES)}")
        return Strategy(arg.lower() or None)
    if name == "system":
        return System(arg or None)
    if name == "set":
        return Set(_parse_assignments(arg))
    if name == "copy":
        if arg not in ("", "code"):
            raise UserInputError(f"/copy {arg}: use /copy (the last reply) or /copy code (its last code block)")
        return Copy(arg == "code")
    if name == "export":
        return Export(arg or None)
    if name == "model":
        if arg:
            from ..models import describe_spec

            describe_spec(arg)  # a spec that cannot name a model is refused here, before anything loads
        return Model(arg or None)
    _no_arg(name, arg)
    simple = {"help": Help, "clear": Clear, "stats": Stats, "quit": Quit, "retry": Retry, "edit": Edit}
    return {**simple, "prompt": Prompt}[name]()


def _parse_assignments(arg: str) -> tuple[tuple[str, Any], ...]:
    pairs = []
    for item in arg.split():
        key, eq, raw = item.partition("=")
        if not eq or not key or not raw:
            raise UserInputError(f"/set {item}: write key=value, for example /set temperature=0.7")
        key = ALIASES.get(key.lower(), key.lower())
        if key not in SETTABLE:
            close = difflib.get_close_matches(key, SETTABLE, n=1)
            hint = f"did you mean {close[0]}? " if close else ""
            raise UserInputError(f"/set {key}: unknown setting; {hint}settable: {', '.join(SETTABLE)}")
        pairs.append((key, parse_value(key, raw)))
    return tuple(pairs)


def settings_lines(session: Any) -> list[str]:
    s = session.settings
    g = s.generation
    return [
        f"strategy {s.strategy}, history {'on' if s.history else 'off'}, budget {session.budget} tokens "
        f"(max_context {s.max_context or 'model'}), keep_messages {s.keep_messages}, summary_tokens {s.summary_tokens}",
        f"max_new_tokens {g.max_new_tokens}, temperature {g.temperature:g}, top_p {g.top_p:g}, top_k {g.top_k}, "
        f"repetition_penalty {g.repetition_penalty:g}, seed {g.seed}, stream {'on' if s.stream else 'off'}",
    ]


def stats_lines(stats: dict[str, Any]) -> list[str]:
    def num(x: Any, fmt: str) -> str:
        return "-" if x is None else format(x, fmt)

    lines = [
        f"{stats['name']}: {stats['turns']} turns ({stats['refused']} refused, {stats['stopped']} stopped), "
        f"{stats['messages']} messages; model {stats['model']} ({stats['format']})",
        f"strategy {stats['strategy']}, history {'on' if stats['history'] else 'off'}; last prompt "
        f"{num(stats['last_prompt_tokens'], 'd')} / budget {stats['budget']} tokens "
        f"(largest {num(stats['max_prompt_tokens'], 'd')}; context {stats['context_length']})",
        f"last reply: first token {num(stats['last_ttft_s'], '.2f')} s, {num(stats['last_tokens_per_s'], '.1f')} "
        f"tokens/s; mean {num(stats['mean_ttft_s'], '.2f')} s, {num(stats['mean_tokens_per_s'], '.1f')} tokens/s",
    ]
    if stats["summary"]:
        lines.append(f"summary of the first {stats['summarized_messages']} messages: {stats['summary']}")
    return lines


def _short(text: str, width: int = 60) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def last_code_block(markdown: str) -> str | None:
    """The text of the last fenced code block (``` or ~~~) in ``markdown``, or None."""
    import re

    blocks = re.findall(r"^(```|~~~)[^\n]*\n(.*?)^\1[ \t]*$", markdown, flags=re.M | re.S)
    return blocks[-1][1].rstrip("\n") if blocks else None


def export_markdown(session: Any, path: str | None) -> Path:
    """Write the conversation as Markdown to ``path`` (default: NAME.md in the chats folder)."""
    from ..fsutil import atomic_write_text, ensure_writable_file

    if path is None:
        if session.store is None:
            raise UserInputError("/export needs a file name here: /export FILE.md")
        target = session.store.folder / f"{session.conversation.name}.md"
    else:
        target = Path(path).expanduser()
    ensure_writable_file(target, "/export file")
    atomic_write_text(target, session.markdown() + "\n", "/export file")
    return target


def apply_command(session: Any, cmd: Command) -> Outcome:
    """Apply a command to a ChatSession. Raises UserInputError (and changes nothing) when it cannot."""
    if isinstance(cmd, Say):
        raise TypeError("Say is a message: send it with session.send() or session.run_turn()")
    if isinstance(cmd, Help):
        return Outcome(
            tuple(f"{usage:<20} {what}" for usage, what in HELP) + ("//text sends a message starting with /",)
        )
    if isinstance(cmd, Quit):
        return Outcome(("bye",), quit=True)
    if isinstance(cmd, Stats):
        return Outcome(tuple(stats_lines(session.stats())))
    if isinstance(cmd, Clear):
        session.clear()
        return Outcome((f"new conversation {session.conversation.name} (same settings)",), changed=True)
    if isinstance(cmd, Save):
        path = session.save(cmd.name)
        return Outcome((f"saved {path}",))
    if isinstance(cmd, Load):
        notes = session.load(cmd.name)
        c = session.conversation
        return Outcome((f"loaded {c.name}: {len(c.turns)} turns, {len(c.messages)} messages", *notes), changed=True)
    if isinstance(cmd, Stream):
        on = not session.settings.stream if cmd.on is None else cmd.on
        session.set_option("stream", on)
        return Outcome((f"streaming {'on' if on else 'off'}",), changed=True)
    if isinstance(cmd, History):
        on = session.set_history(cmd.on)
        what = "the conversation is sent" if on else "only the system prompt and your message are sent"
        return Outcome((f"history {'on' if on else 'off'}: {what}",), changed=True)
    if isinstance(cmd, Strategy):
        name = session.set_strategy(cmd.name)
        return Outcome((f"strategy {name}",), changed=True)
    if isinstance(cmd, System):
        if cmd.text is None:
            return Outcome((f"system prompt: {session.settings.system_prompt or '(none)'}",))
        session.set_system(cmd.text)
        return Outcome(("system prompt set",), changed=True)
    if isinstance(cmd, Set):
        if not cmd.values:
            return Outcome(tuple(settings_lines(session)))
        from .settings import set_option

        new = session.settings
        for key, value in cmd.values:
            new = set_option(new, key, value)
        session.update(new)  # all or nothing
        return Outcome(tuple(settings_lines(session)), changed=True)
    if isinstance(cmd, Retry):
        text = session.take_back()
        return Outcome((f"asking again: {_short(text)}",), changed=True, resend=text)
    if isinstance(cmd, Edit):
        text = session.take_back()
        return Outcome(("the last turn was taken back; edit the message and send it",), changed=True, edit=text)
    if isinstance(cmd, Prompt):
        return Outcome(tuple(session.prompt_lines()))
    if isinstance(cmd, Copy):
        reply = next((t.reply for t in reversed(session.turns) if t.refused is None and t.reply), None)
        if reply is None:
            raise UserInputError("there is no reply to copy yet")
        text = last_code_block(reply) if cmd.code else reply
        if text is None:
            raise UserInputError("the last reply has no code block; /copy copies the whole reply")
        return Outcome((f"copied {len(text)} characters to the clipboard",), copy=text)
    if isinstance(cmd, Export):
        return Outcome((f"wrote {export_markdown(session, cmd.path)}",))
    if isinstance(cmd, Model):
        info = session.loaded.info
        if cmd.spec is None or cmd.spec == session.loaded.source.spec:
            return Outcome((f"model {session.loaded.source.spec} on {info.device} ({info.dtype}, quant {info.quant})",))
        session.refuse_if_busy("switch models")
        return Outcome((f"switching to {cmd.spec}...",), switch_model=cmd.spec)
    raise TypeError(f"unknown command {cmd!r}")
