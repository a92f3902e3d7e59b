"""Playing a script through a chat session, and comparing history on against history off.

The transcript (``transcript_dict``) is what ``llm-tui chat --batch`` writes::

    {"format": "llm-tui-chat-transcript", "version": 1, "model": ..., "settings": {...}, "budget": N,
     "status": "complete" | "interrupted",
     "turns": [{"step", "user", "reply", "model", "prompt_tokens", "sent", "kept", "dropped", "summarized", "summary",
                "ttft_s", "tokens_per_s", "stopped", "refused", "finish_reason", ..., "expect"?}],
     "commands": [{"step", "command", "lines"}], "summary": {"text", "upto"}, "stats": {...}}

With ``compare_history`` the script plays twice (history on, then off) and each turn holds both replies, both
prompts and, for turns with ``expect``, ``probe_history_on`` / ``probe_history_off``: the log-likelihood of the
expected reply after exactly what that run sent.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from ..errors import LlmTuiError, UserInputError
from ..events import Event
from ..models import LoadedModel
from .commands import apply_command
from .events import CommandApplied, ScriptStarted
from .script import Script
from .session import ChatSession
from .settings import ChatSettings
from .store import ChatStore

TRANSCRIPT_FORMAT = "llm-tui-chat-transcript"
TRANSCRIPT_VERSION = 1
Emit = Callable[[Event], None]
Checkpoint = Callable[[dict[str, Any]], None]
LoadModel = Callable[[str], LoadedModel]  # a model spec -> the loaded model, for /model lines in a script


def transcript_dict(
    session: ChatSession, script: Script, turns: list[dict[str, Any]], commands: list[dict[str, Any]], status: str
) -> dict[str, Any]:
    info = session.loaded.info.model_dump(mode="json", exclude={"path"})
    return {
        "format": TRANSCRIPT_FORMAT,
        "version": TRANSCRIPT_VERSION,
        "status": status,
        "model": session.loaded.source.spec,
        "model_info": info,
        "prompt_format": session.format.name,
        "script": script.path,
        "settings": session.settings.to_dict(),
        "budget": session.budget,
        "context_length": session.context_length,
        "turns": turns,
        "commands": commands,
        "summary": {"text": session.summary.text, "upto": session.summary.upto},
        "stats": session.stats(),
    }


def play_script(
    session: ChatSession,
    script: Script,
    emit: Emit | None = None,
    cancel: threading.Event | None = None,
    checkpoint: Checkpoint | None = None,
    label: str = "",
    load_model: LoadModel | None = None,
) -> dict[str, Any]:
    """Play every step; a refused turn is recorded and the script goes on. ``cancel`` stops the reply in
    flight (kept, marked stopped) and ends the run with status "interrupted"."""
    say = emit or (lambda _e: None)
    cancel = cancel or threading.Event()
    turns: list[dict[str, Any]] = []
    commands: list[dict[str, Any]] = []
    say(ScriptStarted(script.path, len(script.steps), script.messages, label))
    status = "complete"
    for n, step in enumerate(script.steps, 1):
        if cancel.is_set():
            status = "interrupted"
            break
        try:
            if step.is_message:
                record = session.run_turn(step.command.text, say, cancel)  # type: ignore[attr-defined]
                entry = {"step": n, "turn": len(turns) + 1, **record.to_dict()}
                if step.expect is not None:
                    entry["expect"] = step.expect
                turns.append(entry)
            else:
                outcome = apply_command(session, step.command)
                lines = list(outcome.lines)
                if outcome.resend is not None:  # /retry: the reply is asked for again, as a new turn
                    say(CommandApplied(step.text, outcome.lines))
                    live = [t for t in turns if not t.get("taken_back")]
                    if live:
                        live[-1]["taken_back"] = True  # kept in the transcript, marked: the retry replaces it
                    record = session.run_turn(outcome.resend, say, cancel)
                    turns.append({"step": n, "turn": len(session.turns), "retry": True, **record.to_dict()})
                    commands.append({"step": n, "after_turn": len(turns), "command": step.text, "lines": lines})
                    continue
                if outcome.switch_model is not None:
                    if load_model is None:
                        raise UserInputError(f"{step.text}: this chat cannot load another model")
                    lines += session.switch_model(load_model(outcome.switch_model))
                commands.append({"step": n, "after_turn": len(turns), "command": step.text, "lines": lines})
                say(CommandApplied(step.text, tuple(lines)))
                if outcome.quit:
                    break
        except Exception:
            if checkpoint is not None:  # the turns played so far stay on disk, marked failed
                checkpoint(transcript_dict(session, script, turns, commands, "failed"))
            raise
        if checkpoint is not None:
            checkpoint(transcript_dict(session, script, turns, commands, "running"))
    if cancel.is_set():
        status = "interrupted"
    return transcript_dict(session, script, turns, commands, status)


def add_probes(session: ChatSession, transcript: dict[str, Any], key: str) -> None:
    """For each turn with ``expect``, store under ``key`` the log-likelihood of that reply after what was sent."""
    for turn in transcript["turns"]:
        if turn.get("expect") is not None and turn.get("refused") is None:
            turn[key] = round(session.probe(turn["sent"], turn["expect"]), 4)


_SIDE = (
    "reply",
    "prompt_tokens",
    "sent",
    "ttft_s",
    "tokens_per_s",
    "new_tokens",
    "stopped",
    "refused",
    "kept",
    "dropped",
)


def merge_runs(on: dict[str, Any], off: dict[str, Any]) -> list[dict[str, Any]]:
    """One entry per turn with both runs side by side (the plain fields are the history-on run's)."""
    merged = []
    off_by_step = {t["step"]: t for t in off["turns"]}
    for t in on["turns"]:
        o = off_by_step.get(t["step"], {})
        entry: dict[str, Any] = {"step": t["step"], "turn": t["turn"], "index": t["index"], "user": t["user"]}
        for k in _SIDE:
            entry[k] = t.get(k)
        for k in _SIDE:
            entry[f"{k}_history_on"] = t.get(k)
            entry[f"{k}_history_off"] = o.get(k)
        if "expect" in t:
            entry["expect"] = t["expect"]
            entry["probe_history_on"] = t.get("probe")
            entry["probe_history_off"] = o.get("probe")
        merged.append(entry)
    return merged


def probe_summary(turns: list[dict[str, Any]]) -> dict[str, Any]:
    pairs = [
        (t["probe_history_on"], t["probe_history_off"])
        for t in turns
        if t.get("probe_history_on") is not None and t.get("probe_history_off") is not None
    ]
    return {
        "probed_turns": len(pairs),
        "higher_with_history": sum(a > b for a, b in pairs),
        "mean_probe_history_on": round(sum(a for a, _ in pairs) / len(pairs), 4) if pairs else None,
        "mean_probe_history_off": round(sum(b for _, b in pairs) / len(pairs), 4) if pairs else None,
    }


def compare_history(
    loaded: LoadedModel,
    settings: ChatSettings,
    script: Script,
    emit: Emit | None = None,
    cancel: threading.Event | None = None,
    checkpoint: Checkpoint | None = None,
    store: ChatStore | None = None,
    load_model: LoadModel | None = None,
) -> dict[str, Any]:
    """Play ``script`` with history on, then off (fresh conversations, same settings), and probe both."""
    runs: dict[str, dict[str, Any]] = {}
    cancel = cancel or threading.Event()
    for label, history in (("history_on", True), ("history_off", False)):
        session = ChatSession(loaded, replace(settings, history=history), store=store)

        def partial(t: dict[str, Any], label: str = label) -> None:
            if checkpoint is not None:
                checkpoint({"compare_history": True, "status": "running", "runs": {**runs, label: t}, "turns": []})

        runs[label] = play_script(session, script, emit, cancel, partial, label=label, load_model=load_model)
        add_probes(session, runs[label], "probe")
        if cancel.is_set():
            break
    on = runs["history_on"]
    off = runs.get("history_off", {"turns": []})
    turns = merge_runs(on, off)
    status = "interrupted" if cancel.is_set() else "complete"
    head = {k: on[k] for k in ("format", "version", "model", "model_info", "prompt_format", "script", "budget")}
    settings_out = dict(on["settings"], history=None)
    return {
        **head,
        "status": status,
        "compare_history": True,
        "settings": settings_out,
        "turns": turns,
        "probe_summary": probe_summary(turns),
        "runs": runs,
    }


def check_script_commands(script: Script, store: ChatStore) -> None:
    """Before any model loads: every /load in ``script`` names a chat that exists and reads cleanly (or one an
    earlier /save NAME of the script writes), and a script that /saves can write to the chats folder. A problem
    is a UserInputError naming the step."""
    from ..fsutil import ensure_writable_dir
    from .commands import Copy, Edit, Load, Save
    from .store import check_name

    saved: set[str] = set()
    for n, step in enumerate(script.steps, 1):
        try:
            if isinstance(step.command, (Copy, Edit)):
                raise UserInputError(
                    f"{step.text.split()[0]} works in the app only (a script has no clipboard or message box); "
                    "/retry asks again in a script"
                )
            if isinstance(step.command, Load):
                name = step.command.name.strip()
                if name.removesuffix(".json") not in saved:
                    ChatStore(store.folder).load(name)  # a fresh store: checking must not count as having read it
            elif isinstance(step.command, Save):
                ensure_writable_dir(store.folder, "chats folder (LLM_TUI_CHATS)")
                if step.command.name:
                    saved.add(check_name(step.command.name))
        except LlmTuiError as exc:
            raise UserInputError(f"{script.path} step {n} ({step.text}): {exc}") from None
