"""`core` imports no UI package, and importing it is cheap (no torch), so the app can start fast."""

import pkgutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Every module of the engine, found on disk, so a new one is covered without editing this list.
CORE_MODULES = ["core"] + sorted(
    m.name for m in pkgutil.walk_packages([str(ROOT / "core")], prefix="core.") if not m.name.endswith("__main__")
)
UI = ("textual", "rich", "plotext", "textual_plotext")


def _loaded_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys; print('\\n'.join(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
    )
    return set(out.stdout.split())


def test_core_imports_no_ui_package():
    loaded = _loaded_after("\n".join(f"import {m}" for m in CORE_MODULES))
    leaked = sorted(m for m in loaded if m.split(".")[0] in UI)
    assert leaked == []


def test_core_evaluation_path_with_torch_imports_no_ui_package(tiny_model):
    # Running the real engine code path (torch, transformers) must not pull a UI package in either.
    code = f"""
from core.backends.hf import TransformersBackend
from core.models import load_model
from core.tasks import ChoiceRequest
m = load_model({str(tiny_model)!r}, device="cpu", dtype="float32")
b = TransformersBackend(m)
b.run([b.prepare(ChoiceRequest(("Question: star?\\nAnswer:",), (" A", " B moon")))])
"""
    loaded = _loaded_after(code)
    assert "torch" in loaded
    assert sorted(m for m in loaded if m.split(".")[0] in UI) == []


def test_importing_core_does_not_import_torch():
    loaded = _loaded_after("import core, core.evaluate, core.config, core.runs, core.tasks, core.schema")
    assert "torch" not in loaded
