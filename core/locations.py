"""Where llm-tui keeps things: the asset/model cache and the runs folder."""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "LLM_TUI_CACHE"


APP = "llm-tui"


def cache_dir(override: str | os.PathLike[str] | None = None) -> Path:
    """The cache folder: ``override``, else $LLM_TUI_CACHE, else the per-user cache folder (platformdirs:
    $XDG_CACHE_HOME/llm-tui or ~/.cache/llm-tui on Linux, ~/Library/Caches/llm-tui on macOS)."""
    if override:
        return Path(override).expanduser()
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    from platformdirs import user_cache_path

    return user_cache_path(APP, appauthor=False)


def data_dir() -> Path:
    """Per-user data (saved chats): $XDG_DATA_HOME/llm-tui or ~/.local/share/llm-tui on Linux."""
    from platformdirs import user_data_path

    return user_data_path(APP, appauthor=False)


def config_dir() -> Path:
    """Per-user settings: $XDG_CONFIG_HOME/llm-tui or ~/.config/llm-tui on Linux."""
    from platformdirs import user_config_path

    return user_config_path(APP, appauthor=False)


def assets_dir(cache: Path) -> Path:
    return cache / "assets"


def converted_models_dir(cache: Path) -> Path:
    return cache / "models"


def default_runs_dir() -> Path:
    return Path("runs")
