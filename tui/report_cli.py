"""`llm-tui report RUN_DIR... --out DIR [--baseline RUN_DIR]`: charts (PNG, one PDF) and a Markdown summary.

Runs of one task are compared run against run; runs of several tasks also get the models x tasks view (each
task's primary metric per model), and each task with two or more runs its own comparison pages.

Exit codes: 0 written, 2 bad input (one line `llm-tui: error: ...` on stderr, no traceback), 1 failure.
"""

from __future__ import annotations

import argparse
import shlex

from .cli_common import EXIT_BAD_INPUT, EXIT_OK, Parser, fail


def _parser() -> argparse.ArgumentParser:
    from core.analysis import DEFAULT_PERMUTATIONS

    p = Parser(
        prog="llm-tui report",
        description=(
            "Compare two or more runs on the questions they share: mistake patterns (shared or random, with a "
            "permutation test), pairwise agreement, McNemar, letter bias, time and memory by configuration. "
            "Runs of several tasks also get a models x tasks view (each task's primary metric with 95% intervals, "
            "time per task) and one comparison per task with two or more runs. "
            "Writes PNG charts, report.pdf (one chart per page), report.md and analysis.json into --out."
        ),
    )
    p.add_argument(
        "runs",
        nargs="*",
        metavar="RUN_DIR",
        help="run folders (each holds results.json), or folders holding runs (a multi-run --output)",
    )
    p.add_argument(
        "--mtbench",
        nargs="+",
        metavar="PATH",
        help="MT-Bench judgment files or folders (`llm-tui mtbench judge --output`): adds the MT-Bench pages; "
        "alone, the report is MT-Bench's",
    )
    p.add_argument("--out", "-o", required=True, metavar="DIR", help="folder for the report (created if needed)")
    p.add_argument(
        "--baseline",
        metavar="RUN_DIR",
        help="the run the configuration ratios are relative to (default: the float32 CPU run, else the first)",
    )
    p.add_argument(
        "--permutations",
        type=int,
        default=DEFAULT_PERMUTATIONS,
        metavar="N",
        help="shuffles for the overlap permutation test (default %(default)s)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the permutation test (default %(default)s)")
    return p


def run_report(argv: list[str]) -> int:
    try:
        ns = _parser().parse_args(argv)
    except SystemExit as exc:  # --help (0) or a bad flag (2, message already printed)
        return exc.code if isinstance(exc.code, int) else EXIT_BAD_INPUT
    if ns.permutations < 100:
        return fail(f"--permutations {ns.permutations} is too few for a p-value; use 100 or more", EXIT_BAD_INPUT)

    from core.analysis import VERDICTS
    from core.errors import LlmTuiError
    from core.report import write_report
    from core.report.text import p_text
    from core.runs import expand_run_dirs

    command = "llm-tui report " + " ".join(shlex.quote(a) for a in argv)
    if not ns.runs and not ns.mtbench:
        return fail("give two or more run folders, or --mtbench JUDGMENT_DIR, or both", EXIT_BAD_INPUT)
    try:
        mtbench = None
        if ns.mtbench:
            from pathlib import Path

            from core.mtbench.results import load_results

            mtbench = load_results([Path(p).expanduser() for p in ns.mtbench])
        runs = expand_run_dirs(ns.runs) if ns.runs else []
        report = write_report(runs, ns.out, ns.baseline, ns.permutations, ns.seed, command, mtbench=mtbench)
    except LlmTuiError as exc:
        return fail(str(exc), exc.exit_code)
    matrix = report.matrix
    if mtbench is not None:
        print(f"MT-Bench: {len(mtbench.summaries)} model(s), {len(mtbench.single)} judgments, "
              f"{len(mtbench.pairs)} pairwise")  # fmt: skip
    if matrix is not None and report.several_tasks:
        print(
            f"models x tasks: {len(matrix.models)} model configurations x {len(matrix.tasks)} tasks "
            f"({len(matrix.cells)} runs: {', '.join(matrix.tasks)})"
        )
    for part in report.tasks:
        a, test = part.analysis, part.analysis.overlap
        where = f"{part.task}: " if report.several_tasks else ""
        print(f"{where}compared {len(a.runs)} runs on {a.questions} common questions")
        print(
            f"{where}mistakes: {VERDICTS[test.verdict]}: permutation {p_text(test.p_value, test.p_floor)}, "
            f"{test.shared_wrong} shared vs {test.shared_wrong_expected:.1f} expected if independent"
        )
    for notice in report.notices:
        print(f"note: {notice}")
    print(f"wrote {report.pdf} ({report.pages} pages), {report.markdown}, {report.json}")
    print(f"      {len(report.charts)} PNG charts: {', '.join(p.name for p in report.charts)}")
    return EXIT_OK
