"""Benchmark: llm-tui's MMLU engine against the way the original course script worked.

The course script (llama_mmlu_eval.py) loaded the model in float32 on CPU and, for each question, built a
prompt, called `model.generate(max_new_tokens=1)`, decoded the new token and parsed the letter. llm-tui
batches questions sorted by length, runs one forward pass per batch keeping only the last position's
logits, compares the four letters' log-likelihoods, and uses bfloat16 where the CPU runs it natively.

All three measurements run here, in one process, on the same questions and model weights:
  baseline      float32, one question at a time, generate() one token, parse the letter
  engine fp32   llm-tui's engine forced to float32 (the effect of batching and last-position logits alone)
  engine auto   llm-tui's engine with its default dtype (what `llm-tui --batch` does)

    python bench/mmlu_speed.py [--model smollm2-135m-instruct] [--subjects astronomy,business_ethics] [--limit N]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.config import EvalConfig  # noqa: E402
from core.devices import cpu_name, resolve_dtype  # noqa: E402
from core.evaluate import evaluate  # noqa: E402
from core.locations import cache_dir  # noqa: E402
from core.mmlu.data import LETTERS, load_bundled  # noqa: E402
from core.mmlu.subjects import parse_subjects  # noqa: E402
from core.models import load_model  # noqa: E402


def course_prompt(q) -> str:
    """The course script's prompt: question, lettered choices, 'Answer:'."""
    text = f"{q.question}\n\n" + "".join(f"{L}. {c}\n" for L, c in zip(LETTERS, q.choices, strict=True))
    return text + "\nAnswer:"


def baseline(model_spec: str, questions: list) -> tuple[float, int]:
    import torch

    loaded = load_model(model_spec, device="cpu", dtype="float32")
    model, tok = loaded.model, loaded.tokenizer
    correct = 0
    start = time.perf_counter()
    for q in questions:
        inputs = tok(course_prompt(q), return_tensors="pt")
        with torch.no_grad():
            out = model.generate(**inputs, max_new_tokens=1, do_sample=False, pad_token_id=tok.eos_token_id)
        text = tok.decode(out[0][inputs["input_ids"].shape[1] :], skip_special_tokens=True).strip().upper()
        answer = next((ch for ch in text if ch in LETTERS), "A")
        correct += answer == q.answer_letter
    return time.perf_counter() - start, correct


def engine(model_spec: str, subjects: list[str], limit: int | None, dtype: str) -> tuple[float, int, dict]:
    with tempfile.TemporaryDirectory() as tmp:
        cfg = EvalConfig(
            model=model_spec,
            subsets=",".join(subjects),
            device="cpu",
            dtype=dtype,
            limit=limit,
            output=str(Path(tmp) / "run"),
        )
        results = evaluate(cfg)
        lines = (Path(tmp) / "run" / "questions.jsonl").read_text().splitlines()
    predicted = {(r["subset"], r["doc_id"]): r["predicted"] for r in map(json.loads, lines)}
    return results.timing.wall_s, results.accuracy.correct, predicted


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="smollm2-135m-instruct")
    p.add_argument("--subjects", default="astronomy,business_ethics")
    p.add_argument("--limit", type=int)
    ns = p.parse_args()
    subjects = parse_subjects(ns.subjects)
    data = load_bundled(cache_dir())
    questions = [q for s in subjects for q in data.test[s][: ns.limit]]
    n = len(questions)
    load_model(ns.model, device="cpu", dtype="float32")  # warm the cache (conversion, file cache) for fairness
    auto = resolve_dtype("auto", "cpu")
    print(f"machine: {cpu_name()}, {platform.machine()}, python {platform.python_version()}")
    print(f"model {ns.model}, {n} questions ({', '.join(subjects)}), device cpu; model load excluded")
    rows = [("baseline (course script, float32, 1 q at a time, generate)", *baseline(ns.model, questions))]
    secs32, correct32, pred32 = engine(ns.model, subjects, ns.limit, "float32")
    secs_auto, correct_auto, pred_auto = engine(ns.model, subjects, ns.limit, "auto")
    rows.append(("engine float32 (batched, last-position scores)", secs32, correct32))
    rows.append((f"engine default dtype ({auto})", secs_auto, correct_auto))
    base = rows[0][1]
    print(f"{'method':<62} {'seconds':>8} {'q/s':>7} {'accuracy':>9} {'speed-up':>9}")
    for name, secs, correct in rows:
        print(f"{name:<62} {secs:8.2f} {n / secs:7.1f} {correct / n:9.1%} {base / secs:8.2f}x")
    same = sum(pred32[k] == pred_auto[k] for k in pred32)
    print(f"engine float32 vs {auto}: same answer on {same}/{len(pred32)} questions")
    print(f"speed ratio (engine default / baseline): {base / rows[-1][1]:.2f}x")


if __name__ == "__main__":
    main()
