"""The app with the other backends (issue 12): the setup screen picks where the model runs (llama.cpp greyed out with
the reason when its extra is missing; a server's address with a connection check that lists its models), a run on
a server shows where it runs and its requests in flight, and the chat talks to a server."""

from __future__ import annotations

import sys

from app_helpers import ProbeApp, session_of, settings, wait_until
from fake_server import FakeServer
from textual.widgets import Input, RadioButton, RadioSet

from core.events import RunFinished, ServerStatus
from tui.screens.chat import ChatScreen
from tui.screens.live import LiveScreen


def _backend_button(screen, name: str) -> RadioButton:
    return next(b for b in screen.query_one("#backend", RadioSet).query(RadioButton) if b.name == name)


async def _pick_server(pilot, url: str) -> None:
    setup = pilot.app.screen
    _backend_button(setup, "openai").value = True
    await pilot.pause()
    box = setup.query_one("#base-url", Input)
    box.focus()
    box.value = url
    await pilot.press("enter")


async def test_a_run_on_a_server_from_the_setup_screen(tmp_path, mmlu_file):
    app = ProbeApp(settings=settings(str(tmp_path / "runs")))
    with FakeServer(echo=False) as server:
        async with app.run_test(size=(100, 30)) as pilot:
            setup = app.screen
            assert setup.query_one("#dtype").display and not setup.query_one("#url-row").display
            await _pick_server(pilot, server.url)
            note = setup.query_one("#backend-note")
            await wait_until(pilot, lambda: "server answers" in str(note.render()))
            assert "fake-model" in str(note.render())
            assert setup.query_one("#model-input", Input).value == "fake-model"  # the served model, filled in
            assert not setup.query_one("#dtype").display and not setup.query_one("#device").display
            assert setup.query_one("#url-row").display
            setup.query_one("#data", Input).value = str(mmlu_file)
            setup.selected = {"virology"}
            setup._fill_subjects()
            config = setup.build_configs()[0]
            assert (config.backend, config.base_url, config.model) == ("openai", server.url, "fake-model")
            await pilot.press("ctrl+r")
            await wait_until(pilot, lambda: any(isinstance(e, RunFinished) for e in app.engine_events))
            live = app.screen
            assert isinstance(live, LiveScreen)
            statuses = [e for e in app.engine_events if isinstance(e, ServerStatus)]
            assert statuses and max(s.in_flight for s in statuses) > 0 and statuses[-1].in_flight == 0
            logged = " ".join(line.text for line in live.query_one("#log").lines)
            assert "on the server" in logged or "server" in str(live.query_one("#run-title").render())
            finished = next(e for e in app.engine_events if isinstance(e, RunFinished))
            assert finished.results.identity.backend == "openai" and finished.results.accuracy.answered == 6
        assert app.settings.last_setup is not None and app.settings.last_setup.backend == "openai"


async def test_an_unreachable_server_is_said_on_the_setup_screen(tmp_path):
    with FakeServer() as server:
        url = server.url
    app = ProbeApp(settings=settings(str(tmp_path)))
    async with app.run_test(size=(100, 30)) as pilot:
        await _pick_server(pilot, url)
        note = app.screen.query_one("#backend-note")
        await wait_until(pilot, lambda: "connection failed" in str(note.render()))


async def test_llama_cpp_is_greyed_out_with_the_reason_when_the_extra_is_missing(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "xllamacpp", None)
    app = ProbeApp(settings=settings(str(tmp_path)))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        setup = app.screen
        assert _backend_button(setup, "llamacpp").disabled
        assert "pip install -e '.[llamacpp]'" in str(setup.query_one("#backend-note").render())


async def test_the_chat_talks_to_a_server(tmp_path, tiny_model, monkeypatch):
    monkeypatch.setenv("LLM_TUI_CHATS", str(tmp_path / "chats"))
    app = ProbeApp(settings=settings(str(tmp_path)))
    with FakeServer(echo=False, model=str(tiny_model)) as server:  # served under a name that is a model folder
        async with app.run_test(size=(100, 30)) as pilot:
            await _pick_server(pilot, server.url)
            await wait_until(pilot, lambda: "server answers" in str(app.screen.query_one("#backend-note").render()))
            await pilot.press("f5")
            chat = app.screen
            assert isinstance(chat, ChatScreen)
            box = chat.query_one("#chat-input", Input)
            box.value = "Hello! My name is Alice."
            await pilot.press("enter")
            await wait_until(
                pilot, lambda: session_of(chat) is not None and session_of(chat).turns and not chat.generating
            )
            assert session_of(chat).turns[0].reply == "Hello, Alice! How can I help?"
            notes = " ".join(str(w.render()) for w in chat.query(".chat-note"))
            assert "on the server" in notes
            status = str(chat.query_one("#chat-status").render())
            assert "TTFT" in status and "server: 0 in flight, 0 retries" in status
            assert str(tiny_model) not in app.settings.recent_models  # a served name is no model to offer again
