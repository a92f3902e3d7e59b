"""`core` imports no UI package, and importing it is cheap (no torch), so the app can start fast."""

import subprocess
import sys

CORE_MODULES = [
    "core",
    "core.assets",
    "core.config",
    "core.devices",
    "core.errors",
    "core.evaluate",
    "core.events",
    "core.locations",
    "core.models",
    "core.runs",
    "core.sysinfo",
    "core.timing",
    "core.mmlu.data",
    "core.mmlu.prompts",
    "core.mmlu.scoring",
    "core.mmlu.subjects",
    "core.analysis",
    "core.analysis.configs",
    "core.analysis.load",
    "core.analysis.mistakes",
    "core.analysis.stats",
    "core.report",
    "core.report.charts",
    "core.report.markdown",
    "core.report.text",
    "core.chat",
    "core.chat.commands",
    "core.chat.context",
    "core.chat.conversation",
    "core.chat.events",
    "core.chat.generation",
    "core.chat.headless",
    "core.chat.messages",
    "core.chat.script",
    "core.chat.session",
    "core.chat.settings",
    "core.chat.store",
    "core.chat.template",
]
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
from core.models import load_model
from core.mmlu.scoring import LetterScorer
m = load_model({str(tiny_model)!r}, device="cpu", dtype="float32")
LetterScorer(m.model, m.tokenizer, "cpu").score([[5, 6, 7]])
"""
    loaded = _loaded_after(code)
    assert "torch" in loaded
    assert sorted(m for m in loaded if m.split(".")[0] in UI) == []


def test_importing_core_does_not_import_torch():
    loaded = _loaded_after("import core, core.evaluate, core.config, core.runs")
    assert "torch" not in loaded
