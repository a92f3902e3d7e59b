"""Writes the deterministic run folders under tests/data/runs used by the app's snapshot and Pilot tests.

python tests/make_fixture_runs.py
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from core.evaluate import summarise
from core.mmlu.data import LETTERS, Question
from core.runs import RUN_FORMAT

ROOT = Path(__file__).parent / "data" / "runs"
SUBJECTS = {"astronomy": 12, "business_ethics": 8, "virology": 6}


def write_run(name: str, model: str, dtype: str, quant: str, skill: float, wall: float, seed: int) -> None:
    rng = random.Random(seed)
    folder = ROOT / name
    folder.mkdir(parents=True, exist_ok=True)
    plan = {
        s: [Question(s, i, f"{s} question {i}?", ("w", "x", "y", "z"), (i * 7) % 4) for i in range(n)]
        for s, n in SUBJECTS.items()
    }
    records = {}
    for s, qs in plan.items():
        for q in qs:
            right = rng.random() < skill
            pred = q.answer if right else (q.answer + 1 + rng.randrange(3)) % 4
            probs = [0.1, 0.1, 0.1, 0.1]
            probs[pred] = 0.7
            records[(s, q.index)] = {
                "subject": s,
                "index": q.index,
                "question": q.question,
                "choices": list(q.choices),
                "answer": LETTERS[q.answer],
                "predicted": LETTERS[pred],
                "correct": right,
                "probs": probs,
                "scores": [0.0] * 4,
            }
    results = {
        "format": RUN_FORMAT,
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
    results.update(summarise(records, list(SUBJECTS), plan))
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


if __name__ == "__main__":
    write_run("run-a", "smollm2-135m-instruct", "bfloat16", "none", 0.3, 1.2, 1)
    write_run("run-b", "gemma-3-270m", "bfloat16", "none", 0.5, 1.0, 2)
    write_run("run-c", "smollm2-135m-instruct", "float32", "4bit", 0.35, 3.4, 3)
