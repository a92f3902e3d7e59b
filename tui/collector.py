"""Short garbage-collection pauses for the event loop.

CPython's full collection walks every tracked object; with Textual's widgets, styles and line caches that is
100-220 ms on a small CPU (measured with bench/ui_lag.py), long enough to stall key presses. Objects that live
as long as the app (imported modules, installed screens and their widgets) are moved out of the collector's
reach once they exist, so a full collection walks only what was made since.
"""

from __future__ import annotations

import gc


def collect_less_often() -> None:
    """Young collections every 10,000 new container objects instead of 700: a Textual frame makes thousands of
    short-lived ones, and each young collection that runs promotes survivors toward the costly full one."""
    _, middle, old = gc.get_threshold()
    gc.set_threshold(10_000, middle, old)


def freeze_long_lived() -> None:
    """Move every object alive now into the permanent generation (`gc.freeze`). Reference counting still frees
    them; only cycles among them are no longer collected, so call it where what is alive is the app's lasting
    state: after start-up and after a screen's first display."""
    gc.freeze()
