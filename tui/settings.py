"""The app's settings: one typed object, from a JSON file plus environment overrides."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from core.locations import cache_dir

MAX_RECENT = 8
SETTINGS_VERSION = 2  # 1: runs_dir, cache_dir, recent_models; 2: + the last setup


@dataclass
class SetupMemory:
    """What the setup screen had when a run last started, offered again at the next launch."""

    model: str = ""
    tasks: list[str] = field(default_factory=list)
    subjects: list[str] = field(default_factory=list)
    limit: int | None = None
    shots: int | None = None
    dtype: str = "auto"
    quant: str = "none"
    backend: str = "transformers"
    base_url: str = ""

    @classmethod
    def from_dict(cls, data: object) -> SetupMemory:
        """Lenient: a field of the wrong type is dropped (settings are a convenience, never a reason to fail)."""
        if not isinstance(data, dict):
            return cls()
        out = cls()
        if isinstance(data.get("model"), str):
            out.model = data["model"]
        for key in ("tasks", "subjects"):
            value = data.get(key)
            if isinstance(value, list) and all(isinstance(v, str) for v in value):
                setattr(out, key, list(value))
        for key in ("limit", "shots"):
            value = data.get(key)
            if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
                setattr(out, key, value)
        for key in ("dtype", "quant", "backend", "base_url"):
            if isinstance(data.get(key), str):
                setattr(out, key, data[key])
        return out


def config_file() -> Path:
    """$LLM_TUI_CONFIG, else settings.json in the per-user config folder (~/.config/llm-tui on Linux)."""
    from core.locations import config_dir

    return Path(os.environ.get("LLM_TUI_CONFIG", config_dir() / "settings.json"))


@dataclass
class AppSettings:
    runs_dir: str = "runs"
    cache_dir: str | None = None
    recent_models: list[str] = field(default_factory=list)
    last_setup: SetupMemory | None = None
    path: str | None = None  # where these settings are saved; None: not saved (tests)
    saved_runs_dir: str | None = None  # the file's runs folder, kept when $LLM_TUI_RUNS_DIR overrides it

    @classmethod
    def load(cls, path: Path | None = None) -> AppSettings:
        path = path or config_file()
        data: dict = {}
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            data = {}
        if not isinstance(data, dict):
            data = {}
        settings = cls(
            runs_dir=str(data.get("runs_dir", "runs")),
            cache_dir=data.get("cache_dir"),
            recent_models=[str(m) for m in data.get("recent_models", [])][:MAX_RECENT],
            last_setup=SetupMemory.from_dict(data["last_setup"]) if "last_setup" in data else None,
            path=str(path),
        )
        settings.saved_runs_dir = settings.runs_dir
        settings.runs_dir = os.environ.get("LLM_TUI_RUNS_DIR", settings.runs_dir)
        return settings

    @property
    def cache(self) -> Path:
        return cache_dir(self.cache_dir)

    def remember_model(self, spec: str) -> None:
        self.recent_models = [spec] + [m for m in self.recent_models if m != spec]
        self.recent_models = self.recent_models[:MAX_RECENT]
        self.save()

    def remember_setup(self, memory: SetupMemory) -> None:
        self.last_setup = memory
        self.save()

    def save(self) -> None:
        if not self.path:
            return
        from core.errors import UserInputError
        from core.fsutil import atomic_write_json

        try:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            fields = {k: v for k, v in asdict(self).items() if k not in ("path", "saved_runs_dir")}
            if os.environ.get("LLM_TUI_RUNS_DIR") and self.saved_runs_dir is not None:
                fields["runs_dir"] = self.saved_runs_dir  # an override for this launch is not remembered
            saved = {"version": SETTINGS_VERSION, **fields}
            atomic_write_json(self.path, saved, "settings file")
        except (OSError, UserInputError):
            pass  # settings are a convenience; never fail a run over them
