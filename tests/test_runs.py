"""Run folders: the typed journal (append, torn-line repair, corrupt lines refused), resume identity, and
format-1 folders read (migrated in memory, never rewritten, never resumed)."""

import json
import shutil
from pathlib import Path

import pytest

from core.errors import UserInputError
from core.runs import RESULTS, RunStore, list_runs, load_records, read_records, read_results
from core.schema import RUN_FORMAT, DocRecord, RunIdentity, RunResults

IDENTITY = RunIdentity(model="m", device="cpu", dtype="float32", task="arc_challenge", subsets=["arc_challenge"])
FIXTURES = Path(__file__).parent / "data" / "runs"


def _rec(i: int) -> DocRecord:
    return DocRecord(
        task="arc_challenge", subset="arc_challenge", doc_id=i, question=f"q{i}", choices=["a", "b"], gold=0,
        answer="A", scores=[-1.0, -2.0], predicted=0, pick="A", metrics={"acc": 1.0}, correct=i % 2 == 0,
    )  # fmt: skip


def _started(tmp_path):
    store = RunStore(tmp_path / "run")
    store.open(IDENTITY)
    store.write_results(RunResults(identity=IDENTITY))
    store.append([_rec(0), _rec(1)])
    store.close()  # the folder is locked from open to close; the tests below reopen it
    return store


def test_fresh_folder_is_created_and_resumed(tmp_path):
    store = _started(tmp_path)
    opened = RunStore(store.path).open(IDENTITY)
    assert opened.resumed
    assert sorted(opened.records) == [("arc_challenge", 0), ("arc_challenge", 1)]
    assert opened.records[("arc_challenge", 1)] == _rec(1)  # typed round trip
    assert json.loads(store.results_path.read_text())["format"] == RUN_FORMAT


def test_torn_last_line_is_repaired_and_kept_aside(tmp_path):
    store = _started(tmp_path)
    with store.questions_path.open("ab") as f:
        f.write(b'{"task": "arc_challenge", "subs')
    opened = RunStore(store.path).open(IDENTITY)
    assert len(opened.records) == 2
    assert any("torn" in n for n in opened.notices)
    assert store.questions_path.read_bytes().endswith(b"}\n")
    assert (store.path / "questions.jsonl.torn").read_bytes() == b'{"task": "arc_challenge", "subs\n'
    store.append([_rec(2)])
    assert len(read_records(store.questions_path)[0]) == 3


def test_complete_record_missing_only_its_newline_is_kept(tmp_path):
    store = _started(tmp_path)
    with store.questions_path.open("ab") as f:
        f.write(_rec(2).model_dump_json().encode())
    opened = RunStore(store.path).open(IDENTITY)
    assert len(opened.records) == 3
    assert store.questions_path.read_bytes().endswith(b"}\n")


@pytest.mark.parametrize("bad", [b"garbage\n", b'{"task": "arc_challenge", "subset": "x"}\n', b'{"doc_id": -1}\n'])
def test_corrupt_or_invalid_line_is_refused_and_file_untouched(tmp_path, bad):
    store = _started(tmp_path)
    store.questions_path.write_bytes(bad + store.questions_path.read_bytes())
    before = store.questions_path.read_bytes()
    with pytest.raises(UserInputError, match="line 1 is corrupt"):
        RunStore(store.path).open(IDENTITY)
    assert store.questions_path.read_bytes() == before


def test_other_configuration_is_refused_and_nothing_changes(tmp_path):
    store = _started(tmp_path)
    snapshot = {p.name: p.read_bytes() for p in store.path.iterdir()}
    with pytest.raises(UserInputError) as err:
        RunStore(store.path).open(IDENTITY.model_copy(update={"limit": 5}))
    assert "different configuration" in str(err.value) and "limit" in str(err.value)
    with pytest.raises(UserInputError, match="task: 'arc_challenge' there, 'hellaswag' now"):
        RunStore(store.path).open(IDENTITY.model_copy(update={"task": "hellaswag"}))
    assert {p.name: p.read_bytes() for p in store.path.iterdir()} == snapshot


def test_foreign_folder_is_refused(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("precious")
    with pytest.raises(UserInputError, match="holds no llm-tui run"):
        RunStore(tmp_path / "mine").open(IDENTITY)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / RESULTS).write_text('{"something": "else"}')
    with pytest.raises(UserInputError, match="not written by llm-tui"):
        RunStore(tmp_path / "other").open(IDENTITY)
    (tmp_path / "newer").mkdir()
    (tmp_path / "newer" / RESULTS).write_text('{"format": "llm-tui-run/9", "identity": {}}')
    with pytest.raises(UserInputError, match="does not fit the llm-tui run format"):
        read_results(tmp_path / "newer")
    assert (tmp_path / "mine" / "thesis.tex").read_text() == "precious"


def test_format_1_run_is_read_migrated_and_never_rewritten(tmp_path):
    run = tmp_path / "old"
    shutil.copytree(FIXTURES / "run-a", run)
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    results = read_results(run)
    assert results.migrated_from == "llm-tui-run/1" and results.task.name == "mmlu"
    assert results.identity.subsets == list(results.subsets) and results.accuracy.answered > 0
    records = load_records(run, results)
    first = json.loads((run / "questions.jsonl").read_text().splitlines()[0])
    rec = records[(first["subject"], first["index"])]
    assert (rec.answer, rec.pick, rec.correct) == (first["answer"], first["predicted"], first["correct"])
    assert rec.score_kind == "logit" and rec.gold == "ABCD".index(first["answer"])
    with pytest.raises(UserInputError, match="format 1.*cannot be resumed"):
        RunStore(run).open(results.identity)
    assert [p for p, _ in list_runs(tmp_path)] == [run]
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before


def test_a_folder_holding_runs_expands_to_them_and_a_plain_folder_stays(tmp_path):
    from core.runs import expand_run_dirs

    for model in ("b-model", "a-model"):
        run = tmp_path / "multi" / model / "arc_challenge"
        run.mkdir(parents=True)
        (run / RESULTS).write_text("{}")
    (tmp_path / "empty").mkdir()
    single = tmp_path / "multi" / "a-model" / "arc_challenge"
    got = expand_run_dirs([tmp_path / "multi", single, tmp_path / "empty"])
    assert got == [single, tmp_path / "multi" / "b-model" / "arc_challenge", tmp_path / "empty"]


def test_deleting_a_run_removes_its_files_only_and_not_one_in_use(tmp_path):
    from core.runs import delete_run

    store = _started(tmp_path)
    (store.path / "notes.txt").write_text("mine")
    holder = RunStore(store.path)
    holder.open(IDENTITY)
    with pytest.raises(UserInputError, match="in use by"):
        delete_run(store.path)
    holder.close()
    assert store.results_path.exists()
    delete_run(store.path)
    assert sorted(p.name for p in store.path.iterdir()) == ["notes.txt"]  # what the user put there stays
    (store.path / "notes.txt").unlink()
    with pytest.raises(UserInputError, match="no results.json"):
        delete_run(store.path)
    other = _started(tmp_path / "second")
    delete_run(other.path)
    assert not other.path.exists()


def test_renaming_a_run_moves_the_folder_and_refuses_bad_names(tmp_path):
    from core.runs import rename_run

    store = _started(tmp_path)
    (tmp_path / "taken").mkdir()
    for bad, message in (("a/b", "not a folder name"), ("", "not a folder name"), ("taken", "already exists")):
        with pytest.raises(UserInputError, match=message):
            rename_run(store.path, bad)
    holder = RunStore(store.path)
    holder.open(IDENTITY)
    with pytest.raises(UserInputError, match="in use by"):
        rename_run(store.path, "smollm2-astronomy")
    holder.close()
    new = rename_run(store.path, "smollm2-astronomy")
    assert new == tmp_path / "smollm2-astronomy" and not store.path.exists()
    assert len(RunStore(new).open(IDENTITY).records) == 2  # still the same run, resumable
