"""Helpers for tests of the commands: a foreseeable error is one line on stderr, never a traceback."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path


def one_error_line(err: str) -> str:
    """The single `llm-tui: error: ...` line that stderr must hold (blank lines aside)."""
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith("llm-tui: error: ")
    return lines[0]


def wait_for_journal(proc: subprocess.Popen, journal: Path, lines: int, timeout: float = 300) -> None:
    """Return once ``journal`` holds ``lines`` records, or ``proc`` (the process writing it) has ended."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if journal.exists() and journal.read_bytes().count(b"\n") >= lines:
            return
        try:
            proc.wait(timeout=0.02)  # wake up on the journal growing or the process ending
            return
        except subprocess.TimeoutExpired:
            pass


def wait_for_output(proc: subprocess.Popen, marker: str, timeout: float, log: Path | None = None) -> bool:
    """Read ``proc``'s output (a text pipe) until a line holds ``marker``: True, or False when the process ended or
    ``timeout`` passed first. The rest of its output keeps being read (into ``log``), so the pipe never fills."""
    seen = threading.Event()

    def pump() -> None:
        assert proc.stdout is not None
        sink = log.open("a") if log is not None else None
        try:
            for line in proc.stdout:
                if sink is not None:
                    sink.write(line)
                    sink.flush()
                if marker in line:
                    seen.set()
        finally:
            if sink is not None:
                sink.close()
            seen.set()  # the process ended: whoever waits wakes up and finds it gone

    threading.Thread(target=pump, daemon=True).start()
    return seen.wait(timeout) and proc.poll() is None


def kill_9_when_journal_has(proc: subprocess.Popen, journal: Path, lines: int, timeout: float = 300) -> int:
    """SIGKILL ``proc`` as soon as ``journal`` holds ``lines`` records (or the process ends); the lines then held."""
    wait_for_journal(proc, journal, lines, timeout)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    return journal.read_bytes().count(b"\n") if journal.exists() else 0
