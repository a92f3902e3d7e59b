"""Turn callback-style engine work into an iterator of events, the work running in a background thread."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

from .events import Event

_DONE = object()


def events_from_thread(work: Callable[[Callable[[Event], None]], Any], name: str) -> Iterator[Event]:
    """Run ``work(emit)`` in a daemon thread and yield what it emits; its exception is re-raised here."""
    q: queue.Queue[Any] = queue.Queue()
    failure: list[BaseException] = []

    def run() -> None:
        try:
            work(q.put)
        except BaseException as exc:  # re-raised in the consuming thread
            failure.append(exc)
        finally:
            q.put(_DONE)

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    while (item := q.get()) is not _DONE:
        yield item
    thread.join()
    if failure:
        raise failure[0]
