"""Slash commands: parsing into typed commands, one-line errors that change nothing, applying to a session."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.chat import ChatSession, ChatSettings, ChatStore, GenerationSettings
from core.chat.commands import (
    Clear,
    Help,
    History,
    Load,
    Quit,
    Save,
    Say,
    Set,
    Stats,
    Strategy,
    Stream,
    System,
    apply_command,
    parse_input,
)  # fmt: skip
from core.chat.store import conversation_to_dict
from core.errors import UserInputError

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize(
    ("text", "command"),
    [
        ("hello there", Say("hello there")),
        ("  padded  ", Say("padded")),
        ("//etc/hosts is a file", Say("/etc/hosts is a file")),
        ("/help", Help()),
        ("/?", Help()),
        ("/save", Save(None)),
        ("/save trip-1", Save("trip-1")),
        ("/load trip-1", Load("trip-1")),
        ("/clear", Clear()),
        ("/stats", Stats()),
        ("/stream", Stream(None)),
        ("/stream off", Stream(False)),
        ("/history", History(None)),
        ("/history on", History(True)),
        ("/strategy", Strategy(None)),
        ("/strategy Summarize", Strategy("summarize")),
        ("/system You are terse.", System("You are terse.")),
        ("/system", System(None)),
        ("/set", Set(())),
        ("/set temperature=0.7 top_k=40", Set((("temperature", 0.7), ("top_k", 40)))),
        ("/set temp=0 max_tokens=32 seed=none", Set((("temperature", 0.0), ("max_new_tokens", 32), ("seed", None)))),
        ("/quit", Quit()),
        ("/exit", Quit()),
    ],
)
def test_parse(text, command):
    assert parse_input(text) == command


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty message: type something to send, or /help for the commands"),
        ("   ", "empty message"),
        ("/frobnicate", "unknown command /frobnicate; commands: /help"),
        ("/stat", "unknown command /stat; did you mean /stats?"),
        ("/set temperature=hot", "temperature=hot: temperature must be a number from 0 to 5 (0 = greedy)"),
        ("/set temperature=9", "temperature must be a number from 0 to 5"),
        ("/set top_p=0", "top_p must be a number from 0.01 to 1"),
        ("/set max_new_tokens=2.5", "max_new_tokens must be a whole number"),
        ("/set temperature", "write key=value, for example /set temperature=0.7"),
        ("/set colour=blue", "unknown setting; settable: max_new_tokens"),
        ("/set temprature=1", "did you mean temperature?"),
        ("/set history=maybe", "history must be on or off"),
        ("/history sideways", "use /history on, /history off"),
        ("/strategy forget", "unknown strategy 'forget'; use one of none, truncate, window, summarize"),
        ("/load", "/load needs a name"),
        ("/save ../../etc", "not a usable chat name"),
        ("/clear now", "/clear takes no argument"),
    ],
)
def test_parse_errors_are_one_clear_line(text, message):
    with pytest.raises(UserInputError) as err:
        parse_input(text)
    assert message in str(err.value) and "\n" not in str(err.value)


@pytest.fixture
def session(tiny, tmp_path):
    s = ChatSession(
        tiny, ChatSettings(generation=GenerationSettings(max_new_tokens=4)), store=ChatStore(tmp_path), autosave=True
    )
    s.run_turn("hello")
    return s


def test_apply_changes_settings_between_turns(session):
    run = lambda text: apply_command(session, parse_input(text))  # noqa: E731
    assert run("/history off").lines[0].startswith("history off")
    assert session.settings.history is False
    assert run("/history").changed and session.settings.history is True
    assert run("/strategy truncate").lines == ("strategy truncate",)
    assert run("/strategy").lines == ("strategy window",)  # the next one
    assert run("/strategy").lines == ("strategy summarize",)
    run("/system Be terse.")
    assert session.settings.system_prompt == "Be terse."
    assert "Be terse." in run("/system").lines[0]
    run("/set temperature=0.5 max_context=200")
    assert session.settings.generation.temperature == 0.5 and session.budget == 200
    assert not session.settings.stream or run("/stream").lines == ("streaming off",)
    assert any("tokens/s" in line for line in run("/stats").lines)
    assert any("/set key=value" in line for line in run("/help").lines)
    assert run("/quit").quit
    r = session.run_turn("next")
    assert r.strategy == "summarize" and r.sent[0]["content"] == "Be terse."


def test_save_clear_load(session):
    run = lambda text: apply_command(session, parse_input(text))  # noqa: E731
    assert run("/save keep").lines[0].startswith("saved ")
    run("/clear")
    assert session.messages == [] and session.turns == []
    out = run("/load keep")
    assert out.lines[0] == "loaded keep: 1 turns, 2 messages" and len(session.messages) == 2


def test_bad_commands_change_nothing(session):
    before = conversation_to_dict(session.conversation)
    for text in ("", "/nope", "/set temperature=abc", "/set top_k=-1 temperature=0.5", "/strategy x", "/load"):
        with pytest.raises(UserInputError):
            apply_command(session, parse_input(text))
    with pytest.raises(UserInputError, match="leaves"):  # valid syntax, impossible for this model's context
        apply_command(session, parse_input("/set temperature=1 max_new_tokens=5000"))
    with pytest.raises(UserInputError, match="no saved chat 'ghost'"):
        apply_command(session, parse_input("/load ghost"))
    assert conversation_to_dict(session.conversation) == before


def test_retry_edit_prompt_copy_and_export(tiny_model, tmp_path):
    """Issue 11: regenerate, edit-and-resend, the exact prompt, copy (a reply or its code block), Markdown."""
    from core.chat import ChatSession, ChatStore, apply_command, parse_input
    from core.chat.commands import last_code_block
    from core.errors import UserInputError
    from core.models import load_model

    loaded = load_model(str(tiny_model), device="cpu", dtype="float32")
    from core.chat.settings import ChatSettings, GenerationSettings

    s = ChatSession(loaded, ChatSettings(generation=GenerationSettings(max_new_tokens=3)), store=ChatStore(tmp_path))
    with pytest.raises(UserInputError, match="no turn to take back"):
        apply_command(s, parse_input("/retry"))
    s.run_turn("first message")
    s.run_turn("second message")
    out = apply_command(s, parse_input("/retry"))
    assert out.resend == "second message" and len(s.turns) == 1 and len(s.messages) == 2
    s.run_turn(out.resend)
    out = apply_command(s, parse_input("/edit"))
    assert out.edit == "second message" and len(s.turns) == 1
    lines = apply_command(s, parse_input("/prompt")).lines
    assert lines[0].startswith("last turn sent 2 messages") and "first message" in lines[-1]
    assert "tok" in lines[1]
    copied = apply_command(s, parse_input("/copy")).copy
    assert copied == s.turns[-1].reply
    path = Path(apply_command(s, parse_input(f"/export {tmp_path / 'c.md'}")).lines[0].removeprefix("wrote "))
    text = path.read_text()
    assert text.startswith(f"# {s.conversation.name}") and "## You\n\nfirst message" in text
    assert last_code_block("text\n```python\nx = 1\n```\nmore\n~~~\ny\n~~~\n") == "y"
    assert last_code_block("no code") is None
    with pytest.raises(UserInputError, match="/copy"):
        parse_input("/copy everything")
