"""The engine end to end on tiny models: events, records, resume after cancel, OOM back-off, scoring paths."""

import json
import threading

import pytest

from core.config import EvalConfig
from core.errors import UserInputError
from core.evaluate import evaluate, iter_evaluation
from core.events import (
    BatchSizeReduced,
    ModelLoaded,
    QuestionScored,
    RunCancelled,
    RunFinished,
    RunStarted,
    SubjectFinished,
)  # fmt: skip
from core.mmlu.scoring import LetterScorer
from core.models import load_model


def _config(model, data, out, **kw) -> EvalConfig:
    base = dict(
        model=str(model),
        data=str(data),
        subjects="astronomy,anatomy,virology",
        device="cpu",
        dtype="float32",
        batch_size=4,
        output=str(out),
    )
    base.update(kw)
    return EvalConfig(**base)


def _records(run_dir):
    lines = (run_dir / "questions.jsonl").read_text().splitlines()
    return [json.loads(x) for x in lines]


def test_full_run_events_records_and_results(tiny_model, mmlu_file, tmp_path):
    events = []
    results = evaluate(_config(tiny_model, mmlu_file, tmp_path / "run"), events.append)
    kinds = [type(e).__name__ for e in events]
    assert kinds[0] == "RunStarted" and kinds[-1] == "RunFinished"
    assert kinds.index("ModelLoaded") < kinds.index("QuestionScored")
    assert sum(isinstance(e, QuestionScored) for e in events) == 28
    assert [e.subject for e in events if isinstance(e, SubjectFinished)] == ["astronomy", "anatomy", "virology"]
    recs = _records(tmp_path / "run")
    assert len({(r["subject"], r["index"]) for r in recs}) == len(recs) == 28
    r = recs[0]
    assert set(r) >= {"subject", "index", "question", "choices", "answer", "predicted", "correct", "probs"}
    assert len(r["probs"]) == 4 and abs(sum(r["probs"]) - 1) < 1e-4
    assert r["predicted"] == "ABCD"[max(range(4), key=lambda i: r["probs"][i])]
    assert r["correct"] == (r["predicted"] == r["answer"])
    # accuracy: micro over questions, macro over subjects, recomputed by hand
    correct = sum(x["correct"] for x in recs)
    assert results["accuracy"]["micro"] == pytest.approx(correct / 28, abs=1e-6)
    per = {s: [x["correct"] for x in recs if x["subject"] == s] for s in ("astronomy", "anatomy", "virology")}
    assert results["accuracy"]["macro"] == pytest.approx(sum(sum(v) / len(v) for v in per.values()) / 3, abs=1e-6)
    t = results["timing"]
    assert t["questions"] == 28 and t["prompt_tokens"] > 0 and t["wall_s"] > 0 and t["cpu_s"] > 0
    assert t["gpu_s"] is None and t["peak_rss_bytes"] > 0 and t["load_s"] is not None
    assert results["subjects"]["virology"]["timing"]["questions"] == 6
    assert results["status"] == "complete"
    saved = json.loads((tmp_path / "run" / "results.json").read_text())
    assert saved["accuracy"] == results["accuracy"] and saved["software"]["torch"]


def test_cancel_then_resume_equals_uninterrupted_run(tiny_model, mmlu_file, tmp_path):
    reference = evaluate(_config(tiny_model, mmlu_file, tmp_path / "ref"))
    cancel = threading.Event()
    seen = []

    def on_event(e):
        seen.append(e)
        if isinstance(e, QuestionScored) and e.overall_done >= 10:
            cancel.set()

    partial = evaluate(_config(tiny_model, mmlu_file, tmp_path / "run"), on_event, cancel)
    assert isinstance(seen[-1], RunCancelled)
    assert partial["status"] == "cancelled"
    assert 10 <= len(_records(tmp_path / "run")) < 28
    events = []
    resumed = evaluate(_config(tiny_model, mmlu_file, tmp_path / "run"), events.append)
    start = next(e for e in events if isinstance(e, RunStarted))
    assert start.resumed and start.done == len(_records(tmp_path / "run")) - sum(
        isinstance(e, QuestionScored) for e in events
    )
    recs = _records(tmp_path / "run")
    assert len(recs) == len({(r["subject"], r["index"]) for r in recs}) == 28
    assert resumed["accuracy"] == reference["accuracy"]
    ref = {(r["subject"], r["index"]): r for r in _records(tmp_path / "ref")}
    assert all(ref[(r["subject"], r["index"])]["probs"] == r["probs"] for r in recs)
    assert len(resumed["sessions"]) == 2


def test_resuming_a_finished_run_loads_no_model(tiny_model, mmlu_file, tmp_path):
    evaluate(_config(tiny_model, mmlu_file, tmp_path / "run"))
    events = []
    evaluate(_config(tiny_model, mmlu_file, tmp_path / "run"), events.append)
    assert not any(isinstance(e, ModelLoaded) for e in events)
    assert isinstance(events[-1], RunFinished)


def test_other_configuration_in_same_output_is_refused(tiny_model, mmlu_file, tmp_path):
    evaluate(_config(tiny_model, mmlu_file, tmp_path / "run", limit=2))
    before = (tmp_path / "run" / "questions.jsonl").read_bytes()
    with pytest.raises(UserInputError, match="different configuration"):
        evaluate(_config(tiny_model, mmlu_file, tmp_path / "run", limit=3))
    assert (tmp_path / "run" / "questions.jsonl").read_bytes() == before


def test_out_of_memory_halves_the_batch_and_carries_on(tiny_model, mmlu_file, tmp_path, monkeypatch):
    original = LetterScorer.score

    def flaky(self, batch):
        if len(batch) > 2:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return original(self, batch)

    monkeypatch.setattr(LetterScorer, "score", flaky)
    events = []
    results = evaluate(_config(tiny_model, mmlu_file, tmp_path / "run", batch_size=8), events.append)
    reduced = [e for e in events if isinstance(e, BatchSizeReduced)]
    assert [(e.old, e.new) for e in reduced] == [(8, 4), (4, 2)]
    assert results["accuracy"]["answered"] == 28


def test_a_failure_before_any_answer_leaves_no_folder_and_after_some_marks_the_run_failed(
    tiny_model, mmlu_file, tmp_path, monkeypatch
):
    original = LetterScorer.score
    calls = []

    def failing_from(n):
        def score(self, batch):
            calls.append(len(batch))
            if len(calls) >= n:
                raise UserInputError("--chat-template: this model's tokenizer has no chat template; drop the flag")
            return original(self, batch)

        return score

    monkeypatch.setattr(LetterScorer, "score", failing_from(1))
    with pytest.raises(UserInputError):
        evaluate(_config(tiny_model, mmlu_file, tmp_path / "early"))
    assert not (tmp_path / "early").exists()  # nothing scored: no half-made run to trip over on the next try

    calls.clear()
    monkeypatch.setattr(LetterScorer, "score", failing_from(3))
    with pytest.raises(UserInputError):
        evaluate(_config(tiny_model, mmlu_file, tmp_path / "late"))
    results = json.loads((tmp_path / "late" / "results.json").read_text())
    assert results["status"] == "failed" and "no chat template" in results["error"]
    assert len(_records(tmp_path / "late")) == 8  # the two batches scored before the failure are kept

    monkeypatch.setattr(LetterScorer, "score", original)
    resumed = evaluate(_config(tiny_model, mmlu_file, tmp_path / "late"))
    assert resumed["status"] == "complete" and "error" not in resumed
    assert resumed["accuracy"]["answered"] == 28


def test_iterator_front_end_yields_the_same_events(tiny_model, mmlu_file, tmp_path):
    events = list(iter_evaluation(_config(tiny_model, mmlu_file, tmp_path / "run", limit=2)))
    assert isinstance(events[-1], RunFinished)
    with pytest.raises(UserInputError):
        list(iter_evaluation(_config(tiny_model, mmlu_file, tmp_path / "run2", subjects="astronmy")))


def test_multi_token_letters_use_the_continuation_log_likelihood(tiny_bytes_model):
    m = load_model(str(tiny_bytes_model), device="cpu", dtype="float32")
    scorer = LetterScorer(m.model, m.tokenizer, "cpu")
    assert not scorer.single_token
    prompt = scorer.encode("The answer is\nAnswer:")
    batch = scorer.score([prompt, prompt[:-2]])
    # check one score by hand: log p(" ") + log p("A" | " ") after the prompt
    import torch

    ids = torch.tensor([prompt + scorer.continuations[0]])
    with torch.inference_mode():
        logp = torch.log_softmax(m.model(ids).logits[0].float(), -1)
    n = len(prompt)
    expected = sum(logp[n - 1 + k, tok].item() for k, tok in enumerate(scorer.continuations[0]))
    assert batch.scores[0][0] == pytest.approx(expected, abs=1e-4)


def test_single_token_scores_match_an_unbatched_forward(tiny_model):
    import torch

    m = load_model(str(tiny_model), device="cpu", dtype="float32")
    scorer = LetterScorer(m.model, m.tokenizer, "cpu")
    assert scorer.single_token
    long_prompt = scorer.encode("The following are questions about stars.\n\nWhat is a comet?\nAnswer:")
    short_prompt = scorer.encode("Moon?\nAnswer:")
    batch = scorer.score([long_prompt, short_prompt])  # padded together
    for row, prompt in enumerate([long_prompt, short_prompt]):
        with torch.inference_mode():
            logits = m.model(torch.tensor([prompt])).logits[0, -1]
        expected = [logits[c[0]].item() for c in scorer.continuations]
        assert batch.scores[row] == pytest.approx(expected, abs=1e-4)


def test_shots_need_a_dev_split(tiny_model, mmlu_file, tmp_path, cache):
    results = evaluate(_config(tiny_model, mmlu_file, tmp_path / "run", shots=2, limit=2))
    assert results["identity"]["shots"] == 2
    with pytest.raises(UserInputError, match="needs a dev split"):
        evaluate(_config(tiny_model, "bundled", tmp_path / "run2", shots=1, subjects="astronomy"))


def test_model_cache_is_reused_across_evaluations(tiny_model, mmlu_file, tmp_path):
    from core.models import ModelCache

    models = ModelCache()
    first, second = [], []
    evaluate(_config(tiny_model, mmlu_file, tmp_path / "a", limit=1), first.append, models=models)
    evaluate(_config(tiny_model, mmlu_file, tmp_path / "b", limit=1), second.append, models=models)
    load_a = next(e for e in first if isinstance(e, ModelLoaded))
    load_b = next(e for e in second if isinstance(e, ModelLoaded))
    assert not load_a.info.get("reused") and load_b.info.get("reused")
    assert models.holds(str(tiny_model), "cpu", "float32")
    assert not models.holds(str(tiny_model), "cpu", "bfloat16")
