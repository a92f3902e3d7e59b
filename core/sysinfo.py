"""Software versions and machine facts recorded with every run (no host names, no tokens)."""

from __future__ import annotations

import os
import platform
from importlib import metadata
from typing import Any

from . import __version__
from .devices import cpu_name


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def software_versions() -> dict[str, Any]:
    return {
        "llm_tui": __version__,
        "python": platform.python_version(),
        **{name: _version(name) for name in ("torch", "transformers", "gguf", "bitsandbytes", "accelerate")},
    }


def machine_info(device: str) -> dict[str, Any]:
    import psutil

    info: dict[str, Any] = {
        "platform": platform.platform(),
        "cpu": cpu_name(),
        "cpu_count": os.cpu_count(),
        "memory_bytes": psutil.virtual_memory().total,
        "device": device,
        "gpu": None,
    }
    if device.startswith("cuda"):
        import torch

        props = torch.cuda.get_device_properties(torch.device(device))
        info["gpu"] = {"name": props.name, "memory_bytes": props.total_memory, "cuda": torch.version.cuda}
    return info
