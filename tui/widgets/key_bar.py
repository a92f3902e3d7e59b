"""The key bar at the bottom of every screen: the keys that work here, on one line that always fits.

Textual's Footer mounts a widget per key and remounts them all whenever the screen's bindings change (a screen
shown again, a run starting or ending), which measured as the app's largest CPU cost while a model runs beside it
(bench/ui_lag.py). This bar is one widget drawing one line of text: a change of bindings that changes nothing
shown costs a comparison, and one that does costs one repaint of one line. At narrow widths the screen-switching
keys fold into one "f2-f6 Screens" entry and what still does not fit is left out (f1 lists every key); Help and
Quit always stay.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.style import Style
from rich.text import Text
from textual import events
from textual.screen import Screen
from textual.widget import Widget


@dataclass(frozen=True)
class KeyItem:
    key: str  # the key as Textual names it (what a click simulates)
    display: str  # as shown: "^r", "f1", "esc"
    description: str
    enabled: bool
    switches_screen: bool  # the f2-f6 family, folded into one entry when space is short
    pinned: bool  # Help and Quit: shown whatever else is left out

    @property
    def width(self) -> int:
        return len(self.display) + len(self.description) + 3  # " key description "


def keys_of(screen: Screen) -> tuple[KeyItem, ...]:
    """The shown bindings active on `screen`, one per action (the first key of an action, as Textual's footer)."""
    seen: set[str] = set()
    items = []
    for _node, binding, enabled, _tooltip in screen.active_bindings.values():
        if not binding.show or binding.action in seen:
            continue
        seen.add(binding.action)
        items.append(
            KeyItem(
                binding.key, screen.app.get_key_display(binding), binding.description, enabled,
                binding.action.startswith("switch_mode"), binding.action in ("help", "quit"),
            )
        )  # fmt: skip
    return tuple(items)


def fit(items: tuple[KeyItem, ...], width: int) -> list[KeyItem]:
    """What fits in `width` columns, in order: everything; else the screen keys folded into one entry; else as
    many leading entries as fit, with Help and Quit (when active) kept."""
    if sum(i.width for i in items) <= width:
        return list(items)
    screens = [i for i in items if i.switches_screen]
    if len(screens) > 1:
        folded = KeyItem(screens[0].key, f"{screens[0].display}-{screens[-1].display}", "Screens", True, True, False)
        rest = [i for i in items if not i.switches_screen]
        at = items.index(screens[0])
        items = (*rest[:at], folded, *rest[at:])
        if sum(i.width for i in items) <= width:
            return list(items)
    room = width - sum(i.width for i in items if i.pinned)
    shown = []
    for item in items:
        if not item.pinned and item.width > room:
            room = 0  # the rest in order is left out, not a later short one picked
            continue
        shown.append(item)
        room -= 0 if item.pinned else item.width
    return shown


class KeyBar(Widget):
    """One line: the screen's keys (a key in the accent colour, then what it does; a key that does nothing right
    now is dimmed). A click on an entry presses its key."""

    COMPONENT_CLASSES = {"key-bar--key", "key-bar--description"}

    def __init__(self) -> None:
        super().__init__()
        self._items: tuple[KeyItem, ...] = ()
        self._spans: list[tuple[int, int, KeyItem]] = []

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)
        self._bindings_changed(self.screen)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _bindings_changed(self, screen: Screen) -> None:
        items = keys_of(screen)
        if items != self._items:
            self._items = items
            self.refresh()

    def render(self) -> Text:
        key_style = self.get_component_rich_style("key-bar--key")
        description_style = self.get_component_rich_style("key-bar--description")
        dim = Style(dim=True)
        text = Text(no_wrap=True, overflow="crop")
        self._spans = []
        for item in fit(self._items, self.size.width):
            start = len(text)
            text.append(f" {item.display} ", key_style + (dim if not item.enabled else Style()))
            text.append(f"{item.description} ", description_style + (dim if not item.enabled else Style()))
            self._spans.append((start, len(text), item))
        return text

    def on_click(self, event: events.Click) -> None:
        for start, end, item in self._spans:
            if start <= event.x < end:
                if item.enabled:
                    self.app.simulate_key(item.key)
                else:
                    self.app.bell()
                return
