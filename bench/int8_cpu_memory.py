"""Benchmark: resident memory of bitsandbytes 8-bit on CPU with and without oneDNN's primitive cache.

llm-tui turns oneDNN's primitive cache off (ONEDNN_PRIMITIVE_CACHE_CAPACITY=0) for 8-bit on CPU, and only
there (core/models.py, `limit_onednn_cache`). This script measures both sides of that choice, each case in a
fresh process (oneDNN reads the variable once per process):

  int8     8-bit SmolLM2, forward passes over batches of 16 random prompts whose length changes every
           batch (as MMLU's length-sorted batches do): peak RSS and seconds, cache on vs off
  bf16     `llm-tui --batch` on its default questions in bfloat16: seconds, cache on vs off (why the cache
           stays on for everything else)

    python bench/int8_cpu_memory.py [--lengths 200,300,400,500] [--skip-bf16]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENV = "ONEDNN_PRIMITIVE_CACHE_CAPACITY"


def child(lengths: list[int]) -> None:
    """One process: load 8-bit SmolLM2, run the batches, print a JSON line."""
    sys.path.insert(0, str(ROOT))
    import torch

    from core.models import load_model

    loaded = load_model("smollm2-135m-instruct", "cpu", "bfloat16", "8bit")
    generator = torch.Generator().manual_seed(0)
    started = time.perf_counter()
    with torch.inference_mode():
        for length in lengths:
            ids = torch.randint(100, 30000, (16, length), generator=generator)
            loaded.model(input_ids=ids, logits_to_keep=1)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"seconds": seconds, "peak_rss": peak, "cache": os.environ.get(ENV, "default")}))


def run_child(lengths: list[int], cache: str) -> dict:
    env = dict(os.environ, **{ENV: cache})  # set explicitly either way, so llm-tui leaves it alone
    proc = subprocess.run(
        [sys.executable, __file__, "--child", "--lengths", ",".join(map(str, lengths))],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run_batch(cache: str) -> float:
    env = dict(os.environ, **{ENV: cache})
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "tui.cli", "--batch", "--dtype", "bfloat16", "--output", f"{tmp}/run"],
            env=env, cwd=ROOT, capture_output=True, text=True, check=True,
        )  # fmt: skip
        return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", default="200,300,400,500", help="prompt length of each batch of 16")
    parser.add_argument("--skip-bf16", action="store_true", help="only the 8-bit memory measurement")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ns = parser.parse_args()
    lengths = [int(x) for x in ns.lengths.split(",")]
    if ns.child:
        child(lengths)
        return 0
    sys.path.insert(0, str(ROOT))
    from core.devices import cpu_name

    print(f"machine: {cpu_name()}, {os.cpu_count()} cores, {platform.machine()}; batches of 16 at {lengths}")
    on = run_child(lengths, "1024")  # oneDNN's default capacity
    off = run_child(lengths, "0")
    print(f"int8  cache on : peak RSS {on['peak_rss'] / 2**30:.2f} GiB, {on['seconds']:.1f} s")
    print(f"int8  cache off: peak RSS {off['peak_rss'] / 2**30:.2f} GiB, {off['seconds']:.1f} s")
    print(
        f"int8  off/on   : peak RSS {off['peak_rss'] / on['peak_rss']:.2f}x, time {off['seconds'] / on['seconds']:.2f}x"
    )
    if not ns.skip_bf16:
        bf16_on = run_batch("1024")
        bf16_off = run_batch("0")
        print(f"bf16  llm-tui --batch (whole command): cache on {bf16_on:.1f} s, off {bf16_off:.1f} s")
        print(f"bf16  off/on   : time {bf16_off / bf16_on:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
