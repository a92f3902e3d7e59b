"""Report export: PNG charts, one multi-page PDF, a Markdown summary and analysis.json for a set of runs.

    report = write_report(["runs/a", "runs/b"], "report/", baseline=None)
    report.pdf, report.pages, report.markdown, report.charts, report.matrix, report.tasks[0].analysis

Runs of one task: the mistake analysis and configuration pages of that task (``report.analysis``). Runs of
several tasks: the models x tasks pages first (heatmap, bars with 95% intervals, time per task), then, for every
task with two or more runs, that task's pages (file names prefixed with the task: ``gsm8k-overlap.png``); a task
whose runs share no documents is noted and left to the models x tasks view.

analysis.json: ``{"matrix": ..., "analysis": ..., "configurations": ...}`` for one task, ``{"matrix": ...,
"tasks": {task: {"analysis": ..., "configurations": ...}}, "notices": [...]}`` for several.

matplotlib (Agg canvas, PDF backend) is imported inside ``write_report`` only, so importing ``core`` or
``core.report`` stays cheap and pulls no plotting library in.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..analysis import (
    DEFAULT_PERMUTATIONS,
    Analysis,
    ConfigComparison,
    Run,
    TaskMatrix,
    analyse,
    choose_baseline,
    compare_configs,
    load_runs,
    task_matrix,
)
from ..analysis.load import assign_labels
from ..errors import UserInputError
from ..fsutil import ensure_writable_dir, fs_error

PDF = "report.pdf"
MARKDOWN = "report.md"
JSON = "analysis.json"


@dataclass(frozen=True)
class TaskReport:
    """One task's comparison in the report (a task with two or more runs that share documents)."""

    task: str
    analysis: Analysis
    configs: ConfigComparison
    runs: tuple[Run, ...]


@dataclass(frozen=True)
class Report:
    out_dir: Path
    pdf: Path
    pages: int  # pages in the PDF (one chart each)
    markdown: Path
    json: Path
    charts: tuple[Path, ...]  # the PNG files, in PDF page order
    matrix: TaskMatrix | None  # models x tasks over every run (None: an MT-Bench-only report)
    tasks: tuple[TaskReport, ...]  # the tasks compared run against run
    notices: tuple[str, ...] = ()

    @property
    def several_tasks(self) -> bool:
        if self.matrix is None:
            return False
        return len(self.matrix.tasks) > 1

    @property
    def analysis(self) -> Analysis | None:
        """The analysis when the report covers one task (always set then), else None."""
        return self.tasks[0].analysis if len(self.tasks) == 1 and not self.several_tasks else None

    @property
    def configs(self) -> ConfigComparison | None:
        return self.tasks[0].configs if len(self.tasks) == 1 and not self.several_tasks else None


def _prepare_out(out_dir: str | Path) -> Path:
    out = Path(out_dir).expanduser()
    if out.exists() and not out.is_dir():
        raise UserInputError(f"--out {out} is a file; give a folder for the report")
    return ensure_writable_dir(out, "--out folder for the report")


def _runs(runs: Sequence[str | Path | Run]) -> list[Run]:
    loaded = [r for r in runs if isinstance(r, Run)]
    if len(loaded) == len(runs):
        run_list = list(loaded)
        if any(not r.label for r in run_list):
            assign_labels(run_list)
        return run_list
    if loaded:
        raise TypeError("give either run folders or loaded Runs, not both")
    return load_runs([Path(str(p)) for p in runs])


def compare_tasks(
    run_list: Sequence[Run],
    baseline: str | Path | int | None = None,
    permutations: int = DEFAULT_PERMUTATIONS,
    seed: int = 0,
) -> tuple[TaskMatrix, list[TaskReport], list[str]]:
    """The models x tasks matrix, each task's comparison, and notices, without writing anything.

    One task: its analysis (UserInputError for fewer than 2 runs or no common documents). Several tasks: every
    task with 2+ runs is analysed; one whose runs share no documents is noted, not fatal. ``baseline`` (a run
    folder or label) is used in each task that has it, and must be one of the runs.
    """
    if len(run_list) < 2:
        raise UserInputError(f"comparing needs at least 2 runs, got {len(run_list)}; give two or more run folders")
    matrix = task_matrix(run_list)
    if baseline is not None and not isinstance(baseline, int):
        choose_baseline(run_list, baseline)  # refuses a baseline that is none of the runs
    if len(matrix.tasks) == 1:
        analysis = analyse(run_list, permutations=permutations, seed=seed)
        return matrix, [TaskReport(matrix.tasks[0], analysis, compare_configs(run_list, baseline), tuple(run_list))], []
    reports, notices = [], []
    for task in matrix.tasks:
        group = [r for r in run_list if r.task == task]
        if len(group) < 2:
            continue
        try:
            analysis = analyse(group, permutations=permutations, seed=seed)
        except UserInputError as exc:
            notices.append(f"{task}: no run-against-run comparison ({exc})")
            continue
        try:
            base = None if baseline is None or isinstance(baseline, int) else baseline
            if base is not None:
                choose_baseline(group, base)
        except UserInputError:
            base = None
        reports.append(TaskReport(task, analysis, compare_configs(group, base), tuple(group)))
    singles = [t for t in matrix.tasks if sum(r.task == t for r in run_list) == 1]
    if singles:
        notices.append(f"one run each, so only in the models x tasks view: {', '.join(singles)}")
    return matrix, reports, notices


def write_report(
    runs: Sequence[str | Path | Run],
    out_dir: str | Path,
    baseline: str | Path | int | None = None,
    permutations: int = DEFAULT_PERMUTATIONS,
    seed: int = 0,
    command: str | None = None,
    mtbench: Any = None,
) -> Report:
    """Analyse ``runs`` (folders or loaded Runs, of one task or several) and write the report into ``out_dir``;
    ``mtbench`` (judgment Results) adds the MT-Bench pages and section, and alone makes an MT-Bench report.

    Raises UserInputError for bad input (fewer than 2 runs, runs of one task with no common questions, a
    missing folder, a baseline that is not among the runs, an unusable output folder) before writing anything.
    """
    run_list = _runs(runs) if runs or mtbench is None else []
    fresh = not Path(out_dir).expanduser().exists()
    out = _prepare_out(out_dir)  # an unusable --out is reported before the analysis runs
    try:
        if run_list or mtbench is None:
            matrix, task_reports, notices = compare_tasks(run_list, baseline, permutations, seed)
        else:
            matrix, task_reports, notices = None, [], []
    except BaseException:
        if fresh:
            with contextlib.suppress(OSError):
                out.rmdir()  # leave nothing behind for a refused report
        raise

    from matplotlib.backends.backend_pdf import PdfPages

    from .charts import task_charts
    from .markdown import Section, render
    from .matrix_charts import matrix_charts
    from .mtbench import mtbench_charts, mtbench_json, mtbench_lines

    several = matrix is not None and len(matrix.tasks) > 1
    charts = matrix_charts(matrix) if matrix is not None and several else []
    matrix_images = {c.kind: f"{c.name}.png" for c in charts}
    sections = []
    for tr in task_reports:
        own = task_charts(tr.analysis, tr.configs, prefix=f"{tr.task}-" if several else "")
        charts += own
        sections.append(Section(tr.analysis, tr.configs, tr.runs, {c.kind: f"{c.name}.png" for c in own}))
    mt_charts = mtbench_charts(mtbench) if mtbench is not None else []
    charts += mt_charts
    pngs = []
    pdf_path = out / PDF
    try:
        with PdfPages(pdf_path, metadata={"Title": "llm-tui report", "Creator": "llm-tui"}) as pdf:
            for chart in charts:
                png = out / f"{chart.name}.png"
                chart.figure.savefig(png, dpi=110)
                pdf.savefig(chart.figure)
                pngs.append(png)
            pages = pdf.get_pagecount()
        md_path = out / MARKDOWN
        listed = [(p.name, c.title) for p, c in zip(pngs, charts, strict=True)]
        mt_md = mtbench_lines(mtbench, {c.kind: f"{c.name}.png" for c in mt_charts}) if mtbench is not None else []
        if matrix is not None:
            text = render(matrix, sections, listed, PDF, command, notices, matrix_images)
            if mt_md:
                head, charts_part = text.split("\n## Charts\n", 1)
                text = head + "\n" + "\n".join(mt_md) + "\n## Charts\n" + charts_part
        else:
            text = "\n".join(["# llm-tui report: MT-Bench", ""] + ([f"Produced by `{command}`.", ""] if command else [])
                              + mt_md + ["## Charts", ""] + [f"- [{t}]({n})" for n, t in listed]
                              + [f"- all of them, one per page: [{PDF}]({PDF})", ""])  # fmt: skip
        md_path.write_text(text + "\n", encoding="utf-8")
        json_path = out / JSON
        data = _jsonable(matrix, task_reports, notices) if matrix is not None else {}
        if mtbench is not None:
            data["mtbench"] = mtbench_json(mtbench)
        json_path.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    except OSError as exc:
        raise fs_error(exc, out, "--out folder for the report") from None
    return Report(out, pdf_path, pages, md_path, json_path, tuple(pngs), matrix, tuple(task_reports), tuple(notices))


def _jsonable(matrix: TaskMatrix, reports: Sequence[TaskReport], notices: Sequence[str]) -> dict[str, Any]:
    data: dict[str, Any] = {"matrix": matrix.to_dict()}
    if len(matrix.tasks) == 1 and reports:
        data["analysis"] = reports[0].analysis.to_dict()
        data["configurations"] = reports[0].configs.to_dict()
    else:
        data["tasks"] = {
            r.task: {"analysis": r.analysis.to_dict(), "configurations": r.configs.to_dict()} for r in reports
        }
        data["notices"] = list(notices)
    return json.loads(json.dumps(data, default=lambda o: list(o) if isinstance(o, (tuple, set)) else str(o)))


__all__ = ["JSON", "MARKDOWN", "PDF", "Report", "TaskReport", "compare_tasks", "write_report"]
