"""Saving and loading conversations: round trip, autosave, and clear one-line errors that change nothing."""

from __future__ import annotations

import json

import pytest

from core.chat import ChatSession, ChatSettings, ChatStore, GenerationSettings
from core.chat.store import CHAT_FORMAT, conversation_to_dict
from core.errors import UserInputError

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def session(tiny, tmp_path):
    settings = ChatSettings(
        system_prompt="sys", strategy="summarize", max_context=140, summary_tokens=16,
        generation=GenerationSettings(max_new_tokens=5),
    )  # fmt: skip
    return ChatSession(tiny, settings, store=ChatStore(tmp_path / "chats"), autosave=True)


def _state(s: ChatSession):
    return conversation_to_dict(s.conversation)


def test_round_trip_keeps_messages_settings_summary_and_turn_stats(session, tiny, tmp_path):
    for i in range(6):
        session.run_turn(f"turn {i} star planet orbit mass")
    session.set_history(False)
    session.run_turn("history off now")
    assert session.summary.text  # the summarize strategy folded something
    path = session.save("trip")
    assert path == tmp_path / "chats" / "trip.json"
    data = json.loads(path.read_text())
    assert data["format"] == CHAT_FORMAT and data["version"] == 1 and data["summary"]["text"]
    assert data["turns"][-1]["history"] is False and "ttft_s" in data["turns"][0]
    other = ChatSession(tiny, store=ChatStore(tmp_path / "chats"))
    assert other.load("trip") == []
    assert _state(other) == _state(session)
    assert other.settings.history is False and other.settings.strategy == "summarize"
    other.set_history(True)
    r = other.run_turn("and the summary is sent")
    assert other.summary.text in r.sent[0]["content"]


def test_autosave_after_every_turn(session):
    store = session.store
    session.run_turn("one")
    first = store.load(session.conversation.name)
    assert len(first.turns) == 1 and len(first.messages) == 2
    session.run_turn("two")
    assert len(store.load(session.conversation.name).turns) == 2
    old = session.conversation.name
    session.clear()  # a new conversation: the old file stays
    session.run_turn("three")
    assert session.conversation.name != old and len(store.load(old).turns) == 2
    assert len(store.load(session.conversation.name).turns) == 1


BAD_FILES = {
    "not json": ("{oops", "not valid JSON (line 1"),
    "foreign": (json.dumps({"hello": "world"}), "not an llm-tui chat file"),
    "a list": (json.dumps([1, 2]), "not an llm-tui chat file"),
    "newer": (None, "saved by a newer llm-tui (version 99"),
    "bad role": (None, "messages[0].role must be one of user, assistant"),
    "bad setting": (None, "temperature=-1: temperature must be a number from 0 to 5"),
    "unknown setting": (None, "settings has an unknown key 'colour'"),
    "bad turn": (None, "turns[0].prompt_tokens has the wrong type (str)"),
    "summary past end": (None, "summary.upto 50 is past the 2 messages"),
}


def _broken(kind: str, good: dict) -> str:
    d = json.loads(json.dumps(good))
    if kind == "newer":
        d["version"] = 99
    elif kind == "bad role":
        d["messages"][0]["role"] = "wizard"
    elif kind == "bad setting":
        d["settings"]["generation"]["temperature"] = -1
    elif kind == "unknown setting":
        d["settings"]["colour"] = "blue"
    elif kind == "bad turn":
        d["turns"][0]["prompt_tokens"] = "many"
    elif kind == "summary past end":
        d["summary"]["upto"] = 50
    return json.dumps(d)


@pytest.mark.parametrize("kind", list(BAD_FILES))
def test_malformed_or_foreign_file_gives_one_clear_line_and_changes_nothing(session, tmp_path, kind):
    session.run_turn("keep me")
    good = _state(session)
    text, expected = BAD_FILES[kind]
    (tmp_path / "chats" / "bad.json").write_text(text if text is not None else _broken(kind, good))
    before = _state(session)
    with pytest.raises(UserInputError) as err:
        session.load("bad")
    message = str(err.value)
    assert expected in message and message.startswith("cannot load bad.json: ") and "\n" not in message
    assert message.endswith("nothing was loaded")
    assert _state(session) == before


def test_missing_chat_and_bad_names(session):
    with pytest.raises(UserInputError, match="no saved chat 'ghost'"):
        session.load("ghost")
    with pytest.raises(UserInputError, match="not a usable chat name"):
        session.save("../escape")
    session.run_turn("hello")
    path = session.save()
    assert session.store.load(str(path)).name == session.conversation.name  # a path works too


def test_loading_a_chat_from_another_model_says_so(session, tiny, tmp_path):
    session.run_turn("hello")
    path = session.save("mine")
    data = json.loads(path.read_text())
    data["model"] = "some-other-model"
    path.write_text(json.dumps(data))
    notes = session.load("mine")
    assert notes and "saved with some-other-model" in notes[0]
