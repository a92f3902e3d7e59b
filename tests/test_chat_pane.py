"""Pilot tests of the chat pane over the real chat engine, with a tiny model."""

from __future__ import annotations

import threading

from app_helpers import ProbeApp, session_of, settings, wait_until
from textual.widgets import Input, Markdown

from core.chat.generation import TextStream
from tui.format import model_name
from tui.screens.chat import ChatScreen


class ChatProbe(ProbeApp):
    def on_chat_event(self, message) -> None:
        self.engine_events.append(message.event)
        self.changed.set()

    def on_session_ready(self, _message) -> None:
        self.changed.set()


async def _open_chat(pilot, tiny_model) -> ChatScreen:
    setup = pilot.app.screen
    setup.query_one("#model-input", Input).value = str(tiny_model)
    await pilot.press("f5")
    chat = pilot.app.screen
    assert isinstance(chat, ChatScreen)
    return chat


async def _loaded_chat(pilot, tiny_model, max_new_tokens: int) -> ChatScreen:
    """The chat pane over ``tiny_model``, its session loaded, replies capped at ``max_new_tokens``."""
    chat = await _open_chat(pilot, tiny_model)
    await _say(pilot, f"/set max_new_tokens={max_new_tokens}")
    await wait_until(pilot, lambda: session_of(chat) is not None)
    return chat


async def _say(pilot, text: str) -> None:
    box = pilot.app.screen.query_one("#chat-input", Input)
    box.focus()
    box.value = text
    await pilot.press("enter")


def _kinds(app) -> list[str]:
    return [type(e).__name__ for e in app.engine_events]


async def test_reply_streams_token_by_token_and_escape_keeps_the_partial_reply(tiny_model, tmp_path, monkeypatch):
    monkeypatch.setenv("LLM_TUI_CHATS", str(tmp_path / "chats"))
    gate = threading.Semaphore(0)
    original_put = TextStream.put

    def paced(self, value):  # the test hands out tokens one at a time
        gate.acquire()
        return original_put(self, value)

    monkeypatch.setattr(TextStream, "put", paced)
    app = ChatProbe(settings=settings(str(tmp_path)))
    async with app.run_test(size=(100, 30)) as pilot:
        chat = await _open_chat(pilot, tiny_model)
        await _say(pilot, "/set max_new_tokens=40 temperature=0")
        await wait_until(pilot, lambda: session_of(chat) is not None)
        await _say(pilot, "Hello there")
        gate.release()  # the prompt (generate's first put)
        for n in range(1, 6):
            gate.release()
            await wait_until(pilot, lambda n=n: _kinds(app).count("ReplyDelta") >= min(n, 3) or n > 3)
        deltas = _kinds(app).count("ReplyDelta")
        assert deltas >= 3  # several deltas, not one block
        await pilot.press("escape")
        for _ in range(50):
            gate.release()
        await wait_until(pilot, lambda: "TurnFinished" in _kinds(app))
        await wait_until(pilot, lambda: not chat.generating)
        record = session_of(chat).turns[-1]
        assert record.stopped and 0 < record.new_tokens < 40
        assert session_of(chat).messages[-1].role == "assistant"
        reply = list(chat.query(Markdown))[-1]
        assert reply.source.endswith("*[stopped]*")


async def test_history_toggle_and_strategy_switch_change_what_is_sent(tiny_model, tmp_path, monkeypatch):
    monkeypatch.setenv("LLM_TUI_CHATS", str(tmp_path / "chats"))
    app = ChatProbe(settings=settings(str(tmp_path)))
    async with app.run_test(size=(100, 30)) as pilot:
        chat = await _loaded_chat(pilot, tiny_model, 4)
        for text in ("My name is Alice.", "I like tea."):
            await _say(pilot, text)
            await wait_until(pilot, lambda: not chat.generating and "TurnFinished" in _kinds(app))
            app.engine_events.clear()
        on = session_of(chat).turns[-1]
        assert on.history and len(on.sent) == 4  # system, user, assistant, this message
        await pilot.press("ctrl+o")  # history off
        await _say(pilot, "What's my name?")
        await wait_until(pilot, lambda: not chat.generating and "TurnFinished" in _kinds(app))
        off = session_of(chat).turns[-1]
        assert not off.history and [m["role"] for m in off.sent] == ["system", "user"]
        assert off.sent[-1]["content"] == "What's my name?"
        assert len(session_of(chat).messages) == 6  # toggling never deletes the transcript
        before = session_of(chat).settings.strategy
        await pilot.press("ctrl+y")
        assert session_of(chat).settings.strategy != before
        app.engine_events.clear()
        await _say(pilot, "again")
        await wait_until(pilot, lambda: not chat.generating and "TurnFinished" in _kinds(app))
        assert session_of(chat).turns[-1].strategy == session_of(chat).settings.strategy


async def test_bad_commands_and_empty_messages_change_nothing(tiny_model, tmp_path, monkeypatch):
    monkeypatch.setenv("LLM_TUI_CHATS", str(tmp_path / "chats"))
    app = ChatProbe(settings=settings(str(tmp_path)))
    async with app.run_test(size=(100, 30)) as pilot:
        chat = await _open_chat(pilot, tiny_model)
        await _say(pilot, "/stats")
        await wait_until(pilot, lambda: session_of(chat) is not None)
        settings_before = session_of(chat).settings
        for bad in ("/frobnicate", "/set temperature=hot", "   "):
            await _say(pilot, bad)
        errors = [str(w.render()) for w in chat.query(".chat-error")]
        assert len(errors) == 3
        assert session_of(chat).settings == settings_before and session_of(chat).turns == []
        (tmp_path / "broken.json").write_text("{not json")
        await _say(pilot, f"/load {tmp_path / 'broken.json'}")
        assert len(list(chat.query(".chat-error"))) == 4 and session_of(chat).turns == []
        await _say(pilot, "/help")
        await pilot.press("up")
        assert chat.query_one("#chat-input", Input).value == "/help"


async def test_model_switches_with_slash_model_and_with_the_setup_screen(
    tiny_model, tiny_bytes_model, tmp_path, monkeypatch
):
    """Issue 11, item 1: the chat stayed on the first model it loaded."""
    from textual.widgets import Static

    monkeypatch.setenv("LLM_TUI_CHATS", str(tmp_path / "chats"))
    app = ChatProbe(settings=settings(str(tmp_path)))
    async with app.run_test(size=(80, 24)) as pilot:
        chat = await _loaded_chat(pilot, tiny_model, 3)
        await _say(pilot, "Hello")
        await wait_until(pilot, lambda: not chat.generating and len(session_of(chat).turns) == 1)
        status = lambda: str(chat.query_one("#chat-status", Static).render())  # noqa: E731
        first_name, second_name = model_name(str(tiny_model), 22), model_name(str(tiny_bytes_model), 22)
        assert status().startswith(first_name) and len(status()) <= 78  # one line at 80 columns, padding aside
        assert "TTFT" in status() and status().split("·")[3].strip().endswith("tok/s")
        await _say(pilot, f"/model {tiny_bytes_model}")
        await wait_until(pilot, lambda: session_of(chat).loaded.source.spec == str(tiny_bytes_model))
        await wait_until(pilot, lambda: not chat.generating)
        assert status().startswith(second_name)
        assert app.settings.recent_models[:2] == [str(tiny_bytes_model), str(tiny_model)]  # both loaded in chat
        await _say(pilot, "Hello again")
        await wait_until(pilot, lambda: not chat.generating and len(session_of(chat).turns) == 2)
        first, second = session_of(chat).turns
        assert (first.model, second.model) == (str(tiny_model), str(tiny_bytes_model))
        assert len(second.sent) == 4  # the conversation went on: system, hello, its reply, this message
        await pilot.press("ctrl+e")
        assert chat.query_one("#chat-input", Input).value == "/model "
        # another model picked on the setup screen: back in the chat, it answers
        await pilot.press("f2")
        pilot.app.screen.query_one("#model-input", Input).value = str(tiny_model)
        await pilot.press("f5")
        await wait_until(pilot, lambda: session_of(chat).loaded.source.spec == str(tiny_model) and not chat.generating)
        assert status().startswith(first_name) and len(session_of(chat).messages) == 4


async def test_retry_edit_and_copy_from_the_chat_pane(tiny_model, tmp_path, monkeypatch):
    monkeypatch.setenv("LLM_TUI_CHATS", str(tmp_path / "chats"))
    app = ChatProbe(settings=settings(str(tmp_path)))
    async with app.run_test(size=(80, 24)) as pilot:
        chat = await _loaded_chat(pilot, tiny_model, 3)
        await _say(pilot, "Hello")
        await wait_until(pilot, lambda: not chat.generating and len(session_of(chat).turns) == 1)
        await pilot.press("ctrl+k")  # copy the reply (OSC 52 in a real terminal)
        await wait_until(pilot, lambda: app.clipboard == session_of(chat).turns[-1].reply)
        first = session_of(chat).turns[-1]
        await pilot.press("ctrl+r")  # ask again: the turn is replaced, not added
        await wait_until(
            pilot, lambda: not chat.generating and session_of(chat).turns and session_of(chat).turns[-1] is not first
        )
        assert len(session_of(chat).turns) == 1 and len(session_of(chat).messages) == 2
        await _say(pilot, "/edit")
        box = chat.query_one("#chat-input", Input)
        await wait_until(pilot, lambda: box.value == "Hello")
        assert session_of(chat).turns == [] and session_of(chat).messages == []


async def test_help_and_messages_show_square_brackets_as_typed(tiny_model, tmp_path, monkeypatch):
    """Issue 11, item 9: /help lost the [NAME] and [TEXT] of /strategy and /system (read as markup)."""
    from textual.widgets import Static

    monkeypatch.setenv("LLM_TUI_CHATS", str(tmp_path / "chats"))
    app = ChatProbe(settings=settings(str(tmp_path)))
    async with app.run_test(size=(100, 30)) as pilot:
        chat = await _open_chat(pilot, tiny_model)
        await _say(pilot, "/help")
        await wait_until(pilot, lambda: session_of(chat) is not None)
        await pilot.pause()
        shown = "\n".join(str(w.render()) for w in chat.query(".chat-note").results(Static))
        assert "/strategy [NAME]" in shown and "/system [TEXT]" in shown and "/model [SPEC]" in shown


async def test_chatting_during_an_evaluation_says_it_skews_the_runs_timing(tiny_model, tmp_path, monkeypatch):
    from textual.widgets import Static

    monkeypatch.setenv("LLM_TUI_CHATS", str(tmp_path / "chats"))
    app = ChatProbe(settings=settings(str(tmp_path)))
    async with app.run_test(size=(80, 24)) as pilot:
        chat = await _loaded_chat(pilot, tiny_model, 2)
        app.get_screen("live")._set_running(True)  # as while a run is in progress
        await _say(pilot, "Hello")
        await wait_until(pilot, lambda: not chat.generating and len(session_of(chat).turns) == 1)
        notes = " ".join(str(w.render()) for w in chat.query(".chat-error").results(Static))
        assert "an evaluation is running" in notes
        app.get_screen("live")._set_running(False)


async def test_a_reply_ends_on_its_last_line(tiny_model, tmp_path, monkeypatch):
    """No empty bordered row under each reply (Markdown's last block kept its bottom margin)."""
    monkeypatch.setenv("LLM_TUI_CHATS", str(tmp_path / "chats"))
    app = ChatProbe(settings=settings(str(tmp_path)))
    async with app.run_test(size=(100, 30)) as pilot:
        chat = await _loaded_chat(pilot, tiny_model, 4)
        await _say(pilot, "Hello")
        await wait_until(pilot, lambda: session_of(chat).turns and not chat.generating)
        await pilot.pause()
        reply = chat.query(".chat-reply").last()
        assert isinstance(reply, Markdown) and reply.children
        assert reply.children[-1].region.bottom == reply.content_region.bottom, reply.children[-1].styles.margin
        user = chat.query(".chat-user").last()
        assert chat.query_one("#transcript").region.contains_region(user.region)  # the user's line stays shown
