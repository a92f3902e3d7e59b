"""Benchmark: k-shot prefix reuse (issue 14). 5-shot MMLU with the transformers backend, the shared description
and exemplars computed once per subject and their keys/values reused for every batch, against recomputing them
for every document (`--no-prefix-reuse`). Both in one process, on the same questions, the model loaded once.

Prints questions/s each way, the speed-up, and how many predictions agree (float32: all of them).

    python bench/prefix_reuse.py [--model smollm2-135m-instruct] [--limit 40] [--dtype float32]
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
from core.devices import cpu_name  # noqa: E402
from core.evaluate import evaluate  # noqa: E402
from core.mmlu.subjects import SEED_SUBJECTS  # noqa: E402
from core.models import ModelCache  # noqa: E402


def run(out: Path, ns: argparse.Namespace, reuse: bool, models: ModelCache) -> tuple[float, dict]:
    config = EvalConfig(model=ns.model, subsets=",".join(SEED_SUBJECTS), shots=5, limit=ns.limit, device="cpu",
                        dtype=ns.dtype, output=str(out), prefix_reuse=reuse)  # fmt: skip
    t0 = time.perf_counter()
    results = evaluate(config, models=models)
    wall = time.perf_counter() - t0
    picks = {}
    for line in (out / "questions.jsonl").read_text().splitlines():
        r = json.loads(line)
        picks[(r["subset"], r["doc_id"])] = r["predicted"]
    return wall, {"picks": picks, "accuracy": results.accuracy.micro, "n": len(picks)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="smollm2-135m-instruct")
    p.add_argument("--limit", type=int, default=40, help="questions per subject (default %(default)s)")
    p.add_argument("--dtype", default="float32")
    ns = p.parse_args()
    models = ModelCache()
    with tempfile.TemporaryDirectory() as tmp:
        # load the model once, outside both timings
        models.load(ns.model, "cpu", ns.dtype, "none")
        wall_on, on = run(Path(tmp) / "reuse", ns, True, models)
        wall_off, off = run(Path(tmp) / "plain", ns, False, models)
    same = sum(on["picks"][k] == off["picks"].get(k) for k in on["picks"])
    n = on["n"]
    print(f"machine: {cpu_name()} ({platform.machine()}), {ns.model}, {ns.dtype}, 5-shot MMLU, "
          f"{len(SEED_SUBJECTS)} seed subjects x {ns.limit} = {n} questions")  # fmt: skip
    print(f"prefix reuse:    {wall_on:8.1f} s  {n / wall_on:6.2f} q/s  accuracy {on['accuracy']:.4f}")
    print(f"recomputed:      {wall_off:8.1f} s  {n / wall_off:6.2f} q/s  accuracy {off['accuracy']:.4f}")
    print(f"speed-up: {wall_off / wall_on:.2f}x (goal >= 3x); same predictions: {same}/{n}")


if __name__ == "__main__":
    main()
