import json

import pytest

from core.errors import UserInputError
from core.runs import RESULTS, RUN_FORMAT, RunStore, read_records

IDENTITY = {"model": "m", "subjects": ["astronomy"], "limit": None}


def _rec(i: int) -> dict:
    return {"subject": "astronomy", "index": i, "correct": i % 2 == 0}


def _started(tmp_path):
    store = RunStore(tmp_path / "run")
    store.open(IDENTITY)
    store.write_results({"format": RUN_FORMAT, "identity": IDENTITY})
    store.append([_rec(0), _rec(1)])
    return store


def test_fresh_folder_is_created_and_resumed(tmp_path):
    store = _started(tmp_path)
    opened = RunStore(store.path).open(IDENTITY)
    assert opened.resumed
    assert sorted(opened.records) == [("astronomy", 0), ("astronomy", 1)]


def test_torn_last_line_is_repaired_and_kept_aside(tmp_path):
    store = _started(tmp_path)
    with store.questions_path.open("ab") as f:
        f.write(b'{"subject": "astronomy", "ind')
    opened = RunStore(store.path).open(IDENTITY)
    assert len(opened.records) == 2
    assert any("torn" in n for n in opened.notices)
    assert store.questions_path.read_bytes().endswith(b"}\n")
    assert (store.path / "questions.jsonl.torn").read_bytes() == b'{"subject": "astronomy", "ind\n'
    # appending after the repair gives a clean journal
    store.append([_rec(2)])
    assert len(read_records(store.questions_path)[0]) == 3


def test_complete_record_missing_only_its_newline_is_kept(tmp_path):
    store = _started(tmp_path)
    with store.questions_path.open("ab") as f:
        f.write(json.dumps(_rec(2)).encode())
    opened = RunStore(store.path).open(IDENTITY)
    assert len(opened.records) == 3
    assert store.questions_path.read_bytes().endswith(b"}\n")


def test_corrupt_middle_line_is_refused_and_file_untouched(tmp_path):
    store = _started(tmp_path)
    before = store.questions_path.read_bytes()
    store.questions_path.write_bytes(b"garbage\n" + before)
    before = store.questions_path.read_bytes()
    with pytest.raises(UserInputError, match="line 1 is corrupt"):
        RunStore(store.path).open(IDENTITY)
    assert store.questions_path.read_bytes() == before


def test_other_configuration_is_refused_and_nothing_changes(tmp_path):
    store = _started(tmp_path)
    snapshot = {p.name: p.read_bytes() for p in store.path.iterdir()}
    with pytest.raises(UserInputError) as err:
        RunStore(store.path).open(dict(IDENTITY, limit=5))
    assert "different configuration" in str(err.value) and "limit" in str(err.value)
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
    assert (tmp_path / "mine" / "thesis.tex").read_text() == "precious"
