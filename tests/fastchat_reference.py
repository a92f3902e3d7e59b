"""FastChat's own `show_result.py`, from its PyPI wheel (fschat 0.2.36, sha256-pinned, no dependencies): the
reference the interop test runs on llm-tui's judgment files. Downloaded once into the cache; never imported."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import zipfile
from pathlib import Path

from core.locations import cache_dir

WHEEL = "fschat-0.2.36-py3-none-any.whl"
SHA256 = "a66ecf1e90f6db1d015096f6aa8a305d20d0a13e067951285aecdb56a33e9cb1"
MEMBER = "fastchat/llm_judge/show_result.py"


def show_result_script(into: Path) -> Path:
    folder = cache_dir(None) / "test-assets"
    wheel = folder / WHEEL
    if not wheel.exists() or hashlib.sha256(wheel.read_bytes()).hexdigest() != SHA256:
        folder.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "fschat==0.2.36", "--no-deps", "--only-binary",
                        ":all:", "-d", str(folder), "-q"], check=True)  # fmt: skip
    assert hashlib.sha256(wheel.read_bytes()).hexdigest() == SHA256, "fschat wheel does not match its sha256"
    script = into / "show_result.py"
    with zipfile.ZipFile(wheel) as z:
        script.write_bytes(z.read(MEMBER))
    return script


def run_show_result(script: Path, judgments: Path, mode: str) -> str:
    """Its printed tables (it needs pandas, which llm-tui's dependencies already bring)."""
    done = subprocess.run([sys.executable, str(script), "--mode", mode, "--input-file", str(judgments)],
                          capture_output=True, text=True, check=True)  # fmt: skip
    return done.stdout


def parse_means(text: str) -> dict[str, dict[str, float]]:
    """{"First turn"|"Second turn"|"Average": {model: mean}} from its single-mode tables."""
    out: dict[str, dict[str, float]] = {}
    section = None
    for line in text.splitlines():
        if line.startswith("##########"):
            section = line.strip("# ").strip()
            out[section] = {}
            continue
        parts = line.split()
        if section and len(parts) >= 2 and parts[0] not in ("model", "score", "Empty", "Columns:", "Index:"):
            try:
                out[section][parts[0]] = float(parts[-1])
            except ValueError:
                continue
    return out
