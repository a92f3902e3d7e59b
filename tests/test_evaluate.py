"""The engine end to end on tiny models, for every scoring kind: events, typed records and results, resume after
cancel, OOM back-off, failures; and the backend's scores against plain, unbatched forward passes."""

import json
import threading

import pytest

from core.backends.hf import TransformersBackend
from core.config import EvalConfig
from core.errors import UserInputError
from core.evaluate import evaluate, iter_evaluation
from core.events import (
    BatchSizeReduced,
    BatchStarted,
    DocScored,
    ModelLoaded,
    RunCancelled,
    RunFinished,
    RunStarted,
    SubsetFinished,
)  # fmt: skip
from core.models import load_model
from core.schema import DocRecord, RunResults
from core.tasks import ChoiceRequest, GenerateRequest


def _config(model, data, out, **kw) -> EvalConfig:
    base = dict(
        model=str(model),
        data=str(data),
        subsets="astronomy,anatomy,virology",
        device="cpu",
        dtype="float32",
        batch_size=4,
        output=str(out),
    )
    base.update(kw)
    return EvalConfig(**base)


def _task(model, files, task, out, **kw) -> EvalConfig:
    return _config(model, files[task], out, task=task, subsets=None, **kw)


def _records(run_dir) -> list[DocRecord]:
    return [DocRecord.model_validate_json(x) for x in (run_dir / "questions.jsonl").read_text().splitlines()]


def test_full_mmlu_run_events_records_and_results(tiny_model, mmlu_file, tmp_path):
    events = []
    results = evaluate(_config(tiny_model, mmlu_file, tmp_path / "run"), events.append)
    kinds = [type(e).__name__ for e in events]
    assert kinds[0] == "RunStarted" and kinds[-1] == "RunFinished"
    assert kinds.index("ModelLoaded") < kinds.index("DocScored")
    assert sum(isinstance(e, DocScored) for e in events) == 28
    # each batch is announced before it is scored, naming exactly the documents it will journal
    starts = [i for i, e in enumerate(events) if isinstance(e, BatchStarted)]
    assert starts and starts[0] < kinds.index("DocScored")
    for i in starts:
        scored = [e.overall_done for e in events[i + 1 :] if isinstance(e, DocScored)][
            : events[i].last - events[i].first + 1
        ]
        assert scored == list(range(events[i].first, events[i].last + 1)) and events[i].overall_total == 28
    assert [e.subset for e in events if isinstance(e, SubsetFinished)] == ["astronomy", "anatomy", "virology"]
    recs = _records(tmp_path / "run")
    assert len({r.key for r in recs}) == len(recs) == 28
    r = recs[0]
    assert r.task == "mmlu" and len(r.scores) == 4 and len(r.choices) == 4 and abs(sum(r.probs) - 1) < 1e-6
    assert r.pick == "ABCD"[r.predicted] and r.predicted == max(range(4), key=lambda i: r.scores[i])
    assert r.correct == (r.pick == r.answer) and r.metrics == {"acc": float(r.correct)}
    assert all(s <= 0 for s in r.scores)  # log-likelihoods, not logits
    correct = sum(x.correct for x in recs)
    assert results.accuracy.micro == pytest.approx(correct / 28, abs=1e-6) == results.metrics["acc"]
    per = {s: [x.correct for x in recs if x.subset == s] for s in ("astronomy", "anatomy", "virology")}
    assert results.accuracy.macro == pytest.approx(sum(sum(v) / len(v) for v in per.values()) / 3, abs=1e-6)
    t = results.timing
    assert t.questions == 28 and t.prompt_tokens > 0 and t.wall_s > 0 and t.cpu_s > 0
    assert t.gpu_s is None and t.peak_rss_bytes > 0 and t.load_s is not None
    assert results.subsets["virology"].timing.questions == 6 and results.subsets["virology"].category == "other"
    assert results.status == "complete" and results.task.name == "mmlu" and results.identity.task == "mmlu"
    saved = RunResults.model_validate_json((tmp_path / "run" / "results.json").read_text())
    assert saved.accuracy == results.accuracy and saved.software["torch"]
    assert saved.model.parameters and saved.model.model_type == "llama"


@pytest.mark.parametrize("task", ["arc_challenge", "hellaswag", "winogrande"])
def test_choice_tasks_end_to_end(tiny_model, task_files, tmp_path, task):
    rows = [json.loads(x) for x in task_files[task].read_text().splitlines()]
    events = []
    results = evaluate(_task(tiny_model, task_files, task, tmp_path / "run"), events.append)
    start = next(e for e in events if isinstance(e, RunStarted))
    assert start.task.name == task and [s.subset for s in start.subsets] == [task] and start.total == len(rows)
    recs = sorted(_records(tmp_path / "run"), key=lambda r: r.doc_id)
    assert [r.doc_id for r in recs] == list(range(len(rows)))
    for r in recs:
        assert r.task == task and r.subset == task and len(r.scores) == len(r.choices) >= 2
        assert r.metrics["acc"] == float(r.predicted == r.gold)
        if task != "winogrande":
            assert r.metrics["acc_norm"] == float(r.predicted_norm == r.gold)
    primary = results.task.primary_metric
    assert results.accuracy.micro == pytest.approx(sum(r.metrics[primary] for r in recs) / len(recs), abs=1e-6)
    assert set(results.metrics) == set(results.task.metrics)


def test_generate_until_end_to_end(tiny_model, task_files, tmp_path):
    results = evaluate(_task(tiny_model, task_files, "gsm8k", tmp_path / "run", shots=0, max_new_tokens=6))
    recs = _records(tmp_path / "run")
    assert len(recs) == 6 and results.status == "complete"
    for r in recs:
        assert r.generated is not None and r.scores is None and r.generated_tokens <= 6
        assert set(r.metrics) == {"exact_match", "exact_match_flex"} and r.answer.isdigit()
    assert results.timing.generated_tokens == sum(r.generated_tokens for r in recs)
    assert results.identity.prompt_format.endswith("-max6")


def test_cancel_then_resume_equals_uninterrupted_run(tiny_model, mmlu_file, tmp_path):
    reference = evaluate(_config(tiny_model, mmlu_file, tmp_path / "ref"))
    cancel = threading.Event()
    seen = []

    def on_event(e):
        seen.append(e)
        if isinstance(e, DocScored) and e.overall_done >= 10:
            cancel.set()

    partial = evaluate(_config(tiny_model, mmlu_file, tmp_path / "run"), on_event, cancel)
    assert isinstance(seen[-1], RunCancelled) and partial.status == "cancelled"
    assert 10 <= len(_records(tmp_path / "run")) < 28
    events = []
    resumed = evaluate(_config(tiny_model, mmlu_file, tmp_path / "run"), events.append)
    start = next(e for e in events if isinstance(e, RunStarted))
    assert start.resumed and start.done == len(_records(tmp_path / "run")) - sum(
        isinstance(e, DocScored) for e in events
    )
    recs = _records(tmp_path / "run")
    assert len(recs) == len({r.key for r in recs}) == 28
    assert resumed.accuracy == reference.accuracy
    ref = {r.key: r for r in _records(tmp_path / "ref")}
    assert all(ref[r.key].scores == r.scores for r in recs)
    assert len(resumed.sessions) == 2
    before = (tmp_path / "run" / "results.json").read_bytes()
    events = []
    again = evaluate(_config(tiny_model, mmlu_file, tmp_path / "run"), events.append)
    assert again.status == "complete" and again.accuracy == reference.accuracy and len(again.sessions) == 2
    assert isinstance(events[-1], RunFinished) and not any(isinstance(e, DocScored) for e in events)
    assert (tmp_path / "run" / "results.json").read_bytes() == before  # a finished run is not rewritten


def test_cancel_then_resume_on_a_choice_task(tiny_model, task_files, tmp_path):
    reference = evaluate(_task(tiny_model, task_files, "arc_challenge", tmp_path / "ref"))
    cancel = threading.Event()
    evaluate(
        _task(tiny_model, task_files, "arc_challenge", tmp_path / "run"),
        lambda e: cancel.set() if isinstance(e, DocScored) else None,
        cancel,
    )
    assert 0 < len(_records(tmp_path / "run")) < 14
    resumed = evaluate(_task(tiny_model, task_files, "arc_challenge", tmp_path / "run"))
    recs = _records(tmp_path / "run")
    assert len(recs) == len({r.key for r in recs}) == 14
    assert resumed.metrics == reference.metrics


def test_resuming_a_finished_run_loads_no_model(tiny_model, mmlu_file, tmp_path):
    evaluate(_config(tiny_model, mmlu_file, tmp_path / "run"))
    events = []
    evaluate(_config(tiny_model, mmlu_file, tmp_path / "run"), events.append)
    assert not any(isinstance(e, ModelLoaded) for e in events)
    assert isinstance(events[-1], RunFinished)


def test_other_configuration_in_same_output_is_refused(tiny_model, mmlu_file, task_files, tmp_path):
    evaluate(_config(tiny_model, mmlu_file, tmp_path / "run", limit=2))
    before = (tmp_path / "run" / "questions.jsonl").read_bytes()
    with pytest.raises(UserInputError, match="different configuration"):
        evaluate(_config(tiny_model, mmlu_file, tmp_path / "run", limit=3))
    with pytest.raises(UserInputError, match="task: 'mmlu' there, 'arc_challenge' now"):
        evaluate(_task(tiny_model, task_files, "arc_challenge", tmp_path / "run", limit=2))
    assert (tmp_path / "run" / "questions.jsonl").read_bytes() == before


def test_out_of_memory_halves_the_batch_and_carries_on(tiny_model, mmlu_file, tmp_path, monkeypatch):
    original = TransformersBackend.run

    def flaky(self, batch, cancel=None):
        if len(batch) > 2:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return original(self, batch, cancel)

    monkeypatch.setattr(TransformersBackend, "run", flaky)
    events = []
    results = evaluate(_config(tiny_model, mmlu_file, tmp_path / "run", batch_size=8), events.append)
    reduced = [e for e in events if isinstance(e, BatchSizeReduced)]
    assert [(e.old, e.new) for e in reduced] == [(8, 4), (4, 2)]
    assert results.accuracy.answered == 28


def test_a_failure_before_any_answer_leaves_no_folder_and_after_some_marks_the_run_failed(
    tiny_model, mmlu_file, tmp_path, monkeypatch
):
    original = TransformersBackend.run
    calls = []

    def failing_from(n):
        def run(self, batch, cancel=None):
            calls.append(len(batch))
            if len(calls) >= n:
                raise UserInputError("--chat-template: this model's tokenizer has no chat template; drop the flag")
            return original(self, batch, cancel)

        return run

    monkeypatch.setattr(TransformersBackend, "run", failing_from(1))
    with pytest.raises(UserInputError):
        evaluate(_config(tiny_model, mmlu_file, tmp_path / "early"))
    assert not (tmp_path / "early").exists()  # nothing scored: no half-made run to trip over on the next try

    calls.clear()
    monkeypatch.setattr(TransformersBackend, "run", failing_from(3))
    with pytest.raises(UserInputError):
        evaluate(_config(tiny_model, mmlu_file, tmp_path / "late"))
    results = RunResults.model_validate_json((tmp_path / "late" / "results.json").read_text())
    assert results.status == "failed" and "no chat template" in results.error
    assert len(_records(tmp_path / "late")) == 8  # the two batches scored before the failure are kept

    monkeypatch.setattr(TransformersBackend, "run", original)
    resumed = evaluate(_config(tiny_model, mmlu_file, tmp_path / "late"))
    assert resumed.status == "complete" and resumed.error is None
    assert resumed.accuracy.answered == 28


def test_iterator_front_end_yields_the_same_events(tiny_model, mmlu_file, tmp_path):
    events = list(iter_evaluation(_config(tiny_model, mmlu_file, tmp_path / "run", limit=2)))
    assert isinstance(events[-1], RunFinished)
    with pytest.raises(UserInputError):
        list(iter_evaluation(_config(tiny_model, mmlu_file, tmp_path / "run2", subsets="astronmy")))


def test_shots_from_a_dev_split_and_refusals(tiny_model, mmlu_file, task_files, tmp_path, cache):
    results = evaluate(_config(tiny_model, mmlu_file, tmp_path / "run", shots=2, limit=2))
    assert results.identity.shots == 2
    recs = _records(tmp_path / "run")
    assert len(recs) == 6
    with pytest.raises(UserInputError, match="only 5 exemplars"):
        evaluate(_config(tiny_model, mmlu_file, tmp_path / "run2", shots=6))
    no_dev = tmp_path / "no_dev.jsonl"
    no_dev.write_text("".join(x + "\n" for x in mmlu_file.read_text().splitlines() if '"split": "dev"' not in x))
    with pytest.raises(UserInputError, match="needs a dev split"):
        evaluate(_config(tiny_model, no_dev, tmp_path / "run3", shots=1))
    with pytest.raises(UserInputError, match="arc_challenge has no few-shot pool offline"):
        evaluate(_task(tiny_model, task_files, "arc_challenge", tmp_path / "run4", shots=1))
    assert not (tmp_path / "run2").exists() and not (tmp_path / "run4").exists()


def test_model_cache_is_reused_across_evaluations(tiny_model, mmlu_file, task_files, tmp_path):
    from core.models import ModelCache

    models = ModelCache()
    first, second = [], []
    evaluate(_config(tiny_model, mmlu_file, tmp_path / "a", limit=1), first.append, models=models)
    evaluate(_task(tiny_model, task_files, "winogrande", tmp_path / "b", limit=2), second.append, models=models)
    load_a = next(e for e in first if isinstance(e, ModelLoaded))
    load_b = next(e for e in second if isinstance(e, ModelLoaded))
    assert not load_a.info.reused and load_b.info.reused
    assert models.holds(str(tiny_model), "cpu", "float32")
    assert not models.holds(str(tiny_model), "cpu", "bfloat16")


# -- the backend's numbers against plain forward passes ---------------------------------------------------------


def _reference_loglik(loaded, backend, context, continuation):
    """lm-eval's computation for one (context, continuation): one unpadded sequence, full log-softmax."""
    import torch

    ctx, cont = backend.encode_pair(context, continuation)
    with torch.inference_mode():
        logp = torch.log_softmax(loaded.model(torch.tensor([ctx + cont])).logits[0].float(), -1)
    return sum(logp[len(ctx) - 1 + k, tok].item() for k, tok in enumerate(cont))


REQUESTS = [
    ChoiceRequest(
        ("Question: star planet orbit?\nAnswer:",), (" mass light", " galaxy", " bone muscle virus", " moon")
    ),
    ChoiceRequest(("Q: energy?\nA:",), (" A", " B", " C")),  # one token each: one distribution
    ChoiceRequest(("the star is bright so the planet", "the star is bright so the moon"), (" orbits the sun.",)),
    ChoiceRequest(("comet nerve host light galaxy?\nAnswer: ",), (" x y z", " nerve")),  # trailing space moves
]


@pytest.mark.parametrize("model_name", ["tiny_model", "tiny_bytes_model"])
def test_batched_packed_scores_equal_one_sequence_per_choice(request, model_name):
    loaded = load_model(str(request.getfixturevalue(model_name)), device="cpu", dtype="float32")
    backend = TransformersBackend(loaded)
    prepared = [backend.prepare(r) for r in REQUESTS]
    if model_name == "tiny_model":
        assert [(p.data.shared, p.data.single) for p in prepared] == [
            (True, False), (True, True), (False, False), (True, False)
        ]  # fmt: skip
    out = backend.run(prepared)
    for req, res in zip(REQUESTS, out.results, strict=True):
        expected = [_reference_loglik(loaded, backend, c, k) for c, k in req.pairs()]
        assert res.logliks == pytest.approx(expected, abs=1e-4)
    for p, together in zip(prepared, out.results, strict=True):  # batch composition changes nothing
        assert backend.run([p]).results[0].logliks == pytest.approx(together.logliks, abs=1e-4)


def test_pair_encoding_follows_lm_eval(tiny_model):
    backend = TransformersBackend(load_model(str(tiny_model), device="cpu", dtype="float32"))
    ctx, cont = backend.encode_pair("Answer: ", "A")
    assert (ctx, cont) == (backend.encode("Answer:"), backend.encode("Answer: A")[len(backend.encode("Answer:")) :])
    ctx, cont = backend.encode_pair("", " moon")
    assert ctx == [backend.prefix_token_id] and cont == backend.tokenizer.encode(" moon", add_special_tokens=False)


def test_greedy_generation_in_a_batch_equals_one_at_a_time(tiny_model):
    import torch

    loaded = load_model(str(tiny_model), device="cpu", dtype="float32")
    backend = TransformersBackend(loaded)
    requests = [GenerateRequest("star planet orbit mass", ("moon",), 8), GenerateRequest("bone", ("\n\n",), 8)]
    out = backend.run([backend.prepare(r) for r in requests]).results
    for req, res in zip(requests, out, strict=True):
        ids = torch.tensor([backend.encode(req.context)])
        with torch.inference_mode():
            greedy = loaded.model.generate(ids, max_new_tokens=8, do_sample=False, pad_token_id=backend.pad_id)
        text = loaded.tokenizer.decode(greedy[0, ids.shape[1] :], skip_special_tokens=True)
        assert res.text == text.split(req.until[0])[0]
        assert res.prompt_tokens == ids.shape[1] and 0 < res.generated_tokens <= 8


def test_cancel_during_generation_discards_the_batch_and_resume_completes(
    tiny_model, task_files, tmp_path, monkeypatch
):
    cfg = dict(shots=0, max_new_tokens=5, batch_size=2)
    reference = evaluate(_task(tiny_model, task_files, "gsm8k", tmp_path / "ref", **cfg))
    cancel = threading.Event()
    original = TransformersBackend._generate
    calls = []

    def generate(self, batch, stop):
        calls.append(len(batch))
        if len(calls) == 2:
            cancel.set()  # the user cancels while the second batch is being generated
        return original(self, batch, stop)

    monkeypatch.setattr(TransformersBackend, "_generate", generate)
    partial = evaluate(_task(tiny_model, task_files, "gsm8k", tmp_path / "run", **cfg), cancel=cancel)
    assert partial.status == "cancelled" and len(_records(tmp_path / "run")) == 2  # only the first batch
    monkeypatch.setattr(TransformersBackend, "_generate", original)
    resumed = evaluate(_task(tiny_model, task_files, "gsm8k", tmp_path / "run", **cfg))
    assert resumed.status == "complete" and resumed.metrics == reference.metrics
    ref = {r.key: r.generated for r in _records(tmp_path / "ref")}
    assert {r.key: r.generated for r in _records(tmp_path / "run")} == ref


def test_cancel_while_the_model_loads_leaves_no_empty_run(tiny_model, mmlu_file, tmp_path):
    """Issue 11, item 9: cancelling during the load left a 0/N run folder behind."""
    cancel = threading.Event()
    events = []

    def on_event(e):
        events.append(e)
        if type(e).__name__ == "ModelLoading":
            cancel.set()  # the load itself cannot be interrupted; nothing is scored after it

    out = tmp_path / "run"
    result = evaluate(_config(tiny_model, mmlu_file, out), on_event, cancel)
    assert result.status == "cancelled" and isinstance(events[-1], RunCancelled) and events[-1].done == 0
    assert not out.exists()
    # a resumed run that is cancelled before scoring more keeps its folder
    cancel.clear()
    evaluate(_config(tiny_model, mmlu_file, out), lambda e: cancel.set() if isinstance(e, DocScored) else None, cancel)
    cancel.clear()
    kept = len(_records(out))
    assert kept > 0
    evaluate(_config(tiny_model, mmlu_file, out), on_event, cancel)
    assert out.exists() and len(_records(out)) == kept


def test_k_shot_prefix_reuse_gives_the_same_numbers(tiny_model, mmlu_file, tmp_path, monkeypatch):
    """5-shot MMLU: the shared exemplars' keys/values computed once per subset give the predictions and scores
    of recomputing them for every document (float32: equal within rounding)."""
    from core.backends.hf import TransformersBackend

    computed = []
    original = TransformersBackend._prefix_cache

    def spy(self, prefix):
        computed.append(len(prefix))
        return original(self, prefix)

    monkeypatch.setattr(TransformersBackend, "_prefix_cache", spy)
    evaluate(_config(tiny_model, mmlu_file, tmp_path / "reuse", shots=5))
    assert computed and min(computed) >= TransformersBackend.MIN_PREFIX  # the path under test ran
    calls = len(computed)
    evaluate(_config(tiny_model, mmlu_file, tmp_path / "plain", shots=5, prefix_reuse=False))
    assert len(computed) == calls  # off: never used
    reuse = {(r.subset, r.doc_id): r for r in _records(tmp_path / "reuse")}
    plain = {(r.subset, r.doc_id): r for r in _records(tmp_path / "plain")}
    assert reuse.keys() == plain.keys() and len(reuse) == 28
    for key, r in reuse.items():
        assert r.predicted == plain[key].predicted
        assert r.scores == pytest.approx(plain[key].scores, abs=1e-4)


def test_the_batch_is_sized_from_the_memory_free(tiny_model, mmlu_file, tmp_path, monkeypatch):
    """No --batch-size: each subject's batch is what half the free memory holds for its longest prompt (at most
    the default); with little memory free the batch shrinks before anything runs out of it."""
    from core import batching
    from core.events import BatchSizeReduced

    per = batching.bytes_per_sequence(_tiny_config(tiny_model), 200, 4)
    assert batching.fit_batch_size(_tiny_config(tiny_model), "cpu", 200, 4, cap=16) == 16  # this machine: plenty
    monkeypatch.setattr(batching, "free_bytes", lambda device: 2 * 3 * per)  # room for ~3 sequences of 200
    assert batching.fit_batch_size(_tiny_config(tiny_model), "cpu", 200, 4, cap=16) == 3
    events = []
    evaluate(_config(tiny_model, mmlu_file, tmp_path / "run", batch_size=None), events.append)
    reduced = [e for e in events if isinstance(e, BatchSizeReduced)]
    assert reduced and reduced[0].old == 16 and 1 <= reduced[0].new < 16 and "memory free" in reduced[0].reason
    assert len(_records(tmp_path / "run")) == 28


def _tiny_config(tiny_model):
    from transformers import AutoConfig

    return AutoConfig.from_pretrained(tiny_model)
