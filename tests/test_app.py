"""Pilot tests: drive the app with keys, assert on its state and on the engine's events."""

from __future__ import annotations

import json
import os
import shutil
import threading
from pathlib import Path

import pytest
from app_helpers import ProbeApp, settings, wait_until, write_run
from textual.widgets import DataTable, Input
from textual.widgets.data_table import ColumnKey

from core.backends.hf import TransformersBackend
from core.events import DocScored, RunCancelled, RunFinished, SubsetStarted
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


async def test_the_setup_form_fits_100x30_without_scrolling(tmp_path):
    """Issue 11, item 7: at 100x30 the form scrolled, hiding the "Model" heading and the queue."""
    from textual.containers import VerticalScroll

    app = ProbeApp(settings=settings(str(tmp_path)))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        left = app.screen.query_one("#setup-left", VerticalScroll)
        assert left.max_scroll_y == 0  # everything fits: nothing scrolled out of sight
        for selector in ("#models", "#model-input", "#limit", "#output", "#queue"):
            widget = app.screen.query_one(selector)
            assert left.region.contains_region(widget.region), selector


async def test_subject_search_keys_pick_and_tick_without_leaving_the_box(tmp_path):
    """Issue 11, item 8: in the search box Down moved the highlight but Enter did nothing."""
    app = ProbeApp(settings=settings(str(tmp_path)))
    async with app.run_test(size=(80, 24)) as pilot:
        setup = app.screen
        await pilot.press("ctrl+n", "ctrl+n")  # all, then none
        assert setup.selected == set()
        await pilot.press("ctrl+f", *"high_school_")
        await pilot.press("enter")  # the first match, ticked
        first = set(setup.selected)
        assert len(first) == 1 and next(iter(first)).startswith("high_school_")
        await pilot.press("down", "enter")  # the next match, ticked too; the box keeps the focus and the text
        assert len(setup.selected) == 2 and first < setup.selected
        search = setup.query_one("#subject-search", Input)
        assert setup.focused is search and search.value == "high_school_"
        await pilot.press("up", "enter")  # back to the first: unticked
        assert len(setup.selected) == 1 and not first & setup.selected


async def test_a_run_is_deleted_from_the_results_screen_after_confirming(tmp_path, monkeypatch):
    from tui.screens.dialogs import ConfirmDialog

    monkeypatch.chdir(tmp_path)
    shutil.copytree(Path(__file__).parent / "data" / "runs", tmp_path / "runs")
    app = ProbeApp(settings=settings("runs"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f4")
        results = app.screen
        first = results.rows[0]["dir"]
        await pilot.press("d")
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("n")  # declined: nothing happens
        assert len(results.rows) == 3 and Path(first, "results.json").exists()
        await pilot.press("d")
        await pilot.press("y")
        await wait_until(pilot, lambda: len(results.rows) == 2)
        assert not Path(first).exists() and first not in [r["dir"] for r in results.rows]


async def test_a_run_is_renamed_from_the_results_screen(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shutil.copytree(Path(__file__).parent / "data" / "runs", tmp_path / "runs")
    app = ProbeApp(settings=settings("runs"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f4")
        results = app.screen
        first = Path(results.rows[0]["dir"])
        await pilot.press("r")
        box = app.screen.query_one("#dialog-input", Input)
        assert box.value == first.name
        box.value = ""
        await pilot.press(*"smollm2-4bit", "enter")
        await wait_until(pilot, lambda: any(r["dir"].endswith("smollm2-4bit") for r in results.rows))
        assert not first.exists() and (first.parent / "smollm2-4bit" / "results.json").exists()
        await pilot.press("r")
        app.screen.query_one("#dialog-input", Input).value = "run-b"  # taken: refused, nothing changes
        await pilot.press("enter")
        assert (first.parent / "run-b").exists() and len(results.rows) == 3


async def test_the_command_palette_offers_the_apps_own_commands(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shutil.copytree(Path(__file__).parent / "data" / "runs", tmp_path / "runs")
    app = ProbeApp(settings=settings("runs"))
    async with app.run_test(size=(80, 24)) as pilot:
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert {"Start run", "Queue model", "Go to Results", "Go to Chat"} <= set(titles)
        assert titles.index("Start run") < titles.index("Quit")  # ours first, Textual's after
        await pilot.press("ctrl+p", *"Go to Results")

        def offered() -> bool:  # the palette lists its matches as they are found
            from textual.widgets import OptionList

            lists = list(app.screen.query(OptionList))
            return bool(lists) and lists[0].option_count > 0 and lists[0].highlighted is not None

        await wait_until(pilot, offered)
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ResultsScreen))
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert {"Open run", "Compare marked runs", "Delete run", "Resume run"} <= set(titles)


async def test_the_last_setup_comes_back_at_the_next_launch_and_recent_holds_only_models_that_loaded(tmp_path):
    from tui.screens.dialogs import ErrorDialog as Dialog
    from tui.settings import AppSettings

    path = tmp_path / "settings.json"
    first = AppSettings(runs_dir=str(tmp_path / "runs"), path=str(path))
    bad = str(tmp_path / "no-such-model")
    app = ProbeApp(settings=first)
    async with app.run_test(size=(100, 30)) as pilot:
        setup = app.screen
        await _type_into(pilot, "#model-input", bad)
        await pilot.press("ctrl+k", "down", "space")  # arc_challenge too
        await _type_into(pilot, "#limit", "7")
        await pick_subjects(pilot, setup, {"anatomy", "virology"})
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: isinstance(app.screen, Dialog))  # the path does not exist
    saved = AppSettings.load(path)
    assert bad not in saved.recent_models  # a path that never loaded is not "recent"
    app = ProbeApp(settings=saved)
    async with app.run_test(size=(100, 30)) as pilot:
        setup = app.screen
        assert setup.query_one("#model-input", Input).value == bad
        assert setup.tasks_selected == {"mmlu", "arc_challenge"}
        assert setup.selected == {"anatomy", "virology"}
        assert setup.query_one("#limit", Input).value == "7"


async def pick_subjects(pilot, setup, subjects: set[str]) -> None:
    setup.selected = set(subjects)
    setup._fill_subjects()
    await pilot.pause()


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
    app = ProbeApp(settings=settings(str(runs)), engine="process")  # the real thing: a child process
    async with app.run_test(size=(100, 30)) as pilot:
        await _type_into(pilot, "#model-input", str(tiny_model))
        await _type_into(pilot, "#data", str(mmlu_file))
        await _type_into(pilot, "#limit", "5")
        await _pick_only(pilot, "virology")
        await pilot.press("ctrl+r")
        assert isinstance(app.screen, LiveScreen)
        await pilot.pause()
        assert "No run yet" not in str(app.screen.query_one("#run-title").render())  # never flashes after ctrl+r
        await wait_until(pilot, lambda: any(isinstance(e, RunFinished) for e in app.engine_events))
        live = app.screen
        assert sum(isinstance(e, DocScored) for e in app.engine_events) == 5
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
        # the chat uses the evaluation's copy of the model, and says so (no second load)
        await wait_until(pilot, lambda: app.engine_status is not None and app.engine_status.model is not None)
        pid = app.engine.pid
        assert pid is not None and pid != os.getpid() and app.engine_status.loads == 1
        await pilot.press("f5")
        chat = app.screen
        box = chat.query_one("#chat-input", Input)
        box.value = "/help"
        await pilot.press("enter")
        await wait_until(pilot, lambda: chat.view is not None and app.engine_status.sessions == 1)
        assert app.engine.pid == pid and app.engine_status.loads == 1  # the same engine, no second load
        notes = " ".join(str(w.render()) for w in chat.query(".chat-note"))
        assert "already loaded (the evaluation's copy)" in notes and "loading " not in notes
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
        await wait_until(pilot, lambda: any(isinstance(e, DocScored) for e in app.engine_events))
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
        assert finished.results.accuracy.answered == 28
        lines = (runs / finished.run_dir.split("/")[-1] / "questions.jsonl").read_text().splitlines()
        keys = [(json.loads(x)["subset"], json.loads(x)["doc_id"]) for x in lines]
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
        table.move_cursor(column=3)  # score (the primary metric)
        await pilot.press("s")
        accs = [r["accuracy"] for r in results.rows]
        assert accs == sorted(accs, reverse=True)
        hint = str(results.query_one("#runs-hint").render())
        assert "sorted by score (descending)" in hint and hint.startswith("3 runs")
        assert str(table.columns[ColumnKey("accuracy")].label) == "score ▼"
        assert str(table.columns[ColumnKey("date")].label) == "date"  # the arrow moved with the sort
        table.move_cursor(column=0)  # the mark column sorts the marked runs first, not by an internal name
        await pilot.press("space", "s")
        assert "sorted by marked first" in str(results.query_one("#runs-hint").render())
        assert results.rows[0]["dir"] in results.marked
        await pilot.press("space")  # unmark again
        table.move_cursor(row=0)
        await pilot.press("space", "down", "space", "c")
        assert isinstance(app.screen, CompareScreen)
        await pilot.press("escape")
        await pilot.press("enter")
        detail = app.screen
        assert isinstance(detail, RunDetailScreen)
        questions = detail.query_one("#questions", DataTable)
        assert questions.row_count == 26
        await pilot.press("w")
        wrong = sum(1 for r in detail.records if not r.correct)
        assert questions.row_count == wrong
        # keys only: enter goes to the documents (not into row 1 blindly), down moves, enter opens that one
        await pilot.press("enter")
        assert detail.query_one("#detail-tabs").active == "tab-questions" and detail.focused is questions
        await pilot.press("down", "enter")
        shown = app.screen
        assert isinstance(shown, QuestionDetail)
        wrong_ones = [r for r in detail.records if not r.correct]
        assert shown.record is wrong_ones[1] and len(shown.records) == wrong
        await pilot.press("n")  # next and previous, within the rows shown (wrong only)
        assert shown.record is wrong_ones[2] and "3 of" in str(shown.query_one("#question-text").render())
        await pilot.press("p", "p")
        assert shown.record is wrong_ones[0]
        await pilot.press("p")  # nothing before the first: it stays
        assert shown.record is wrong_ones[0]
        await pilot.press("escape")
        assert app.screen is detail
        # "/" finds: every word typed must appear in the document, its subset or its answer
        subset = wrong_ones[0].subset
        await pilot.press("slash", *subset)
        expected = [r for r in wrong_ones if subset in r.subset or subset in r.question.lower()]
        assert questions.row_count == len(expected) < wrong
        await pilot.press("enter", "enter")  # to the table, then open the first match
        assert isinstance(app.screen, QuestionDetail) and app.screen.record is expected[0]


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
        assert configs[0].device == "cuda" and configs[0].subsets == "astronomy,business_ethics"
        assert configs[0].task == "mmlu" and configs[0].shots is None  # empty shots: the task's default


@pytest.mark.slow
async def test_real_smollm2_a_few_questions(tmp_path):
    runs = tmp_path / "runs"
    app = ProbeApp(settings=settings(str(runs)))
    async with app.run_test(size=(100, 30)) as pilot:
        await _type_into(pilot, "#limit", "3")
        await _pick_only(pilot, "astronomy")
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: any(isinstance(e, RunFinished) for e in app.engine_events), timeout=300)
        scored = [e for e in app.engine_events if isinstance(e, DocScored)]
        assert len(scored) == 3 and all(e.record.subset == "astronomy" for e in scored)
        assert "loaded smollm2-135m-instruct" in "\n".join(str(x) for x in app.screen.query_one("#log").lines)


async def test_compare_view_analyses_mistakes_and_exports_a_report(tmp_path, monkeypatch):
    from tui.screens.compare import CompareScreen

    monkeypatch.chdir(tmp_path)
    shutil.copytree(Path(__file__).parent / "data" / "runs", tmp_path / "runs")
    app = ProbeApp(settings=settings("runs"))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("f4", "space", "down", "space", "c")
        compare = app.screen
        assert isinstance(compare, CompareScreen)
        await wait_until(pilot, lambda: compare.analysis is not None)
        assert compare.analysis.questions == 26 and len(compare.analysis.pairs) == 1
        assert 0 <= compare.analysis.overlap.p_value <= 1
        from core.analysis import analyse, load_runs

        # the same test as `llm-tui report` (permutations and seed): one p-value in the app and in the report
        same = analyse(load_runs(compare.run_dirs))
        assert compare.analysis.overlap.p_value == same.overlap.p_value
        assert not compare.query_one("#compare-task").display  # runs of one task and one size: no note
        await pilot.press("e")
        await wait_until(pilot, lambda: any((tmp_path / "reports").glob("*/report.pdf")), timeout=120)
        report_dir = next((tmp_path / "reports").glob("*"))
        await wait_until(pilot, lambda: (report_dir / "report.md").exists(), timeout=120)


async def test_compare_says_when_runs_answered_different_documents(tmp_path, monkeypatch):
    from tui.screens.compare import CompareScreen

    monkeypatch.chdir(tmp_path)
    shutil.copytree(Path(__file__).parent / "data" / "runs", tmp_path / "runs")
    short = tmp_path / "runs" / "run-b" / "questions.jsonl"
    short.write_text("".join(short.read_text().splitlines(keepends=True)[:20]))
    results = json.loads((tmp_path / "runs" / "run-b" / "results.json").read_text())
    results["accuracy"]["answered"] = 20
    (tmp_path / "runs" / "run-b" / "results.json").write_text(json.dumps(results))
    app = ProbeApp(settings=settings("runs"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f4", "space", "down", "space", "c")
        compare = app.screen
        assert isinstance(compare, CompareScreen)
        await wait_until(pilot, lambda: compare.analysis is not None)
        assert compare.analysis.questions == 20
        note = compare.query_one("#compare-task")
        assert note.display and "different sizes (20, 26 documents)" in str(note.render())


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
        assert setup.build_configs()[0].subsets == "folk_tales"

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


@pytest.mark.parametrize("how", ["q", "SIGTERM", "SIGHUP"])
async def test_quit_or_a_signal_during_a_run_stops_after_the_batch_and_saves(
    tmp_path, tiny_model, mmlu_file, monkeypatch, how
):
    import os
    import signal

    gate = threading.Semaphore(0)
    original = TransformersBackend.run

    def gated(self, batch, cancel=None):
        gate.acquire()
        return original(self, batch, cancel)

    monkeypatch.setattr(TransformersBackend, "run", gated)
    runs = tmp_path / "runs"
    app = ProbeApp(settings=settings(str(runs)), handle_signals=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await _type_into(pilot, "#model-input", str(tiny_model))
        await _type_into(pilot, "#data", str(mmlu_file))
        setup = app.screen
        setup.selected = {"astronomy", "anatomy", "virology"}  # 28 questions: astronomy's 13 are the first batch
        setup._fill_subjects()
        await pilot.press("ctrl+r")
        live = app.get_screen("live")
        await wait_until(pilot, lambda: any(isinstance(e, SubsetStarted) for e in app.engine_events))
        if how == "q":
            await pilot.press("q")
        else:
            os.kill(os.getpid(), getattr(signal, how))  # what kill, systemd or a closed SSH session send
            await wait_until(pilot, lambda: live.cancel.is_set())
        assert live.cancel.is_set() and app.is_running  # still up: the batch in flight is being finished
        await wait_until(pilot, lambda: any(w.group == "quit" for w in app.workers))
        (quitting,) = [w for w in app.workers if w.group == "quit"]
        gate.release()  # the batch finishes, the worker sees the cancel, saves, and the app exits
        await quitting.wait()
    (run,) = [p.parent for p in runs.rglob("results.json")]
    results = json.loads((run / "results.json").read_text())
    assert results["status"] == "cancelled"
    assert results["accuracy"]["answered"] == len((run / "questions.jsonl").read_text().splitlines()) > 0


def _rendered(widget) -> str:
    """What a Static shows, as plain text (rich tables included)."""
    import io

    from rich.console import Console

    content = widget.content
    if isinstance(content, str):
        return str(widget.render())
    console = Console(file=io.StringIO(), width=200, record=True)
    console.print(content)
    return console.export_text()


async def _tick_only_task(pilot, name: str) -> None:
    """Keys only: go to the task list, untick what is ticked, tick ``name``."""
    setup = pilot.app.screen
    await pilot.press("ctrl+k")
    names = [r.name for r in setup.tasks]
    for i, row in enumerate(names):
        if (row in setup.tasks_selected) != (row == name):
            setup.query_one("#tasks").highlighted = i
            await pilot.press("space")
    await pilot.pause()
    assert setup.chosen_tasks == [name]


async def test_tiny_model_on_arc_from_setup_live_choices_then_results(tmp_path, tiny_model, task_files):
    runs = tmp_path / "runs"
    app = ProbeApp(settings=settings(str(runs)))
    async with app.run_test(size=(100, 30)) as pilot:
        setup = app.screen
        await _type_into(pilot, "#model-input", str(tiny_model))
        await _type_into(pilot, "#data", str(task_files["arc_challenge"]))
        await _type_into(pilot, "#limit", "6")
        await _tick_only_task(pilot, "arc_challenge")
        assert setup.query_one("#subjects").disabled  # MMLU's subjects do not apply to ARC
        assert "ARC-Challenge" in _rendered(setup.query_one("#task-note"))
        configs = setup.build_configs()
        assert [(c.task, c.subsets, c.shots) for c in configs] == [("arc_challenge", None, None)]
        await pilot.press("ctrl+r")
        assert isinstance(app.screen, LiveScreen)
        await wait_until(pilot, lambda: any(isinstance(e, RunFinished) for e in app.engine_events))
        live = app.screen
        scored = [e.record for e in app.engine_events if isinstance(e, DocScored)]
        assert len(scored) == 6 and {r.task for r in scored} == {"arc_challenge"}
        assert live.query_one("#subject-table", DataTable).get_cell("arc_challenge", "done") == "6/6"
        assert "ARC-Challenge, acc_norm" in _rendered(live.query_one("#run-title"))
        assert "arc_challenge" in live.sub_title and "acc_norm" in live.sub_title
        panel = _rendered(live.query_one("#question"))
        last = live.query_one("#question").record
        assert last is not None and last.scores and len(last.choices) >= 3
        assert "← " in panel and "model" in panel and "%" in panel  # choices with probabilities, the pick marked
        assert f"model {last.pick}, answer {last.answer}" in panel
        assert "log-lik" in panel and "per char" in panel  # what the numbers are (acc_norm: per character)
        finished = next(e for e in app.engine_events if isinstance(e, RunFinished))
        assert finished.results.task.name == "arc_challenge" and finished.results.accuracy.answered == 6

        await pilot.press("f4")
        results = app.screen
        assert isinstance(results, ResultsScreen)
        row = results.rows[0]
        assert (row["task"], row["metric"], row["questions"]) == ("arc_challenge", "acc_norm", 6)
        assert "acc_norm" in str(results.query_one("#runs", DataTable).get_cell(row["dir"], "accuracy"))
        await pilot.press("enter")
        detail = app.screen
        assert isinstance(detail, RunDetailScreen)
        assert len(detail.records) == 6
        detail.query_one("#detail-tabs").active = "tab-questions"
        detail.query_one("#questions", DataTable).focus()
        await pilot.press("enter")
        assert isinstance(app.screen, QuestionDetail)
        assert app.screen.record.task == "arc_challenge"
        await pilot.press("escape", "escape")
        await pilot.press("ctrl+q")


async def test_several_tasks_and_models_queue_one_run_each(tmp_path):
    app = ProbeApp(settings=settings(str(tmp_path / "runs")))
    async with app.run_test(size=(80, 24)) as pilot:
        setup = app.screen
        await pilot.press("ctrl+k", "down", "space", "down", "down", "down", "down", "space")  # + arc_c, gsm8k
        assert setup.chosen_tasks == ["mmlu", "arc_challenge", "gsm8k"]
        assert not setup.query_one("#subjects").disabled
        await _type_into(pilot, "#model-input", "smollm2-135m-instruct")  # typed: no key goes to the list
        await pilot.press("ctrl+t")
        await _type_into(pilot, "#model-input", "gemma-3-270m")
        await pilot.press("ctrl+t")
        assert "6 runs" in _rendered(setup.query_one("#queue"))
        await _type_into(pilot, "#output", str(tmp_path / "out"))
        await _type_into(pilot, "#shots", "0")
        configs = setup.build_configs()
        assert [(c.model, c.task) for c in configs] == [
            (m, t) for m in ("smollm2-135m-instruct", "gemma-3-270m") for t in ("mmlu", "arc_challenge", "gsm8k")
        ]
        assert [c.subsets for c in configs[:3]] == ["astronomy,business_ethics", None, None]
        assert configs[4].output == str(tmp_path / "out" / "gemma-3-270m" / "arc_challenge")
        assert {c.shots for c in configs} == {0}
        await pilot.press("ctrl+k", "up", "up", "up", "up", "up", "space")  # mmlu off: its subjects are dimmed
        assert "mmlu" not in setup.chosen_tasks and setup.query_one("#subjects").disabled
        assert "not used" in _rendered(setup.query_one("#subject-summary"))
        await pilot.press("ctrl+q")


async def test_live_screen_shows_a_generated_answer(tmp_path):
    from core.events import BatchScored, RunStarted, SubsetPlan
    from core.schema import DocRecord, Timing
    from core.tasks import get_task
    from tui.messages import EngineEvent

    app = ProbeApp(settings=settings(str(tmp_path)))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f3")
        live = app.screen
        record = DocRecord(
            task="gsm8k", subset="gsm8k", doc_id=3, question="Tom has 3 apples and buys 4 more. How many now?",
            answer="7", generated=" 3 + 4 = 7 apples in all. " * 12 + "The answer is 7.", pick="7",
            metrics={"exact_match": 1.0, "exact_match_flex": 1.0}, correct=True,
        )  # fmt: skip
        info = get_task("gsm8k").info()
        for e in (
            RunStarted("runs/x", "m", info, (SubsetPlan("gsm8k", 10, 0, 0),), 10, 0, False),
            DocScored(record, 1, 10, 1, 1, 10, 1),
            BatchScored("gsm8k", 1, 8, 0.5, 100, Timing(wall_s=0.5, questions=1)),
        ):
            live.post_message(EngineEvent(e))
        await wait_until(pilot, lambda: live.query_one("#question").record is not None)
        panel = _rendered(live.query_one("#question"))
        assert "The answer is 7." in panel  # the end of what the model wrote, cut to fit
        assert "extracted 7" in panel and "reference 7" in panel
        assert "GSM8K" in _rendered(live.query_one("#run-title")) and "exact_match" in live.sub_title
        await app.push_screen(QuestionDetail(record, info))  # what the results screen opens on enter
        detail = _rendered(app.screen.query_one("#dialog Static"))
        assert "the model wrote:" in detail and "extracted 7, reference 7" in detail
        await pilot.press("ctrl+q")


async def test_format1_run_lists_and_opens(tmp_path):
    runs = tmp_path / "runs"
    shutil.copytree(Path(__file__).parent / "data" / "runs" / "run-a", runs / "run-a")
    app = ProbeApp(settings=settings(str(runs)))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("f4")
        results = app.screen
        assert [(r["task"], r["metric"], r["questions"]) for r in results.rows] == [("mmlu", "acc", 26)]
        assert results.rows[0]["results"].migrated_from == "llm-tui-run/1"
        await pilot.press("enter")
        detail = app.screen
        assert isinstance(detail, RunDetailScreen)
        assert len(detail.records) == 26 and detail.records[0].subset == "astronomy"
        assert "Timing" in _rendered(detail.query_one("#detail-tabs").get_tab("tab-timing"))
        detail.query_one("#detail-tabs").active = "tab-questions"
        detail.query_one("#questions", DataTable).focus()
        await pilot.press("enter")
        assert isinstance(app.screen, QuestionDetail)
        await pilot.press("escape", "escape")
        assert app.screen is results
        await pilot.press("ctrl+q")


async def test_compare_runs_of_two_tasks_shows_the_matrix_and_analyses_one_task(tmp_path, monkeypatch):
    from tui.screens.compare import CompareScreen

    runs = tmp_path / "runs"
    write_run(runs / "a-arc", "model-a", "arc_challenge", [i % 2 == 0 for i in range(20)])
    write_run(runs / "b-arc", "model-b", "arc_challenge", [i % 3 == 0 for i in range(20)])
    write_run(runs / "a-wino", "model-a", "winogrande", [i % 4 != 0 for i in range(12)], choices=2)
    write_run(runs / "b-wino", "model-b", "winogrande", [i % 2 == 1 for i in range(12)], choices=2)
    monkeypatch.chdir(tmp_path)
    app = ProbeApp(settings=settings("runs"))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("f4")
        results = app.screen
        assert sorted(r["task"] for r in results.rows) == ["arc_challenge"] * 2 + ["winogrande"] * 2
        await pilot.press("space", "down", "space", "down", "space", "down", "space", "c")
        compare = app.screen
        assert isinstance(compare, CompareScreen)
        await wait_until(pilot, lambda: compare.matrix is not None and compare.analysis is not None)
        matrix = compare.matrix
        assert matrix.tasks == ("arc_challenge", "winogrande") and set(matrix.models) == {"model-a", "model-b"}
        assert matrix.value("model-a", "arc_challenge") == 0.5 and matrix.value("model-b", "winogrande") == 0.5
        shown = _rendered(compare.query_one("#matrix"))
        assert "arc_challenge" in shown and "winogrande" in shown and "50.0" in shown
        assert compare.query_one("#compare-task").display  # which task the per-task tabs show
        assert compare.analysis.task == "arc_challenge" and compare.analysis.questions == 20
        await pilot.press("t")
        await wait_until(pilot, lambda: compare.analysis is not None and compare.analysis.task == "winogrande")
        assert compare.current_task == "winogrande" and compare.analysis.questions == 12
        assert "winogrande" in _rendered(compare.query_one("#compare-task"))
        await pilot.press("escape")
        await pilot.press("ctrl+q")


async def test_a_queue_checks_every_task_before_any_model_loads(tmp_path, task_files):
    from core.config import EvalConfig
    from tui.messages import StartRuns

    files = task_files
    good = EvalConfig(model="no-such-model-is-loaded", task="arc_challenge", data=str(files["arc_challenge"]))
    bad = EvalConfig(model="no-such-model-is-loaded", task="winogrande", data=str(files["arc_challenge"]))
    app = ProbeApp(settings=settings(str(tmp_path / "runs")))
    async with app.run_test(size=(80, 24)) as pilot:
        app.post_message(StartRuns([good, bad]))
        await wait_until(pilot, lambda: isinstance(app.screen, ErrorDialog))
        assert "winogrande" in app.screen.message
        assert not any(type(e).__name__ in ("RunStarted", "ModelLoading") for e in app.engine_events)
        assert not (tmp_path / "runs").exists()  # nothing was started, so no run folder
        await pilot.press("escape")
        assert isinstance(app.screen, SetupScreen)


def test_a_runs_folder_from_the_environment_is_used_but_not_remembered(tmp_path, monkeypatch):
    from tui.settings import AppSettings

    path = tmp_path / "settings.json"
    AppSettings(runs_dir="my-runs", path=str(path)).save()
    monkeypatch.setenv("LLM_TUI_RUNS_DIR", str(tmp_path / "for-this-launch"))
    settings_now = AppSettings.load(path)
    assert settings_now.runs_dir == str(tmp_path / "for-this-launch")
    settings_now.remember_model("gemma-3-270m")  # any save
    monkeypatch.delenv("LLM_TUI_RUNS_DIR")
    again = AppSettings.load(path)
    assert again.runs_dir == "my-runs" and again.recent_models == ["gemma-3-270m"]
