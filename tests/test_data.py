import json

import pytest

from core.errors import UserInputError
from core.mmlu.data import load_file


def test_local_jsonl_grouped_with_indexes_and_dev_split(mmlu_file):
    data = load_file(mmlu_file)
    assert data.counts() == {"anatomy": 9, "astronomy": 13, "virology": 6}
    assert [q.index for q in data.test["anatomy"]] == list(range(9))
    assert data.dev is not None and len(data.dev["astronomy"]) == 5
    assert data.identity["source"] == "file" and len(data.identity["sha256"]) == 64


def test_json_with_test_and_dev_lists_and_letter_answers(tmp_path):
    row = {"question": "q", "subject": "Astronomy", "choices": ["a", "b", "c", "d"], "answer": "C"}
    path = tmp_path / "d.json"
    path.write_text(json.dumps({"test": [row, row], "dev": [row]}))
    data = load_file(path)
    assert data.test["astronomy"][1].answer == 2
    assert data.dev is not None and len(data.dev["astronomy"]) == 1


def test_parquet(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({"question": ["q"], "subject": ["anatomy"], "choices": [["a", "b", "c", "d"]], "answer": [3]})
    pq.write_table(table, tmp_path / "d.parquet")
    assert load_file(tmp_path / "d.parquet").test["anatomy"][0].answer == 3


@pytest.mark.parametrize(
    "content, message",
    [
        ('{"question": "q", "subject": "a", "choices": ["a","b","c","d"]}\n', "lacks answer"),
        ('{"question": "q", "subject": "a", "choices": ["a","b"], "answer": 0}\n', "choices must be a list of 4"),
        ('{"question": "q", "subject": "a", "choices": ["a","b","c","d"], "answer": 7}\n', "answer 7 is not 0-3"),
        ('{"question": "q", "subj\n', "line 1 is not valid JSON"),
        ("", "holds no test questions"),
    ],
)
def test_bad_files_give_one_clear_line(tmp_path, content, message):
    path = tmp_path / "bad.jsonl"
    path.write_text(content)
    with pytest.raises(UserInputError) as err:
        load_file(path)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_unreadable_and_missing_files(tmp_path):
    binary = tmp_path / "x.parquet"
    binary.write_bytes(b"\x00\xffnot parquet")
    with pytest.raises(UserInputError, match="cannot read x.parquet as parquet"):
        load_file(binary)
    latin = tmp_path / "x.jsonl"
    latin.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(UserInputError, match="cannot read data file"):
        load_file(latin)
    with pytest.raises(UserInputError, match="data file not found"):
        load_file(tmp_path / "nope.jsonl")
    with pytest.raises(UserInputError, match="unsupported data file type"):
        (tmp_path / "x.csv").write_text("a,b")
        load_file(tmp_path / "x.csv")
