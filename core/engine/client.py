"""The app's handle on its engine: ``run(job, emit, cancel)`` from a worker thread, whichever engine it is.

``ProcessEngine`` spawns the engine process (a fresh interpreter running ``core.engine.serve``, not a fork of
the app's threads) on first use, sends it jobs and hands their events to ``emit``. Setting ``cancel`` sends a
Cancel; the job stops at its next batch or token. ``kill()`` ends the process at once (a second cancel, a quit
that will not wait). An engine that dies (killed, out of memory) fails the jobs in flight with ``EngineDied``,
and the next job starts a fresh one. ``InlineEngine`` runs the same jobs in the app's own process (the
``--engine inline`` escape hatch, and tests that patch the engine's code).
"""

from __future__ import annotations

import contextlib
import itertools
import queue
import tempfile
import threading
from collections.abc import Callable
from typing import Any

from ..errors import LlmTuiError
from .jobs import EngineState, Job
from .protocol import PROTOCOL, Cancel, EngineStatus, Hello, JobDone, JobEvent, JobFailed, Shutdown, Submit

POLL_S = 0.05  # how often a waiting job looks at its cancel flag
START_TIMEOUT_S = 120.0  # a spawned interpreter imports little before it says Hello; this is a dead-engine guard
CLOSE_GRACE_S = 3.0


class EngineDied(LlmTuiError):
    """The engine process ended while a job ran (killed, or out of memory)."""

    def __init__(self, how: str) -> None:
        super().__init__(
            f"the engine process {how}, so the model it held is gone; what was computed is saved: resume the run "
            "(results, f4, then u) or send the chat message again, and a fresh engine starts"
        )


class EngineJobError(LlmTuiError):
    """A job's foreseeable failure, raised again in the app with the engine's message."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class EngineCrash(Exception):
    """A job's unexpected failure in the engine; ``kind`` is the exception's class there."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def _how(exitcode: int | None) -> str:
    if exitcode is None:
        return "stopped answering"
    if exitcode < 0:
        import signal

        with contextlib.suppress(ValueError):
            name = signal.Signals(-exitcode).name
            hint = " (out of memory, or kill -9)" if name == "SIGKILL" else ""
            return f"was killed by {name}{hint}"
        return f"was killed by signal {-exitcode}"
    return f"exited with code {exitcode}"


class _Died:
    def __init__(self, how: str) -> None:
        self.how = how


class ProcessEngine:
    kind = "process"

    def __init__(self, on_status: Callable[[EngineStatus], None] | None = None) -> None:
        self.on_status = on_status
        self.status: EngineStatus | None = None
        self.hello: Hello | None = None
        self._lock = threading.Lock()  # guards starting, sending and the job table
        self._proc: Any = None
        self._conn: Any = None
        self._jobs: dict[int, tuple[queue.Queue[Any], Any]] = {}  # job id: (its messages, the process running it)
        self._ids = itertools.count(1)
        self._ready = threading.Event()
        self._stderr: Any = None
        self.deaths = 0

    # -- the process --------------------------------------------------------------------------------------
    @property
    def pid(self) -> int | None:
        proc = self._proc
        return None if proc is None else proc.pid

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        """Spawn the engine if none runs (returns at once; it says Hello when its interpreter is up)."""
        with self._lock:
            self._start_locked()

    def _start_locked(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            return
        import socket
        import subprocess
        import sys
        from multiprocessing.connection import Connection
        from pathlib import Path

        # a fresh interpreter that imports only the engine (multiprocessing's spawn would import the app's
        # __main__ again), in the app's working folder (relative paths mean the same in both) but importing this
        # llm-tui first (not a `core` package that folder may hold); the socket is its one channel
        mine, theirs = socket.socketpair()
        root = str(Path(__file__).resolve().parents[2])
        boot = f"import sys; sys.path.insert(0, {root!r}); from core.engine.serve import main; main(sys.argv[1:])"
        fd = theirs.fileno()
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115  (the engine's warnings and last words; kept open)
        proc = subprocess.Popen(
            [sys.executable, "-c", boot, str(fd)], pass_fds=(fd,),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self._stderr,
        )  # fmt: skip
        theirs.close()
        conn = Connection(mine.detach())
        self._proc, self._conn = proc, conn
        self._ready = threading.Event()
        threading.Thread(target=self._read, args=(proc, conn, self._ready), name="engine-reader",
                         daemon=True).start()  # fmt: skip

    def _read(self, proc: Any, conn: Any, ready: threading.Event) -> None:
        """The one reader of the engine's pipe: hands each message to its job's queue."""
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):
                break
            except Exception:  # a message that does not unpickle: the engine is not ours to trust any more
                break
            if isinstance(message, Hello):
                if message.protocol != PROTOCOL:  # another llm-tui's engine: not one to send jobs to
                    proc.kill()
                    break
                self.hello = message
                ready.set()
            elif isinstance(message, EngineStatus):
                self.status = message
                if self.on_status is not None:
                    self.on_status(message)
            elif isinstance(message, (JobEvent, JobDone, JobFailed)):
                entry = self._jobs.get(message.job_id)
                if entry is not None:
                    entry[0].put(message)
        with contextlib.suppress(Exception):
            proc.wait(1.0)
        how = _how(proc.poll())
        last = self._last_words()
        if last and (proc.poll() or 0) > 0:  # a Python-level crash says why on stderr (a kill -9 says nothing)
            how += f" ({last})"
        with self._lock:
            if self._proc is proc:
                self._proc, self._conn = None, None
                self.status = None
            boxes = [box for box, owner in self._jobs.values() if owner is proc]
        ready.set()
        if boxes:
            self.deaths += 1
        for box in boxes:
            box.put(_Died(how))
        with contextlib.suppress(OSError):
            conn.close()

    def _last_words(self) -> str:
        """The last line the engine wrote to stderr (its error, when it crashed), at most 160 characters."""
        f = self._stderr
        if f is None:
            return ""
        try:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - 4096))
            lines = [x for x in f.read().decode("utf-8", "replace").splitlines() if x.strip()]
        except (OSError, ValueError):
            return ""
        return lines[-1].strip()[:160] if lines else ""

    def kill(self) -> None:
        """End the engine now (its jobs fail with EngineDied; the next job starts a fresh engine)."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.kill()

    def close(self) -> None:
        """Ask the engine to stop its jobs and exit; kill it if it has not within a few seconds."""
        with self._lock:
            proc, conn = self._proc, self._conn
        if proc is None:
            return
        with contextlib.suppress(OSError, BrokenPipeError, EOFError):
            conn.send(Shutdown())
        try:
            proc.wait(CLOSE_GRACE_S)
        except Exception:
            proc.kill()
            with contextlib.suppress(Exception):
                proc.wait(CLOSE_GRACE_S)

    # -- jobs ---------------------------------------------------------------------------------------------
    def run(self, job: Job, emit: Callable[[Any], None], cancel: threading.Event) -> Any:
        """Run ``job`` in the engine and wait (call from a worker thread): events go to ``emit``; its result is
        returned, its failure raised (EngineJobError, EngineCrash, or EngineDied)."""
        box: queue.Queue[Any] = queue.Queue()
        with self._lock:
            self._start_locked()
            job_id = next(self._ids)
            self._jobs[job_id] = (box, self._proc)
            conn, ready = self._conn, self._ready
        try:
            if not ready.wait(START_TIMEOUT_S):
                raise EngineDied("did not start")
            try:
                with self._lock:
                    conn.send(Submit(job_id, job))
            except (OSError, BrokenPipeError, EOFError):
                raise EngineDied("went away before the job started") from None
            cancelled = False
            while True:
                if cancel.is_set() and not cancelled:
                    cancelled = True
                    with self._lock, contextlib.suppress(OSError, BrokenPipeError, EOFError):
                        conn.send(Cancel(job_id))
                try:
                    message = box.get(timeout=POLL_S)
                except queue.Empty:
                    continue
                if isinstance(message, JobEvent):
                    emit(message.event)
                elif isinstance(message, JobDone):
                    return message.result
                elif isinstance(message, JobFailed):
                    if message.user_error:
                        raise EngineJobError(message.message, message.exit_code)
                    raise EngineCrash(message.kind, message.message)
                elif isinstance(message, _Died):
                    raise EngineDied(message.how)
        finally:
            with self._lock:
                self._jobs.pop(job_id, None)


class InlineEngine:
    """The same jobs, run in this process on the calling thread (no isolation, no priority)."""

    kind = "inline"
    pid = None
    alive = True
    deaths = 0

    def __init__(self, on_status: Callable[[EngineStatus], None] | None = None) -> None:
        self.state = EngineState()
        self.on_status = on_status
        self.status: EngineStatus | None = None

    def start(self) -> None:
        pass

    def kill(self) -> None:
        pass

    def close(self) -> None:
        pass

    def run(self, job: Job, emit: Callable[[Any], None], cancel: threading.Event) -> Any:
        from .jobs import import_libraries
        from .serve import status

        try:
            import_libraries()
            return job.run(self.state, emit, cancel)
        finally:
            self.status = status(self.state)
            if self.on_status is not None:
                self.on_status(self.status)


def make_engine(kind: str, on_status: Callable[[EngineStatus], None] | None = None) -> ProcessEngine | InlineEngine:
    return InlineEngine(on_status) if kind == "inline" else ProcessEngine(on_status)
