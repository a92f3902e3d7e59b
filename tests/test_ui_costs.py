"""What keeps the app's event loop short while a model runs beside it (issue 14; bench/ui_lag.py measures it):
the one-line key bar, a mode's first display without a second full CSS pass, the collector's policy."""

from __future__ import annotations

import gc

import pytest
from app_helpers import ProbeApp, settings, wait_until
from textual.color import Color

from tui.widgets.key_bar import KeyBar, KeyItem, fit


def _item(display: str, description: str, *, screens: bool = False, pinned: bool = False) -> KeyItem:
    return KeyItem(display, display, description, True, screens, pinned)


ITEMS = (
    _item("^r", "Start"),
    _item("^f", "Find subject"),
    _item("f1", "Help", pinned=True),
    *(_item(f"f{n}", name, screens=True) for n, name in [(2, "Setup"), (3, "Live"), (4, "Results"), (5, "Chat")]),
    _item("q", "Quit", pinned=True),
)


def _text(items: list[KeyItem]) -> str:
    return "".join(f" {i.display} {i.description} " for i in items)


def test_the_key_bar_shows_everything_when_it_fits():
    assert fit(ITEMS, 200) == list(ITEMS)


def test_the_key_bar_folds_the_screen_keys_first_then_leaves_out_the_tail_but_never_help_or_quit():
    full = sum(i.width for i in ITEMS)
    folded = fit(ITEMS, full - 1)
    assert [i.description for i in folded] == ["Start", "Find subject", "Help", "Screens", "Quit"]
    assert folded[3].display == "f2-f5" and len(_text(folded)) <= full - 1
    tight = fit(ITEMS, 30)
    assert [i.description for i in tight] == ["Start", "Help", "Quit"] and len(_text(tight)) <= 30
    assert [i.description for i in fit(ITEMS, 5)] == ["Help", "Quit"]  # what f1 and q do, whatever the width


@pytest.mark.parametrize("size", [(80, 24), (120, 30)], ids=lambda s: f"{s[0]}x{s[1]}")
async def test_every_screen_s_key_bar_fits_its_width_and_names_help(tmp_path, size):
    app = ProbeApp(settings=settings(str(tmp_path)))
    async with app.run_test(size=size) as pilot:
        for mode in ("setup", "live", "results", "chat", "mtbench"):
            app.switch_mode(mode)
            await pilot.pause()
            bar = app.screen.query_one(KeyBar)
            text = bar.render().plain
            assert bar.region.bottom == size[1] and bar.region.height == 1, mode
            assert len(text) <= size[0] and "f1 Help" in text, (mode, text)
            if mode in ("setup", "live", "results"):  # (chat and MT-Bench keep q for typing)
                assert text.rstrip().endswith("q Quit"), (mode, text)
        app.switch_mode("setup")
        await pilot.pause()
        assert "^r Start" in app.screen.query_one(KeyBar).render().plain


async def test_a_click_on_a_key_bar_entry_presses_its_key(tmp_path):
    app = ProbeApp(settings=settings(str(tmp_path)))
    async with app.run_test(size=(160, 30)) as pilot:
        await pilot.pause()
        text = app.screen.query_one(KeyBar).render().plain
        await pilot.click(KeyBar, offset=(text.index("f4 Results") + 1, 0))
        await wait_until(pilot, lambda: app.current_mode == "results")


async def test_a_mode_s_first_display_does_not_parse_the_css_again(tmp_path, monkeypatch):
    """Textual re-parses every rule and restyles the screen when a mode is first shown (~100 ms on 2 cores, a stall
    while the engine loads a model); the app skips that pass, which has nothing new to apply, and a theme changed
    in between still reaches a screen shown later."""
    app = ProbeApp(settings=settings(str(tmp_path)))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        parses = []
        original = type(app.stylesheet).reparse
        monkeypatch.setattr(type(app.stylesheet), "reparse", lambda self: parses.append(1) or original(self))
        for mode in ("live", "results", "setup", "chat"):
            app.switch_mode(mode)
            await pilot.pause()
        assert parses == []
        before = Color.parse(app.get_css_variables()["footer-background"])
        app.theme = "textual-light"
        await pilot.pause()
        app.switch_mode("mtbench")
        await pilot.pause()
        after = Color.parse(app.get_css_variables()["footer-background"])
        assert after != before and app.screen.query_one(KeyBar).styles.background == after


async def test_the_app_freezes_what_outlives_start_up_and_collects_young_objects_less_often(tmp_path):
    gc.unfreeze()
    app = ProbeApp(settings=settings(str(tmp_path)))
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: gc.get_freeze_count() > 0)
        assert gc.get_threshold()[0] == 10_000


async def test_the_help_screen_is_shown_unseen_at_start_up_and_keys_pressed_meanwhile_still_count(tmp_path):
    from textual import events

    from tui.screens.dialogs import HelpScreen

    app = ProbeApp(settings=settings(str(tmp_path)), devices=None)  # the real warm-up (in this process)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: app.is_screen_installed("help") and len(app.screen_stack) == 1)
        help_screen = app.get_screen("help", HelpScreen)
        assert help_screen.is_mounted and help_screen.unseen is None  # composed and laid out already
        # again, with keys arriving while it is up: they reach the screen beneath once it is gone
        app.uninstall_screen("help")
        app._prepare_help()
        assert isinstance(app.screen, HelpScreen)
        app.post_message(events.Key("f4", None))
        await wait_until(pilot, lambda: app.current_mode == "results")
        assert not isinstance(app.screen, HelpScreen) and len(app.screen_stack) == 1
        await pilot.press("f1")  # and f1 still opens it, at once
        await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen))


async def test_a_dialog_made_for_one_use_is_not_frozen_with_the_app_s_screens(tmp_path, monkeypatch):
    from tui import app as app_module
    from tui.screens.dialogs import ErrorDialog

    app = ProbeApp(settings=settings(str(tmp_path)))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        frozen = []
        monkeypatch.setattr(app_module, "freeze_long_lived", lambda: frozen.append(type(app.screen).__name__))
        app.switch_mode("results")
        await wait_until(pilot, lambda: frozen == ["ResultsScreen"])
        app.push_screen(ErrorDialog("title", "text"))
        await wait_until(pilot, lambda: isinstance(app.screen, ErrorDialog))
        await pilot.pause()
        assert frozen == ["ResultsScreen"]
