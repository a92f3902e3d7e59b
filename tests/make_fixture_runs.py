"""Deterministic run folders for the tests.

- Format 1 (``llm-tui-run/1``, MMLU, written before the task layer): the committed folders under
  tests/data/runs (run-a, run-b, run-c) used by the app's snapshot and Pilot tests and by the report tests.
  ``python tests/make_fixture_runs.py`` rewrites them byte for byte; they must not change.
- Format 2 (``llm-tui-run/2``): ``write_v2_run`` / ``write_v2_set`` build them in a test's temporary folder with
  the engine's own types (``DocRecord``, ``RunResults``, ``RunStore``, ``core.evaluate.summarise``). They are
  not committed (tests/data/runs is the app's runs folder in its snapshot tests). Their MMLU documents are the
  format-1 fixtures' questions ((subject, index) = (subset, doc_id)), so the two formats line up.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from core.evaluate import summarise
from core.mmlu.subjects import CATEGORY_OF
from core.runs import RunStore
from core.schema import LETTERS, RUN_FORMAT_V1, DocRecord, ModelInfo, RunIdentity, RunResults, Session, Timing
from core.tasks import Doc, get_task

ROOT = Path(__file__).parent / "data" / "runs"
SUBJECTS = {"astronomy": 12, "business_ethics": 8, "virology": 6}


def mmlu_answer(index: int) -> int:
    """The right choice of the fixtures' MMLU question ``index`` (the same in every subject and format)."""
    return (index * 7) % 4


def _summarise_v1(records: dict[tuple[str, int], dict[str, Any]]) -> dict[str, Any]:
    """Format 1's per-subject, per-category and overall accuracy (core.evaluate.summarise before the task layer)."""
    per_subject: dict[str, dict[str, Any]] = {}
    for s, n in SUBJECTS.items():
        recs = [records[(s, i)] for i in range(n) if (s, i) in records]
        correct = sum(1 for r in recs if r["correct"])
        per_subject[s] = {
            "category": CATEGORY_OF.get(s, "other"),
            "total": n,
            "answered": len(recs),
            "correct": correct,
            "accuracy": round(correct / len(recs), 6) if recs else None,
        }
    answered = sum(v["answered"] for v in per_subject.values())
    correct = sum(v["correct"] for v in per_subject.values())
    accs = [v["accuracy"] for v in per_subject.values() if v["accuracy"] is not None]
    categories: dict[str, dict[str, Any]] = {}
    for v in per_subject.values():
        c = categories.setdefault(v["category"], {"answered": 0, "correct": 0, "subjects": 0})
        c["answered"] += v["answered"]
        c["correct"] += v["correct"]
        c["subjects"] += 1
    for c in categories.values():
        c["accuracy"] = round(c["correct"] / c["answered"], 6) if c["answered"] else None
    return {
        "accuracy": {
            "micro": round(correct / answered, 6) if answered else None,
            "macro": round(sum(accs) / len(accs), 6) if accs else None,
            "correct": correct,
            "answered": answered,
            "total": sum(SUBJECTS.values()),
        },
        "subjects": per_subject,
        "categories": categories,
    }


def write_run(
    name: str, model: str, dtype: str, quant: str, skill: float, wall: float, seed: int, root: Path = ROOT
) -> None:
    """A format-1 MMLU run folder (as llm-tui wrote them before the task layer)."""
    rng = random.Random(seed)
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    records = {}
    for s, n in SUBJECTS.items():
        for i in range(n):
            answer = mmlu_answer(i)
            right = rng.random() < skill
            pred = answer if right else (answer + 1 + rng.randrange(3)) % 4
            probs = [0.1, 0.1, 0.1, 0.1]
            probs[pred] = 0.7
            records[(s, i)] = {
                "subject": s,
                "index": i,
                "question": f"{s} question {i}?",
                "choices": ["w", "x", "y", "z"],
                "answer": LETTERS[answer],
                "predicted": LETTERS[pred],
                "correct": right,
                "probs": probs,
                "scores": [0.0] * 4,
            }
    results = {
        "format": RUN_FORMAT_V1,
        "status": "complete",
        "run_dir": f"tests/data/runs/{name}",
        "identity": {
            "model": model,
            "device": "cpu",
            "dtype": dtype,
            "quant": quant,
            "data": {"source": "fixture"},
            "subjects": list(SUBJECTS),
            "limit": None,
            "shots": 0,
            "chat_template": False,
            "prompt_format": "lm-eval-mmlu-default-v1",
        },
        "config": {"model": model, "subjects": ",".join(SUBJECTS), "device": "cpu", "dtype": dtype, "quant": quant},
        "created": "2026-11-20T10:00:00+00:00",
        "updated": f"2026-11-20T10:{seed:02d}:00+00:00",
        "model": {"memory_bytes": 270_000_000 if quant == "none" else 160_000_000, "load_s": 1.5},
        "sessions": [{"started": "2026-11-20T10:00:00+00:00", "questions": 26, "load_s": 1.5}],
    }
    results.update(_summarise_v1(records))
    for s in SUBJECTS:
        results["subjects"][s]["timing"] = {
            "wall_s": wall / 3,
            "cpu_s": wall / 1.5,
            "gpu_s": None,
            "questions": SUBJECTS[s],
            "prompt_tokens": 900,
            "questions_per_s": SUBJECTS[s] / (wall / 3),
            "tokens_per_s": 2700 / wall,
            "peak_rss_bytes": 1_100_000_000,
            "peak_gpu_bytes": None,
        }
    results["timing"] = {
        "wall_s": wall,
        "cpu_s": wall * 2,
        "gpu_s": None,
        "questions": 26,
        "prompt_tokens": 2700,
        "questions_per_s": 26 / wall,
        "tokens_per_s": 2700 / wall,
        "peak_rss_bytes": 1_100_000_000,
        "peak_gpu_bytes": None,
        "load_s": 1.5,
        "load_s_sessions": [1.5],
    }
    (folder / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (folder / "questions.jsonl").write_text("".join(json.dumps(records[k]) + "\n" for k in sorted(records)))


def write_v1_set(root: Path = ROOT) -> None:
    write_run("run-a", "smollm2-135m-instruct", "bfloat16", "none", 0.3, 1.2, 1, root)
    write_run("run-b", "gemma-3-270m", "bfloat16", "none", 0.5, 1.0, 2, root)
    write_run("run-c", "smollm2-135m-instruct", "float32", "4bit", 0.35, 3.4, 3, root)


# ---- format 2 ---------------------------------------------------------------------------------------------------


def choice_record(
    task: str, subset: str, doc_id: int, question: str, choices: Sequence[str], gold: int, pick: int
) -> DocRecord:
    """A multiple-choice record as the engine writes it (acc, and acc_norm for tasks that report it)."""
    scores = [-2.0] * len(choices)
    scores[pick] = -1.0
    metrics = {"acc": float(pick == gold)}
    if task not in ("mmlu", "winogrande", "truthfulqa_mc1"):
        metrics["acc_norm"] = float(pick == gold)
    return DocRecord(
        task=task, subset=subset, doc_id=doc_id, prompt_hash=f"{task}-{subset}-{doc_id}", question=question,
        choices=list(choices), gold=gold, answer=LETTERS[gold], scores=scores, predicted=pick,
        predicted_norm=pick if "acc_norm" in metrics else None, pick=LETTERS[pick], metrics=metrics,
        correct=pick == gold, prompt_tokens=40,
    )  # fmt: skip


def gsm8k_record(doc_id: int, target: int, answer: int | None) -> DocRecord:
    """A GSM8K record: ``answer`` is the number the model ended with (None: no "The answer is")."""
    said = "[invalid]" if answer is None else str(answer)
    text = f"Some steps. The answer is {answer}." if answer is not None else "Some steps, no answer."
    right = answer == target
    return DocRecord(
        task="gsm8k", subset="gsm8k", doc_id=doc_id, prompt_hash=f"gsm8k-{doc_id}",
        question=f"Problem {doc_id}: how many?", answer=str(target), generated=text, pick=said,
        metrics={"exact_match": float(right), "exact_match_flex": float(right)}, correct=right,
        prompt_tokens=700, generated_tokens=30,
    )  # fmt: skip


def mmlu_records(skill: float, seed: int) -> list[DocRecord]:
    """The format-1 fixtures' MMLU questions, answered by a model of the given skill."""
    rng = random.Random(seed)
    out = []
    for s, n in SUBJECTS.items():
        for i in range(n):
            gold = mmlu_answer(i)
            pick = gold if rng.random() < skill else (gold + 1 + rng.randrange(3)) % 4
            out.append(choice_record("mmlu", s, i, f"{s} question {i}?", ["w", "x", "y", "z"], gold, pick))
    return out


def arc_records(task: str, n: int, skill: float, seed: int) -> list[DocRecord]:
    """ARC-style documents (a few with 3 or 5 choices, as ARC has), answered at the given skill."""
    rng = random.Random(seed)
    truth = random.Random(0)
    out = []
    for i in range(n):
        k = 5 if i % 11 == 5 else 3 if i % 13 == 7 else 4
        gold = truth.randrange(k)
        pick = gold if rng.random() < skill else (gold + 1 + rng.randrange(k - 1)) % k
        choices = [f"option {c} of {i}" for c in range(k)]
        out.append(choice_record(task, task, i, f"{task} question {i}?", choices, gold, pick))
    return out


def gsm8k_records(n: int, skill: float, seed: int) -> list[DocRecord]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        target = 10 + i
        roll = rng.random()
        answer = target if roll < skill else None if roll > 0.9 else target + 1 + (i % 3)
        out.append(gsm8k_record(i, target, answer))
    return out


def write_v2_run(
    folder: Path,
    model: str,
    records: Sequence[DocRecord],
    dtype: str = "bfloat16",
    quant: str = "none",
    shots: int = 0,
    wall: float = 2.0,
    limit: int | None = None,
) -> Path:
    """A complete format-2 run folder of ``records`` (all of one task), written with RunStore."""
    task = get_task(records[0].task)
    subsets = list(dict.fromkeys(r.subset for r in records))
    docs = {s: [Doc(s, r.doc_id, {}) for r in records if r.subset == s] for s in subsets}
    by_key = {r.key: r for r in records}
    identity = RunIdentity(
        model=model, device="cpu", dtype=dtype, quant=quant, task=task.name, subsets=subsets, limit=limit,
        shots=shots, prompt_format=task.prompt_format,
    )  # fmt: skip
    accuracy, metrics, per_subset, categories = summarise(task, by_key, subsets, docs)
    n = len(records)
    for s in subsets:
        k = len(docs[s])
        per_subset[s].timing = Timing(
            wall_s=wall * k / n, cpu_s=2 * wall * k / n, questions=k, prompt_tokens=40 * k,
            questions_per_s=n / wall, peak_rss_bytes=1_000_000_000,
        )  # fmt: skip
    results = RunResults(
        status="complete",
        run_dir=str(folder),
        identity=identity,
        task=task.info(),
        created="2026-11-21T10:00:00+00:00",
        updated="2026-11-21T10:05:00+00:00",
        machine={"cpu": "Test CPU", "cpu_count": 2, "device": "cpu", "gpu": None},
        model=ModelInfo(spec=model, memory_bytes=270_000_000, load_s=1.5, device="cpu", dtype=dtype, quant=quant),
        sessions=[Session(started="2026-11-21T10:00:00+00:00", questions=n, load_s=1.5)],
        accuracy=accuracy,
        metrics=metrics,
        subsets=per_subset,
        categories=categories,
        timing=Timing(
            wall_s=wall, cpu_s=2 * wall, questions=n, prompt_tokens=40 * n, questions_per_s=n / wall,
            peak_rss_bytes=1_000_000_000, load_s=1.5, load_s_sessions=[1.5],
        ),
    )  # fmt: skip
    store = RunStore(folder)
    store.open(identity)
    store.append(list(records))
    store.write_results(results)
    return folder


def write_v2_set(root: Path) -> dict[tuple[str, str], Path]:
    """Two models x two tasks (MMLU on the format-1 fixtures' questions, ARC-Easy), format 2."""
    return {
        ("smollm2", "mmlu"): write_v2_run(root / "smollm2-mmlu", "smollm2-135m-instruct", mmlu_records(0.3, 11)),
        ("gemma", "mmlu"): write_v2_run(root / "gemma-mmlu", "gemma-3-270m", mmlu_records(0.5, 12), wall=1.0),
        ("smollm2", "arc_easy"): write_v2_run(
            root / "smollm2-arc", "smollm2-135m-instruct", arc_records("arc_easy", 40, 0.45, 13), wall=3.0
        ),
        ("gemma", "arc_easy"): write_v2_run(
            root / "gemma-arc", "gemma-3-270m", arc_records("arc_easy", 40, 0.6, 14), wall=1.5
        ),
    }


if __name__ == "__main__":
    write_v1_set()
