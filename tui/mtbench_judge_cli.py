"""`llm-tui mtbench judge` and `llm-tui mtbench show`: FastChat's grading by a judge you choose, and its results."""

from __future__ import annotations

import argparse
import threading
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from .cli_common import EXIT_INTERRUPTED, EXIT_OK, Parser, install_stop_signals

REFERENCES = {"corrected": "mt-bench-reference-0125", "gpt-4": "mt-bench-reference"}


def judge_parser() -> argparse.ArgumentParser:
    from core.devices import DEVICES, DTYPES

    p = Parser(
        prog="llm-tui mtbench judge",
        description="Grade MT-Bench answers with FastChat's judge prompts, writing FastChat's judgment format "
        "(OUTPUT/<judge>_single.jsonl or _pair.jsonl). Rerun the same command to resume.",
    )
    p.add_argument(
        "--answers",
        "-a",
        nargs="+",
        required=True,
        metavar="PATH",
        help="answer files, or folders of them (FastChat's model_answer/); a model is its file's name",
    )
    p.add_argument("--judge", "-j", required=True, metavar="URL|MODEL",
                   help="an OpenAI-compatible server (http://127.0.0.1:8080/v1: vLLM, llama.cpp, Ollama, OpenAI) "
                   "or a model llm-tui runs (alias, folder, .gguf, hub id)")  # fmt: skip
    p.add_argument("--judge-model", metavar="NAME", help="the served model, when the server serves several")
    p.add_argument("--output", "-o", required=True, help="folder of judgment files (FastChat's model_judgment/)")
    p.add_argument(
        "--mode",
        choices=("single", "pairwise"),
        default="single",
        help="single: a 1-10 rating per answer (default); pairwise: every pair of models, both orders",
    )
    p.add_argument("--reference", default="corrected", metavar="corrected|gpt-4|FILE",
                   help="reference answers for math, reasoning and coding: the corrected gpt-4-0125-preview file "
                   "(default), FastChat's original gpt-4 file, or a reference_answer .jsonl")  # fmt: skip
    p.add_argument("--questions", help="a question.jsonl in FastChat's format (default: the bundled 80)")
    p.add_argument("--per-category", type=int, metavar="N", help="judge the first N questions of each category only")
    p.add_argument("--max-tokens", type=int, default=2048, help="the judge's budget per judgment (default %(default)s)")
    p.add_argument("--api-key-env", metavar="VAR", help="the environment variable holding the judge server's key")
    p.add_argument("--concurrency", type=int, default=2, help="judgments in flight at a server (default %(default)s)")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds per judge request (default %(default)s)")
    p.add_argument("--backend", choices=("transformers", "llamacpp"), default="transformers",
                   help="how a local judge model runs (default %(default)s)")  # fmt: skip
    p.add_argument("--device", default="auto", choices=DEVICES)
    p.add_argument("--dtype", default="auto", choices=DTYPES)
    p.add_argument("--cache-dir", help="asset and converted-model cache (default $LLM_TUI_CACHE or ~/.cache/llm-tui)")
    p.add_argument("--quiet", "-q", action="store_true", help="a line every 10 judgments (and each failed one)")
    return p


def _reference_paths(choice: str, cache: Path) -> tuple[Path, Path | None]:
    """The chosen reference file, and the file that fills questions it lacks (the original, for the corrected)."""
    from core import assets
    from core.errors import UserInputError

    if choice in REFERENCES:
        path = assets.ensure(REFERENCES[choice], cache)
        return path, (assets.ensure(REFERENCES["gpt-4"], cache) if choice == "corrected" else None)
    path = Path(choice).expanduser()
    if not path.is_file():
        raise UserInputError(f"--reference {choice}: not a file, nor corrected or gpt-4")
    return path, None


def run_judge(ns: argparse.Namespace) -> int:
    from core.errors import UserInputError
    from core.fsutil import check_writable_dir
    from core.locations import cache_dir
    from core.mtbench import bundled_questions, load_questions, per_category
    from core.mtbench.judge import (
        JudgingStarted,
        JudgmentFinished,
        load_answer_files,
        load_judge_prompts,
        load_references,
        run_judging,
    )
    from core.mtbench.judges import open_judge

    if ns.max_tokens < 1:
        raise UserInputError(f"--max-tokens {ns.max_tokens}: must be 1 or more")
    if ns.concurrency < 1:
        raise UserInputError(f"--concurrency {ns.concurrency}: must be 1 or more")
    answers = load_answer_files([Path(a).expanduser() for a in ns.answers])
    out = Path(ns.output).expanduser()
    check_writable_dir(out if out.exists() else out.parent, "--output folder")
    cache = cache_dir(Path(ns.cache_dir).expanduser() if ns.cache_dir else None)
    from core import assets

    questions = load_questions(Path(ns.questions)) if ns.questions else bundled_questions(cache)
    if ns.per_category is not None:
        if ns.per_category < 1:
            raise UserInputError(f"--per-category {ns.per_category}: give 1 or more questions per category")
        chosen = {q.question_id for q in per_category(questions, ns.per_category)}
        answers = {m: {q: a for q, a in by_q.items() if q in chosen} for m, by_q in answers.items()}
    prompts = load_judge_prompts(assets.ensure("mt-bench-judge-prompts", cache))
    refs = load_references(*_reference_paths(ns.reference, cache))
    console = Console(highlight=False)
    cancel = threading.Event()
    restore = install_stop_signals(cancel, "stopping after the judgments in flight; finished ones are saved")
    judge = None
    try:
        judge = open_judge(ns.judge, cache, judge_model=ns.judge_model, backend=ns.backend, device=ns.device,
                           dtype=ns.dtype, api_key_env=ns.api_key_env, concurrency=ns.concurrency,
                           timeout_s=ns.timeout, on_retry=lambda m: console.print(f"[yellow]{escape(m)}[/]"),
                           cancel=cancel)  # fmt: skip

        def render(event: Any) -> None:
            if isinstance(event, JudgingStarted):
                console.print(f"judge {escape(event.judge)} ({escape(event.where)}): {event.total} judgments for "
                              f"{len(answers)} model(s), {event.total - event.todo} already in the file")  # fmt: skip
            elif isinstance(event, JudgmentFinished):
                if not ns.quiet or event.failed or event.done % 10 == 0 or event.done == event.total:
                    console.print(f"[{event.done}/{event.total}] question {event.question_id} turn {event.turn} "
                                  f"{escape(' vs '.join(event.models))}: {escape(event.verdict)}"
                                  + (f" ({event.retries} retries so far)" if event.retries else ""))  # fmt: skip
            elif type(event).__name__ == "Notice":
                console.print(f"[yellow]{escape(event.message)}[/]")

        path, judged = run_judging(judge, questions, answers, prompts, refs, out, mode=ns.mode,
                                   max_tokens=ns.max_tokens, emit=render, cancel=cancel)  # fmt: skip
    finally:
        restore()
        if judge is not None:
            judge.close()
    if cancel.is_set():
        console.print(f"stopped; {path} holds the finished judgments; the same command resumes")
        return EXIT_INTERRUPTED
    console.print(f"{judged} judged now; judgments in {path}; `llm-tui mtbench show --judgments {out}` sums them up")
    return EXIT_OK


def show_parser() -> argparse.ArgumentParser:
    p = Parser(
        prog="llm-tui mtbench show",
        description="MT-Bench results: mean score per model for turn 1, turn 2 and overall, per category, "
        "with 95% confidence intervals and the failed judgments; history on vs off; pairwise verdicts.",
    )
    p.add_argument("--judgments", "-j", nargs="+", required=True, metavar="PATH",
                   help="judgment files, or folders of them (FastChat's model_judgment/)")  # fmt: skip
    return p


def run_show(ns: argparse.Namespace) -> int:
    from core.mtbench.results import load_results

    from .mtbench_tables import score_tables

    res = load_results([Path(p).expanduser() for p in ns.judgments])
    console = Console(highlight=False)
    for table in score_tables(res):
        console.print(table)
    return EXIT_OK
