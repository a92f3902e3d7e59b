"""Benchmark: the chat engine's streaming generation against a plain ``model.generate`` on the same prompt.

Both sides get the same prompt tokens (the chat template of a system prompt and one user message, as the engine
plans it) and the same generation config (greedy, same max_new_tokens, from ``core.chat.generation``), and
must produce the same tokens. The runs alternate after one warm-up each, and the medians are compared.

  plain   ``model.generate(ids, max_new_tokens=N)``: no streamer, no stopping criterion. Its time to first
          token is the wall time of the same call with ``max_new_tokens=1``; decode speed is
          (N - 1) / (wall(N) - wall(1)).
  engine  a chat turn: every token goes through the streamer (incremental detokenization into ReplyDelta
          events) and the stop-event criterion. Time to first token is measured by the caller, from the call
          to the first ReplyDelta received; decode speed is the engine's own figure (tokens after the first
          over the time they took).

Two placements (one per run, never mixed in one process):
  thread  (default) what the app does: ``ChatSession.send()`` generates in a background thread and this
          thread reads the events from a queue; plain ``generate`` runs in a fresh thread too, so both sides
          pay the same thread costs (see the note on OpenMP below).
  same    what ``llm-tui chat --batch`` does: ``ChatSession.run_turn()`` and plain ``generate`` in this thread.

OpenMP note: torch's CPU kernels use libgomp, which gives every thread that runs torch code its own team of
spinning worker threads. With more OpenMP threads than free cores (two threads of one process running torch,
or another busy process on a small machine), parallel regions slow down, sometimes by 10x or more. Comparing a
plain call in the main thread with the engine in a background thread would measure that, not streaming; on a
shared machine, ``--threads 1`` keeps the figures stable.

    python bench/chat_speed.py [--model smollm2-135m-instruct] [--max-new-tokens 128] [--repeats 5]
                               [--placement thread|same] [--threads N] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.chat import ChatSession, ChatSettings, GenerationSettings, ReplyDelta, TurnFinished  # noqa: E402
from core.chat.generation import generation_kwargs  # noqa: E402
from core.devices import cpu_name  # noqa: E402
from core.models import load_model  # noqa: E402

SYSTEM = "You are a helpful assistant."
PROMPT = "Write a long, detailed story about a dragon who learns to cook, with many characters and places."


def plain_generate(model, ids, kwargs, max_new_tokens: int) -> tuple[float, list[int]]:
    import torch

    gc = kwargs["generation_config"]
    gc.max_new_tokens = max_new_tokens
    input_ids = torch.tensor([ids], dtype=torch.long, device=next(model.parameters()).device)
    start = time.perf_counter()
    with torch.inference_mode():
        out = model.generate(input_ids, attention_mask=torch.ones_like(input_ids), generation_config=gc)
    wall = time.perf_counter() - start
    return wall, out[0, len(ids) :].tolist()


def plain_run(model, ids, kwargs, n: int) -> dict:
    ttft, _ = plain_generate(model, ids, kwargs, 1)
    wall, tokens = plain_generate(model, ids, kwargs, n)
    decode = (len(tokens) - 1) / (wall - ttft) if wall > ttft else None
    return {"ttft_s": ttft, "wall_s": wall, "tokens": len(tokens), "decode_tps": decode, "ids": tokens}


def in_fresh_thread(fn, *args):
    box: list = []
    thread = threading.Thread(target=lambda: box.append(fn(*args)))
    thread.start()
    thread.join()
    return box[0]


def engine_run(session: ChatSession, threaded: bool) -> dict:
    session.clear()
    first: list[float] = []
    records = []
    start = time.perf_counter()

    def on_event(event) -> None:
        if isinstance(event, ReplyDelta) and not first:
            first.append(time.perf_counter() - start)
        elif isinstance(event, TurnFinished):
            records.append(event.record)

    if threaded:
        for event in session.send(PROMPT):
            on_event(event)
    else:
        session.run_turn(PROMPT, on_event)
    wall = time.perf_counter() - start
    record = records[0]
    return {
        "ttft_s": first[0],
        "engine_ttft_s": record.ttft_s,
        "wall_s": wall,
        "tokens": record.new_tokens,
        "decode_tps": record.tokens_per_s,
        "reply": record.reply,
    }


def median(rows: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in rows if r[key] is not None)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="smollm2-135m-instruct")
    p.add_argument("--device", default="auto")
    p.add_argument("--dtype", default="auto")
    p.add_argument("--max-new-tokens", type=int, default=128)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--placement", choices=("thread", "same"), default="thread")
    p.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's own choice)")
    p.add_argument("--json", help="also write the figures to this file")
    args = p.parse_args()
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)

    loaded = load_model(args.model, device=args.device, dtype=args.dtype)
    gen = GenerationSettings(max_new_tokens=args.max_new_tokens, temperature=0.0, repetition_penalty=1.0)
    session = ChatSession(loaded, ChatSettings(system_prompt=SYSTEM, generation=gen))
    ids = session.plan(PROMPT).prompt_ids
    kwargs = generation_kwargs(loaded.model, loaded.tokenizer, gen)
    print(
        f"{args.model} on {loaded.device} ({loaded.dtype}), {cpu_name() if loaded.device == 'cpu' else ''}; "
        f"prompt {len(ids)} tokens, greedy, max_new_tokens {args.max_new_tokens}, {args.repeats} repeats, "
        f"placement {args.placement}, {torch.get_num_threads()} torch threads"
    )
    if args.placement == "thread":
        sides = {
            "plain": lambda: in_fresh_thread(plain_run, loaded.model, ids, kwargs, args.max_new_tokens),
            "engine": lambda: engine_run(session, threaded=True),
        }
    else:
        sides = {
            "plain": lambda: plain_run(loaded.model, ids, kwargs, args.max_new_tokens),
            "engine": lambda: engine_run(session, threaded=False),
        }
    rows: dict[str, list[dict]] = {name: [] for name in sides}
    for run in sides.values():  # warm-up
        run()
    names = list(sides)
    for r in range(args.repeats):
        for name in names if r % 2 == 0 else names[::-1]:
            rows[name].append(sides[name]())
    plains, engines = rows["plain"], rows["engine"]
    same_ids = all(p["ids"] == plains[0]["ids"] for p in plains)
    same_text = loaded.tokenizer.decode(plains[0]["ids"], skip_special_tokens=True).strip() == engines[0]["reply"]
    assert same_ids and same_text, "plain generate and the engine produced different replies"
    assert all(e["tokens"] == plains[0]["tokens"] for e in engines)
    n = plains[0]["tokens"]

    res: dict = {
        "model": args.model,
        "device": loaded.device,
        "dtype": loaded.dtype,
        "cpu": cpu_name(),
        "machine": platform.machine(),
        "torch_threads": torch.get_num_threads(),
        "prompt_tokens": len(ids),
        "new_tokens": n,
        "repeats": args.repeats,
        "placement": args.placement,
        "medians": {},
        "runs": {
            name: [{k: v for k, v in x.items() if k not in ("ids", "reply")} for x in rs] for name, rs in rows.items()
        },
    }
    for name, rs in rows.items():
        keys = ("ttft_s", "wall_s", "decode_tps") + (("engine_ttft_s",) if name.startswith("engine") else ())
        res["medians"][name] = {k: round(median(rs, k), 4) for k in keys}
    print(f"{'':15}{'first token':>14}{'decode tok/s':>14}{'wall (' + str(n) + ' tok)':>16}")
    for name, m in res["medians"].items():
        print(f"{name:15}{m['ttft_s']:>12.3f} s{m['decode_tps']:>14.1f}{m['wall_s']:>14.3f} s")
    pl, en = res["medians"]["plain"], res["medians"]["engine"]
    res["decode_ratio"] = round(en["decode_tps"] / pl["decode_tps"], 4)
    res["end_to_end_ratio"] = round(pl["wall_s"] / en["wall_s"], 4)  # > 1: the engine took less time
    res["ttft_delta_s"] = round(en["ttft_s"] - pl["ttft_s"], 4)
    cost = max(0.0, 1 - min(res["decode_ratio"], res["end_to_end_ratio"]))
    res["streaming_stop_cost"] = round(cost, 4)
    print(
        f"engine / plain: decode {res['decode_ratio']:.3f}, end to end {res['end_to_end_ratio']:.3f}, first token "
        f"{res['ttft_delta_s'] * 1000:+.1f} ms; streaming + stop cost {cost * 100:.1f}% "
        f"({'within' if cost <= 0.10 else 'OVER'} the 10% limit)"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
