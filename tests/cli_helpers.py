"""Helpers for tests of the commands: a foreseeable error is one line on stderr, never a traceback."""

from __future__ import annotations


def one_error_line(err: str) -> str:
    """The single `llm-tui: error: ...` line that stderr must hold (blank lines aside)."""
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith("llm-tui: error: ")
    return lines[0]
