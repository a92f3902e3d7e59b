"""The hub-only tasks (TruthfulQA MC1/MC2, MMLU-Pro) on small local fixtures in their hub schema: through
`--data FILE`, and through the hub code path with `datasets.load_dataset` answering from the fixture."""

import json

import pytest

from core.config import EvalConfig
from core.errors import UserInputError
from core.evaluate import evaluate
from core.schema import DocRecord

TQA = [
    {
        "question": f"Is star {i} a planet?",
        "mc1_targets": {"choices": ["No, it is a star.", "Yes.", "Only at night."], "labels": [1, 0, 0]},
        "mc2_targets": {"choices": ["No, it is a star.", "It is not.", "Yes."], "labels": [1, 1, 0]},
    }
    for i in range(5)
]
PRO = [
    {
        "question_id": i, "question": f"Which orbit {i}?", "options": ["star", "moon", "comet", "host"],
        "answer": "ABCD"[i % 4], "answer_index": i % 4, "category": category, "src": "x", "split": split,
        "cot_content": "A: Let's think step by step. The answer is (B).",
    }
    for i, (category, split) in enumerate(
        [("physics", "test")] * 3 + [("computer science", "test")] * 2 + [("physics", "validation")] * 2
        + [("computer science", "validation")]
    )
]  # fmt: skip


def _write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _records(run):
    return [DocRecord.model_validate_json(x) for x in (run / "questions.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("task", ["truthfulqa_mc1", "truthfulqa_mc2"])
def test_truthfulqa_from_a_local_file(tiny_model, tmp_path, task):
    data = _write(tmp_path / "tqa.jsonl", TQA)
    cfg = EvalConfig(
        model=str(tiny_model), task=task, data=str(data), device="cpu", dtype="float32", output=str(tmp_path / "r")
    )
    results = evaluate(cfg)
    recs = _records(tmp_path / "r")
    assert len(recs) == 5 and results.identity.data.source == "file"
    for r in recs:
        assert len(r.scores) == 3
        if task == "truthfulqa_mc1":
            assert r.gold == 0 and r.metrics["acc"] == float(r.predicted == 0)
        else:
            assert r.gold == [0, 1] and r.metrics["acc"] == pytest.approx(r.probs[0] + r.probs[1], abs=1e-5)
    assert results.accuracy.micro == pytest.approx(sum(r.metrics["acc"] for r in recs) / 5, abs=1e-6)


def test_mmlu_pro_from_a_local_file_with_its_validation_exemplars(tiny_model, tmp_path):
    data = _write(tmp_path / "pro.jsonl", PRO)
    cfg = EvalConfig(
        model=str(tiny_model), task="mmlu_pro", data=str(data), device="cpu", dtype="float32", max_new_tokens=4,
        shots=1, output=str(tmp_path / "r"),
    )  # fmt: skip
    results = evaluate(cfg)
    assert list(results.subsets) == ["computer_science", "physics"] and results.identity.shots == 1
    recs = _records(tmp_path / "r")
    assert sorted((r.subset, r.doc_id) for r in recs) == [("computer_science", 0), ("computer_science", 1)] + [
        ("physics", i) for i in range(3)
    ]
    assert all(r.generated is not None and r.generated_tokens <= 4 for r in recs)


def test_mmlu_pro_refuses_more_shots_than_its_validation_pool(tiny_model, tmp_path):
    data = _write(tmp_path / "pro.jsonl", PRO)
    cfg = EvalConfig(model=str(tiny_model), task="mmlu_pro", data=str(data), device="cpu", output=str(tmp_path / "r"))
    with pytest.raises(UserInputError, match="only 1 exemplars for computer_science"):
        evaluate(cfg)  # the default 5 shots: physics has 2 exemplars here, computer science 1
    cfg.shots = 1
    cfg.max_new_tokens = 2
    assert evaluate(cfg).accuracy.answered == 5


def test_the_hub_path_reads_the_named_dataset_split(tiny_model, tmp_path, monkeypatch):
    import datasets

    asked = []

    def fake_load_dataset(path, name=None, split=None, **kw):
        asked.append((path, name, split))
        return datasets.Dataset.from_list(TQA)

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    cfg = EvalConfig(
        model=str(tiny_model), task="truthfulqa_mc1", device="cpu", dtype="float32", output=str(tmp_path / "r")
    )
    results = evaluate(cfg)
    assert asked == [("truthfulqa/truthful_qa", "multiple_choice", "validation")]
    assert results.identity.data.source == "hub" and results.accuracy.answered == 5


def test_the_hub_unreachable_is_one_line_before_any_model(tiny_model, tmp_path, monkeypatch):
    import datasets

    def offline(*a, **k):
        raise ConnectionError("Couldn't reach 'truthfulqa/truthful_qa' on the Hub (LocalEntryNotFoundError)")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    cfg = EvalConfig(model=str(tiny_model), task="mmlu_pro", output=str(tmp_path / "r"))
    with pytest.raises(UserInputError) as err:
        evaluate(cfg)
    message = str(err.value)
    assert "\n" not in message and "TIGER-Lab/MMLU-Pro" in message and "--data FILE" in message
    assert not (tmp_path / "r").exists()
