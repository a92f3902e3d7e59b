"""How long `q` takes to end the app, in a real pseudo-terminal (80x24), as a user sees it.

    python bench/app_quit.py [--runs N] [--settle S]

Starts `llm-tui` (the app, no model loaded) N times, waits S seconds for the first screen, sends `q`, and
prints the time from the key to the process's exit, each run and the median. The goal (issue 11): under 1 s.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import pty
import select
import statistics
import struct
import sys
import termios
import time
from pathlib import Path

LLM_TUI = Path(sys.executable).with_name("llm-tui")


def _drain(fd: int, seconds: float) -> bool:
    """Read what the app draws for ``seconds``; False once the terminal is closed."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        ready, _, _ = select.select([fd], [], [], 0.02)
        if ready:
            try:
                if not os.read(fd, 65536):
                    return False
            except OSError:
                return False
    return True


def quit_once(settle: float) -> float:
    pid, fd = pty.fork()
    if pid == 0:  # the child: the app in an 80x24 terminal
        os.environ["TERM"] = "xterm-256color"
        os.execv(str(LLM_TUI), [str(LLM_TUI)])
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    _drain(fd, settle)
    os.write(fd, b"q")
    sent = time.monotonic()
    while True:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done:
            return time.monotonic() - sent
        _drain(fd, 0.01)
        if time.monotonic() - sent > 30:
            os.kill(pid, 9)
            raise SystemExit("the app did not exit within 30 s of `q`")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--settle", type=float, default=6.0, help="seconds for the first screen to come up")
    ns = p.parse_args()
    times = []
    for i in range(ns.runs):
        t = quit_once(ns.settle)
        times.append(t)
        print(f"run {i + 1}: q -> exit {t:.2f} s")
    print(f"median {statistics.median(times):.2f} s over {len(times)} runs (goal: under 1 s)")


if __name__ == "__main__":
    main()
