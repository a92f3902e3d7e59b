"""The three backends side by side on one machine, in one run (issue 12).

    python bench/backends.py [--model smollm2-135m-instruct] [--tokens 128] [--questions all|N] [--vllm URL]

1. Chat decode speed on one prompt, greedy: the `llamacpp` backend (llama.cpp in this process through xllamacpp,
   driven as the chat engine drives it), xllamacpp's own server measured directly over HTTP (its server started
   here on 127.0.0.1, requests streamed by hand), and the `transformers` backend in bfloat16. Decode tok/s =
   (tokens - 1) / (last token time - first token time), each the best of ``--repeats``.
2. MMLU questions/s on the same questions (astronomy + business_ethics, 252): `transformers` (auto dtype),
   `llamacpp` in-process, `openai` against the llama.cpp server, and `openai` against vLLM when --vllm is given.

Prints each figure and the ratios the issue asks for: llamacpp / server (goal >= 0.9), llamacpp / transformers
bf16 (goal >= 2.5).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PROMPT = "Write a long, detailed story about a lighthouse keeper who finds a message in a bottle."


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(gguf: Path, name: str, threads: int) -> tuple[subprocess.Popen, str]:
    import httpx

    port = free_port()
    cmd = [sys.executable, "-m", "core.backends.llamacpp_server", str(gguf), str(port), "--name", name,
           "--parallel", "1", "--threads", str(threads)]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return proc, url
        except httpx.TransportError:
            time.sleep(0.2)
    raise SystemExit("the llama.cpp server did not start")


def decode_speed(stamps: list[float]) -> float | None:
    return (len(stamps) - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 1 and stamps[-1] > stamps[0] else None


def server_direct(url: str, name: str, ids: list[int], tokens: int) -> tuple[float | None, int, float | None]:
    """Streamed by hand: one timestamp per token event; also the server's own decode figure."""
    import httpx

    body = {"model": name, "prompt": ids, "max_tokens": tokens, "temperature": 0, "stream": True,
            "ignore_eos": True}  # fmt: skip
    stamps: list[float] = []
    own = None
    with httpx.stream("POST", url + "/v1/completions", json=body, timeout=300) as r:
        for line in r.iter_lines():
            if not line.startswith("data:") or line.endswith("[DONE]"):
                continue
            chunk = json.loads(line[5:])
            if any(c.get("text") for c in chunk.get("choices") or []):
                stamps.append(time.perf_counter())
            if chunk.get("timings"):
                own = chunk["timings"].get("predicted_per_second")
    return decode_speed(stamps), len(stamps), own


def llamacpp_backend(remote, ids: list[int], tokens: int) -> tuple[float | None, int]:
    from core.chat.settings import GenerationSettings

    stamps: list[float] = []
    settings = GenerationSettings(max_new_tokens=tokens, temperature=0.0)
    remote.generate(ids, settings, threading.Event(), lambda _d, _n: stamps.append(time.perf_counter()))
    return decode_speed(stamps), len(stamps)


def transformers_bf16(model: str, ids: list[int], tokens: int) -> tuple[float | None, int]:
    from core.chat.generation import generate_reply
    from core.chat.settings import GenerationSettings
    from core.models import load_model

    loaded = load_model(model, "cpu", "bfloat16", "none")
    settings = GenerationSettings(max_new_tokens=tokens, temperature=0.0)
    result = generate_reply(loaded.model, loaded.tokenizer, ids, settings)
    return result.tokens_per_s, result.new_tokens


def mmlu(args: list[str], label: str, env: dict[str, str]) -> float | None:
    out = Path(tempfile.mkdtemp(prefix="bench-backends-"))
    cmd = [sys.executable, "-m", "tui.cli", "--batch", "--subjects", "astronomy,business_ethics", *args,
           "--output", str(out / "run")]  # fmt: skip
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        print(f"  {label}: failed: {done.stderr.strip()[-300:]}")
        return None
    results = json.loads((out / "run" / "results.json").read_text())
    shutil.rmtree(out, ignore_errors=True)
    t = results["timing"]
    qps = t["questions"] / t["wall_s"] if t.get("wall_s") else None
    print(f"  {label:38s} {qps:6.2f} q/s   acc {100 * results['accuracy']['micro']:.1f}%   wall {t['wall_s']:.1f} s")
    return qps


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    ap.add_argument("--skip-mmlu", action="store_true")
    ap.add_argument("--vllm", help="an OpenAI base URL of vLLM serving the same model, for the MMLU table")
    ns = ap.parse_args()

    from core import assets
    from core.chat.remote import connect_remote
    from core.chat.template import PromptFormat
    from core.locations import cache_dir

    cache = cache_dir(None)
    gguf = assets.ensure(ns.model, cache)
    remote = connect_remote("llamacpp", ns.model, cache, concurrency=1)
    ids = PromptFormat.for_tokenizer(remote.tokenizer).encode([{"role": "user", "content": PROMPT}])
    print(f"machine: {os.cpu_count()} CPUs visible, {ns.threads} threads for llama.cpp; model {ns.model} ({gguf.name})")
    print(f"prompt: {len(ids)} tokens; up to {ns.tokens} new tokens, greedy; best of {ns.repeats}")

    inproc = [llamacpp_backend(remote, ids, ns.tokens) for _ in range(ns.repeats)]
    remote.client.close()
    proc, url = start_server(gguf, ns.model, ns.threads)
    try:
        direct = [server_direct(url, ns.model, ids, ns.tokens) for _ in range(ns.repeats)]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    hf = [transformers_bf16(ns.model, ids, ns.tokens) for _ in range(ns.repeats)]

    best_in = max(s for s, _ in inproc if s)
    best_direct = max(s for s, _, _ in direct if s)
    own = max(o for _, _, o in direct if o)
    best_hf = max(s for s, _ in hf if s)
    print("\nchat decode tok/s")
    print(f"  llamacpp backend (in-process)        {best_in:7.1f}   ({inproc[0][1]} tokens)")
    print(f"  xllamacpp server, measured directly  {best_direct:7.1f}   (its own timings: {own:.1f})")
    print(f"  transformers, bfloat16               {best_hf:7.1f}   ({hf[0][1]} tokens)")
    print(f"  ratio llamacpp / server direct:      {best_in / best_direct:.2f}  (goal >= 0.9)")
    print(f"  ratio llamacpp / transformers bf16:  {best_in / best_hf:.2f}  (goal >= 2.5)")

    if ns.skip_mmlu:
        return 0
    env = dict(os.environ, OMP_NUM_THREADS=str(ns.threads))
    print("\nMMLU astronomy + business_ethics (252 questions), questions/s over the documents")
    qps = {"transformers": mmlu(["--model", ns.model], "transformers (auto dtype)", env)}
    qps["llamacpp"] = mmlu(["--model", ns.model, "--backend", "llamacpp", "--concurrency", "1"],
                           "llamacpp in-process", env)  # fmt: skip
    proc, url = start_server(gguf, ns.model, ns.threads)
    try:
        qps["server"] = mmlu(["--base-url", url, "--concurrency", "1"], "openai -> llama.cpp server", env)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    if ns.vllm:
        qps["vllm"] = mmlu(["--base-url", ns.vllm, "--concurrency", "4"], "openai -> vLLM", env)
    if qps["transformers"] and qps["llamacpp"]:
        print(f"  ratio llamacpp / transformers: {qps['llamacpp'] / qps['transformers']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
