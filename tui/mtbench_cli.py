"""`llm-tui mtbench answer`: MT-Bench's 80 two-turn questions answered by a model, headless and resumable.

Judging (`mtbench judge`) and results (`mtbench show`) are in mtbench_judge_cli.py.
"""

from __future__ import annotations

import argparse
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from .cli_common import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    Parser,
    add_backend_options,
    add_model_options,
    backend_fields,
    fail,
    install_stop_signals,
)


def answer_parser() -> argparse.ArgumentParser:
    from core.assets import DEFAULT_MODEL

    p = Parser(
        prog="llm-tui mtbench answer",
        description="Answer MT-Bench's two-turn questions with a model through llm-tui's chat engine, writing "
        "FastChat's answer format (OUTPUT/<model-id>.jsonl). Rerun the same command to resume.",
    )
    p.add_argument("--model", "-m", help=f"alias, folder, .gguf, hub id or served name (default {DEFAULT_MODEL})")
    p.add_argument("--output", "-o", required=True, help="folder of answer files (FastChat's model_answer/)")
    p.add_argument(
        "--history",
        choices=("on", "off"),
        default="on",
        help="turn 2 sees turn 1 (on, MT-Bench's setting) or not (off: an agent without memory)",
    )
    p.add_argument("--limit", type=int, help="the first N questions only")
    p.add_argument("--per-category", type=int, metavar="N", help="the first N questions of each of the 8 categories")
    p.add_argument("--max-new-tokens", type=int, default=512, help="cap per reply (default %(default)s)")
    p.add_argument("--model-id", help="the answers' model_id (default: the model's name, -nohistory with history off)")
    p.add_argument("--questions", help="a question.jsonl in FastChat's format (default: the bundled 80)")
    p.add_argument("--tokenizer", metavar="SPEC", help="a served model's tokenizer, as for `llm-tui chat`")
    add_model_options(p)
    add_backend_options(p)
    p.add_argument("--quiet", "-q", action="store_true", help="one line per question, no streamed text")
    return p


def run_mtbench(argv: Sequence[str]) -> int:
    from core.errors import LlmTuiError

    from .mtbench_judge_cli import judge_parser, run_judge, run_show, show_parser

    commands = {"answer": (answer_parser, _answer), "judge": (judge_parser, run_judge), "show": (show_parser, run_show)}
    if not argv or argv[0] not in commands:
        return fail("usage: llm-tui mtbench answer|judge|show [options] (--help after one of them says more)", 2)
    make_parser, run = commands[argv[0]]
    ns = make_parser().parse_args(list(argv[1:]))
    try:
        return run(ns)
    except LlmTuiError as exc:
        return fail(str(exc), exc.exit_code)


def _answer(ns: argparse.Namespace) -> int:
    from core.assets import DEFAULT_MODEL
    from core.errors import UserInputError
    from core.fsutil import check_writable_dir
    from core.locations import cache_dir
    from core.models import describe_spec
    from core.mtbench import (
        AnswerFinished,
        AnswerStarted,
        answer_questions,
        bundled_questions,
        load_questions,
        model_id_for,
        per_category,
    )

    if ns.limit is not None and ns.limit < 1:
        raise UserInputError(f"--limit {ns.limit}: give 1 or more questions")
    if ns.max_new_tokens < 1:
        raise UserInputError(f"--max-new-tokens {ns.max_new_tokens}: must be 1 or more")
    backend = backend_fields(ns)
    spec = ns.model or ("" if backend["backend"] == "openai" else DEFAULT_MODEL)
    if backend["backend"] != "openai":
        describe_spec(spec)
    check_writable_dir(Path(ns.output).parent if not Path(ns.output).exists() else Path(ns.output), "--output folder")
    cache = cache_dir(Path(ns.cache_dir).expanduser() if ns.cache_dir else None)
    questions = load_questions(Path(ns.questions)) if ns.questions else bundled_questions(cache)
    if ns.per_category is not None:
        if ns.per_category < 1:
            raise UserInputError(f"--per-category {ns.per_category}: give 1 or more questions per category")
        questions = per_category(questions, ns.per_category)
    questions = questions[: ns.limit] if ns.limit else questions
    console = Console(highlight=False)
    cancel = threading.Event()
    restore = install_stop_signals(cancel, "stopping after the reply in flight; finished answers are saved")
    try:
        from core.chat.remote import open_chat_model

        loaded = open_chat_model(
            backend["backend"], spec, cache, device=ns.device, dtype=ns.dtype, quant=ns.quant,
            trust_remote_code=ns.trust_remote_code, base_url=backend["base_url"], api_key_env=ns.api_key_env,
            tokenizer=ns.tokenizer, concurrency=ns.concurrency or 2, cancel=cancel,
        )  # fmt: skip
        history = ns.history == "on"
        model_id = ns.model_id or model_id_for(loaded.source.spec, history)
        console.print(f"{escape(model_id)}: {len(questions)} questions, history {ns.history}, "
                      f"at most {ns.max_new_tokens} new tokens per reply")  # fmt: skip

        def render(event: Any) -> None:
            if isinstance(event, AnswerStarted) and not ns.quiet:
                console.print(f"[dim][{event.done + 1}/{event.total}] question {event.question_id} "
                              f"({event.category})...[/]")  # fmt: skip
            elif isinstance(event, AnswerFinished):
                parts = [f"turn {i + 1}: {t.new_tokens} tok in {t.total_s or 0:.1f} s"
                         for i, t in enumerate(event.answer.llm_tui.turns if event.answer.llm_tui else [])]  # fmt: skip
                console.print(f"[{event.done}/{event.total}] question {event.answer.question_id}: " + "; ".join(parts))
            elif type(event).__name__ == "Notice":
                console.print(f"[yellow]{escape(event.message)}[/]")

        path, asked = answer_questions(loaded, questions, Path(ns.output), model_id=model_id, history=history,
                                       max_new_tokens=ns.max_new_tokens, emit=render, cancel=cancel)  # fmt: skip
    finally:
        restore()
    if cancel.is_set():
        console.print(f"stopped; {path} holds the finished answers; the same command resumes")
        return EXIT_INTERRUPTED
    console.print(f"{asked} answered now; answers in {path}")
    return EXIT_OK
