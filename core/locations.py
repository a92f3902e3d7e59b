"""Where llm-tui keeps things: the asset/model cache and the runs folder."""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "LLM_TUI_CACHE"


def cache_dir(override: str | os.PathLike[str] | None = None) -> Path:
    """The cache folder: ``override``, else $LLM_TUI_CACHE, else $XDG_CACHE_HOME/llm-tui or ~/.cache/llm-tui."""
    if override:
        return Path(override).expanduser()
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "llm-tui"


def assets_dir(cache: Path) -> Path:
    return cache / "assets"


def converted_models_dir(cache: Path) -> Path:
    return cache / "models"


def default_runs_dir() -> Path:
    return Path("runs")
