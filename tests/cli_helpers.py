"""Helpers for tests of the commands: a foreseeable error is one line on stderr, never a traceback."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path


def one_error_line(err: str) -> str:
    """The single `llm-tui: error: ...` line that stderr must hold (blank lines aside)."""
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith("llm-tui: error: ")
    return lines[0]


def kill_9_when_journal_has(proc: subprocess.Popen, journal: Path, lines: int, timeout: float = 300) -> int:
    """SIGKILL ``proc`` as soon as ``journal`` holds ``lines`` records (or the process ends); the lines then held."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if journal.exists() and journal.read_bytes().count(b"\n") >= lines:
            break
        try:
            proc.wait(timeout=0.02)  # wake up on the journal growing or the process ending
            break
        except subprocess.TimeoutExpired:
            pass
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    return journal.read_bytes().count(b"\n") if journal.exists() else 0
