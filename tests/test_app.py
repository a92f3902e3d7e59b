"""Pilot tests: drive the app with keys, assert on its state and on the engine's events."""

from __future__ import annotations

import json
import threading

import pytest
from app_helpers import ProbeApp, settings, wait_until
from textual.widgets import DataTable, Input

from core.events import QuestionScored, RunCancelled, RunFinished
from core.backends.hf import TransformersBackend
from tui.screens.dialogs import ErrorDialog, HelpScreen, QuestionDetail
from tui.screens.live import LiveScreen
from tui.screens.results import ResultsScreen
from tui.screens.run_detail import RunDetailScreen
from tui.screens.setup import SetupScreen


async def _pick_only(pilot, subject: str) -> None:
    """Keys only: clear the subject selection, search for one subject and tick it."""
    await pilot.press("ctrl+n")  # all
    await pilot.press("ctrl+n")  # none
    setup = pilot.app.screen
    setup.query_one("#subject-search", Input).focus()
    await pilot.press(*subject)
    await pilot.press("tab", "space")  # to the list, where the first match is highlighted; tick it
    await pilot.pause()
    assert setup.selected == {subject}


async def _type_into(pilot, selector: str, text: str) -> None:
    widget = pilot.app.screen.query_one(selector, Input)
    widget.focus()
    widget.value = ""
    await pilot.press(*text) if len(text) < 40 else setattr(widget, "value", text)


async def test_screens_reachable_by_keys_and_help_lists_bindings(tmp_path):
    app = ProbeApp(settings=settings(str(tmp_path)))
    async with app.run_test(size=(80, 24)) as pilot:
        assert isinstance(app.screen, SetupScreen)
        await pilot.press("f3")
        assert isinstance(app.screen, LiveScreen)
        await pilot.press("f4")
        assert isinstance(app.screen, ResultsScreen)
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape", "f2")
        assert isinstance(app.screen, SetupScreen)
        app.screen.query_one("#model-input", Input).focus()
        await pilot.press("q")  # a text input has focus: q is typed, not quit
        assert app.is_running and app.screen.query_one("#model-input", Input).value.endswith("q")
        await pilot.press("ctrl+q")
    assert not app.is_running


async def test_evaluate_tiny_model_from_setup_to_results(tmp_path, tiny_model, mmlu_file):
    runs = tmp_path / "runs"
    app = ProbeApp(settings=settings(str(runs)))
    async with app.run_test(size=(100, 30)) as pilot:
        await _type_into(pilot, "#model-input", str(tiny_model))
        await _type_into(pilot, "#data", str(mmlu_file))
        await _type_into(pilot, "#limit", "5")
        await _pick_only(pilot, "virology")
        await pilot.press("ctrl+r")
        assert isinstance(app.screen, LiveScreen)
        await wait_until(pilot, lambda: any(isinstance(e, RunFinished) for e in app.engine_events))
        live = app.screen
        assert sum(isinstance(e, QuestionScored) for e in app.engine_events) == 5
        table = live.query_one("#subject-table", DataTable)
        assert table.get_cell("virology", "done") == "5/5"
        assert "finished" in str(live.query_one("#run-title").render())
        await pilot.press("f4")
        results = app.screen
        assert isinstance(results, ResultsScreen)
        assert len(results.rows) == 1 and results.rows[0]["questions"] == 5
        await pilot.press("enter")
        assert isinstance(app.screen, RunDetailScreen)
        await pilot.press("escape")
        await pilot.press("ctrl+q")


async def test_cancel_mid_run_then_resume_from_results(tmp_path, tiny_model, mmlu_file, monkeypatch):
    gate = threading.Semaphore(0)  # the test lets the engine score one batch at a time
    original = TransformersBackend.run

    def gated(self, batch, cancel=None):
        gate.acquire()
        return original(self, batch, cancel)

    monkeypatch.setattr(TransformersBackend, "run", gated)
    runs = tmp_path / "runs"
    app = ProbeApp(settings=settings(str(runs)))
    async with app.run_test(size=(100, 30)) as pilot:
        await _type_into(pilot, "#model-input", str(tiny_model))
        await _type_into(pilot, "#data", str(mmlu_file))
        await pilot.press("ctrl+r")  # default subjects are astronomy + business_ethics: not in this file
        await wait_until(pilot, lambda: isinstance(app.screen, ErrorDialog))
        assert "business_ethics" in app.screen.message
        await pilot.press("enter")
        assert isinstance(app.screen, SetupScreen)
        await pilot.press("ctrl+n")  # every subject: astronomy (13), anatomy (9), virology (6) are in the file
        setup = app.screen
        setup.selected = {"astronomy", "anatomy", "virology"}
        setup._fill_subjects()
        await pilot.press("ctrl+r")
        gate.release()  # one batch (16 questions: astronomy is 13, so its only batch)
        await wait_until(pilot, lambda: any(isinstance(e, QuestionScored) for e in app.engine_events))
        await pilot.press("escape")  # cancel while the engine waits for the next batch
        gate.release()
        await wait_until(pilot, lambda: any(isinstance(e, RunCancelled) for e in app.engine_events))
        cancelled = next(e for e in app.engine_events if isinstance(e, RunCancelled))
        assert 0 < cancelled.done < 28
        await wait_until(pilot, lambda: not app.get_screen("live").running)
        for _ in range(10):
            gate.release()
        await pilot.press("f4")
        results = app.screen
        assert results.rows[0]["status"] == "cancelled"
        await pilot.press("u")
        await wait_until(pilot, lambda: any(isinstance(e, RunFinished) for e in app.engine_events))
        finished = next(e for e in app.engine_events if isinstance(e, RunFinished))
        assert finished.results["accuracy"]["answered"] == 28
        lines = (runs / finished.run_dir.split("/")[-1] / "questions.jsonl").read_text().splitlines()
        keys = [(json.loads(x)["subject"], json.loads(x)["index"]) for x in lines]
        assert len(keys) == len(set(keys)) == 28


async def test_model_that_fails_to_load_shows_a_dialog_and_returns_to_setup(tmp_path):
    app = ProbeApp(settings=settings(str(tmp_path)))
    async with app.run_test(size=(80, 24)) as pilot:
        await _type_into(pilot, "#model-input", str(tmp_path / "missing.gguf"))
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: isinstance(app.screen, ErrorDialog))
        assert "model file not found" in app.screen.message
        await pilot.press("escape")
        assert isinstance(app.screen, SetupScreen)


async def test_results_sort_mark_compare_and_question_filter():
    from tui.screens.compare import CompareScreen

    app = ProbeApp(settings=settings("tests/data/runs"))
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("f4")
        results = app.screen
        assert [r["model"] for r in results.rows][:1] == ["smollm2-135m-instruct"]  # newest first (run-c)
        table = results.query_one("#runs", DataTable)
        table.move_cursor(column=7)  # accuracy
        await pilot.press("s")
        accs = [r["accuracy"] for r in results.rows]
        assert accs == sorted(accs, reverse=True)
        await pilot.press("space", "down", "space", "c")
        assert isinstance(app.screen, CompareScreen)
        await pilot.press("escape")
        await pilot.press("enter")
        detail = app.screen
        assert isinstance(detail, RunDetailScreen)
        questions = detail.query_one("#questions", DataTable)
        assert questions.row_count == 26
        await pilot.press("w")
        wrong = sum(1 for r in detail.records if not r["correct"])
        assert questions.row_count == wrong
        detail.query_one("#detail-tabs").active = "tab-questions"
        questions.focus()
        await pilot.press("enter")
        assert isinstance(app.screen, QuestionDetail)


async def test_setup_offers_only_what_can_run_here(tmp_path):
    from core.devices import DeviceInfo

    gpu = DeviceInfo("cuda", "NVIDIA Test GPU", 16 * 2**30, False)
    app = ProbeApp(settings=settings(str(tmp_path)), devices=[gpu, DeviceInfo("cpu", "Test CPU", 2**33, False)])
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        setup = app.screen
        assert setup.selected_device == "cuda"
        bf16 = next(b for b in setup.query("#dtype RadioButton") if b.name == "bfloat16")
        assert bf16.disabled  # this GPU has no bf16
        assert "no bf16" in str(setup.query_one("#quant-note").render())
        configs = setup.build_configs()
        assert configs[0].device == "cuda" and configs[0].subjects == "astronomy,business_ethics"


@pytest.mark.slow
async def test_real_smollm2_a_few_questions(tmp_path):
    runs = tmp_path / "runs"
    app = ProbeApp(settings=settings(str(runs)))
    async with app.run_test(size=(100, 30)) as pilot:
        await _type_into(pilot, "#limit", "3")
        await _pick_only(pilot, "astronomy")
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: any(isinstance(e, RunFinished) for e in app.engine_events), timeout=300)
        scored = [e for e in app.engine_events if isinstance(e, QuestionScored)]
        assert len(scored) == 3 and all(e.record["subject"] == "astronomy" for e in scored)
        assert "loaded smollm2-135m-instruct" in "\n".join(str(x) for x in app.screen.query_one("#log").lines)


async def test_compare_view_analyses_mistakes_and_exports_a_report(tmp_path, monkeypatch):
    from tui.screens.compare import CompareScreen

    monkeypatch.chdir(tmp_path)
    import shutil
    from pathlib import Path

    shutil.copytree(Path(__file__).parent / "data" / "runs", tmp_path / "runs")
    app = ProbeApp(settings=settings("runs"))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("f4", "space", "down", "space", "c")
        compare = app.screen
        assert isinstance(compare, CompareScreen)
        await wait_until(pilot, lambda: compare.analysis is not None)
        assert compare.analysis.questions == 26 and len(compare.analysis.pairs) == 1
        assert 0 <= compare.analysis.overlap.p_value <= 1
        await pilot.press("e")
        await wait_until(pilot, lambda: any((tmp_path / "reports").glob("*/report.pdf")), timeout=120)
        report_dir = next((tmp_path / "reports").glob("*"))
        await wait_until(pilot, lambda: (report_dir / "report.md").exists(), timeout=120)


async def test_a_data_file_brings_its_own_subjects_to_the_setup_list(tmp_path):
    from textual.widgets import SelectionList

    from tui.screens.setup import OTHER

    rows = [
        {"question": f"{subject} {i}?", "subject": subject, "choices": ["a", "b", "c", "d"], "answer": i % 4}
        for subject, n in (("astronomy", 3), ("folk_tales", 5))
        for i in range(n)
    ]
    data = tmp_path / "mine.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    app = ProbeApp(settings=settings(str(tmp_path / "runs")))
    async with app.run_test(size=(100, 30)) as pilot:
        setup = app.screen
        assert setup.selected == {"astronomy", "business_ethics"}  # the defaults, from the bundled list
        await _type_into(pilot, "#data", str(data))
        await pilot.press("enter")
        await wait_until(pilot, lambda: OTHER in setup.groups)
        widget = setup.query_one("#subjects", SelectionList)
        listed = {str(widget.get_option_at_index(i).value) for i in range(widget.option_count)}
        assert listed == {"cat:stem", "astronomy", f"cat:{OTHER}", "folk_tales"}
        assert setup.selected == {"astronomy"}  # what the file does not hold is dropped from the selection
        assert "1 subject selected, 3 questions" in str(setup.query_one("#subject-summary").render())
        await _pick_only(pilot, "folk_tales")
        assert setup.build_configs()[0].subjects == "folk_tales"

        await _type_into(pilot, "#data", str(tmp_path / "missing.jsonl"))
        await pilot.press("enter")
        await wait_until(pilot, lambda: "data file not found" in str(setup.query_one("#subject-summary").render()))
        assert OTHER not in setup.groups and "anatomy" in setup.groups["stem"]  # back to MMLU's list

        await _type_into(pilot, "#data", "bundled")
        await pilot.press("enter")
        await wait_until(pilot, lambda: "selected" in str(setup.query_one("#subject-summary").render()))
        assert setup.data_spec == "" and setup.groups["stem"][0] == "abstract_algebra"
        await pilot.press("ctrl+q")


async def test_resize_to_80x24_and_back_and_a_bad_data_file(tmp_path):
    app = ProbeApp(settings=settings("tests/data/runs"))
    async with app.run_test(size=(140, 45)) as pilot:
        for mode in ("f2", "f3", "f4"):
            await pilot.press(mode)
            await pilot.resize_terminal(80, 24)
            await pilot.pause()
            assert app.screen.size == (80, 24)
            await pilot.resize_terminal(140, 45)
            await pilot.pause()
        await pilot.press("f2")
        bad = tmp_path / "bad.jsonl"
        bad.write_text("not json\n")
        await _type_into(pilot, "#data", str(bad))
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: isinstance(app.screen, ErrorDialog))
        assert "bad.jsonl line 1 is not valid JSON" in app.screen.message


async def test_quit_during_a_run_stops_the_worker(tmp_path, tiny_model, mmlu_file, monkeypatch):
    gate = threading.Semaphore(0)
    original = TransformersBackend.run

    def gated(self, batch, cancel=None):
        gate.acquire()
        return original(self, batch, cancel)

    monkeypatch.setattr(TransformersBackend, "run", gated)
    app = ProbeApp(settings=settings(str(tmp_path / "runs")))
    async with app.run_test(size=(100, 30)) as pilot:
        await _type_into(pilot, "#model-input", str(tiny_model))
        await _type_into(pilot, "#data", str(mmlu_file))
        await _pick_only(pilot, "astronomy")
        await pilot.press("ctrl+r")
        live = app.get_screen("live")
        await wait_until(pilot, lambda: any(type(e).__name__ == "SubjectStarted" for e in app.engine_events))
        await pilot.press("q")
        assert live.cancel.is_set()
    gate.release()  # the batch in flight finishes, then the worker sees the cancel and stops
    for worker in list(app.workers):
        worker.cancel()
    assert not app.is_running
