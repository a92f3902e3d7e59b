"""The engine process: the app's models live here, and every job runs here on a thread of its own.

``serve(conn)`` is the spawned child's main: it lowers its own scheduling priority (the UI process wins the CPU
when a key is pressed), says ``Hello``, then reads requests until ``Shutdown`` or until the app goes away (its end
of the pipe closes), in which case it stops its jobs and exits.
"""

from __future__ import annotations

import contextlib
import os
import threading
from typing import Any

from ..errors import LlmTuiError, one_line
from .jobs import EngineState, import_libraries
from .protocol import (
    PROTOCOL,
    Cancel,
    EngineStatus,
    Hello,
    JobDone,
    JobEvent,
    JobFailed,
    Shutdown,
    Submit,
)

NICE = 10  # the engine's niceness over the app's (POSIX); 10 keeps it well behind an interactive process
EXIT_GRACE_S = 5.0  # after the app went away, how long running jobs get to stop at a batch boundary


def status(state: EngineState) -> EngineStatus:
    from ..timing import peak_rss_bytes

    rss = 0
    with contextlib.suppress(Exception):
        import psutil

        rss = int(psutil.Process().memory_info().rss)
    key = state.models.key
    model = state.models.current
    spec = None if model is None else model.source.spec
    device, dtype, quant = (key[1], key[2], key[3]) if key is not None else ("", "", "")
    return EngineStatus(os.getpid(), spec, device, dtype, quant, rss, peak_rss_bytes(), len(state.sessions),
                        state.models.loads)  # fmt: skip


class _Engine:
    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.send_lock = threading.Lock()
        self.state = EngineState()
        self.cancels: dict[int, threading.Event] = {}
        self.threads: dict[int, threading.Thread] = {}

    def send(self, message: Any) -> None:
        with self.send_lock, contextlib.suppress(OSError, EOFError, BrokenPipeError):
            self.conn.send(message)

    def run_job(self, job_id: int, job: Any, cancel: threading.Event) -> None:
        from ..events import BatchScored, ModelLoaded

        def emit(event: Any) -> None:
            self.send(JobEvent(job_id, event))
            if isinstance(event, (ModelLoaded, BatchScored)):  # the memory the app shows follows the run
                self.send(status(self.state))

        try:
            import_libraries()
            result = job.run(self.state, emit, cancel)
        except LlmTuiError as exc:
            self.send(JobFailed(job_id, type(exc).__name__, str(exc), True, getattr(exc, "exit_code", 1)))
        except BaseException as exc:  # reported to the app, which shows it; the engine goes on
            self.send(JobFailed(job_id, type(exc).__name__, one_line(exc), False))
        else:
            try:
                self.send(JobDone(job_id, result))
            except Exception as exc:  # a result that does not pickle is a bug in the job: say so, not hang
                self.send(JobFailed(job_id, type(exc).__name__, one_line(exc), False))
        finally:
            self.cancels.pop(job_id, None)
            self.threads.pop(job_id, None)
            self.send(status(self.state))

    def loop(self) -> None:
        while True:
            try:
                message = self.conn.recv()
            except (EOFError, OSError):
                break  # the app is gone
            if isinstance(message, Submit):
                cancel = threading.Event()
                self.cancels[message.job_id] = cancel
                thread = threading.Thread(target=self.run_job, args=(message.job_id, message.job, cancel),
                                          name=f"job-{message.job_id}", daemon=True)  # fmt: skip
                self.threads[message.job_id] = thread
                thread.start()
            elif isinstance(message, Cancel):
                event = self.cancels.get(message.job_id)
                if event is not None:
                    event.set()
            elif isinstance(message, Shutdown):
                break
        for event in list(self.cancels.values()):
            event.set()
        for thread in list(self.threads.values()):
            thread.join(EXIT_GRACE_S)


def serve(conn: Any) -> None:
    nice = 0
    with contextlib.suppress(AttributeError, OSError):
        nice = os.nice(NICE)
    engine = _Engine(conn)
    engine.send(Hello(os.getpid(), PROTOCOL, nice))
    engine.send(status(engine.state))
    try:
        engine.loop()
    finally:
        with contextlib.suppress(OSError):
            conn.close()
    os._exit(0)  # daemon job threads (a stuck download, a server request) must not keep the process alive


def main(argv: list[str]) -> None:
    """Serve on the inherited socket FD (``argv[0]``; see client.ProcessEngine, which starts it)."""
    import socket
    from multiprocessing.connection import Connection

    fd = int(argv[0])
    sock = socket.socket(fileno=fd)
    serve(Connection(sock.detach()))


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
