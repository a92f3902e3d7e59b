"""Report export: PNG charts, one multi-page PDF, a Markdown summary and analysis.json for a set of runs.

    report = write_report(["runs/a", "runs/b"], "report/", baseline=None)
    report.pdf, report.pages, report.markdown, report.charts, report.analysis.overlap.p_value

matplotlib (Agg canvas, PDF backend) is imported inside ``write_report`` only, so importing ``core`` or
``core.report`` stays cheap and pulls no plotting library in.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..analysis import DEFAULT_PERMUTATIONS, Analysis, ConfigComparison, Run, analyse, compare_configs, load_runs
from ..analysis.load import assign_labels
from ..errors import UserInputError

PDF = "report.pdf"
MARKDOWN = "report.md"
JSON = "analysis.json"


@dataclass(frozen=True)
class Report:
    out_dir: Path
    pdf: Path
    pages: int  # pages in the PDF (one chart each)
    markdown: Path
    json: Path
    charts: tuple[Path, ...]  # the PNG files, in PDF page order
    analysis: Analysis
    configs: ConfigComparison


def _prepare_out(out_dir: str | Path) -> Path:
    out = Path(out_dir).expanduser()
    if out.exists() and not out.is_dir():
        raise UserInputError(f"--out {out} is a file; give a folder for the report")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserInputError(f"cannot create --out {out} ({exc.strerror}); pick another folder") from None
    return out


def write_report(
    runs: Sequence[str | Path | Run],
    out_dir: str | Path,
    baseline: str | Path | int | None = None,
    permutations: int = DEFAULT_PERMUTATIONS,
    seed: int = 0,
    command: str | None = None,
) -> Report:
    """Analyse ``runs`` (folders or loaded Runs) and write the report into ``out_dir``.

    Raises UserInputError for bad input (fewer than 2 runs, no common questions, a missing folder, a
    baseline that is not among the runs, an unusable output folder) before writing anything.
    """
    loaded = [r for r in runs if isinstance(r, Run)]
    if len(loaded) == len(runs):
        run_list = list(loaded)
        if any(not r.label for r in run_list):
            assign_labels(run_list)
    elif loaded:
        raise TypeError("give either run folders or loaded Runs, not both")
    else:
        run_list = load_runs([Path(str(p)) for p in runs])
    analysis = analyse(run_list, permutations=permutations, seed=seed)
    comparison = compare_configs(run_list, baseline)
    out = _prepare_out(out_dir)

    from matplotlib.backends.backend_pdf import PdfPages

    from .charts import all_charts
    from .markdown import render

    charts = all_charts(analysis, comparison)
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
        md_path.write_text(
            render(
                analysis,
                comparison,
                run_list,
                [(p.name, c.title) for p, c in zip(pngs, charts, strict=True)],
                PDF,
                command,
            )
            + "\n",
            encoding="utf-8",
        )
        json_path = out / JSON
        json_path.write_text(json.dumps(_jsonable(analysis, comparison), indent=1) + "\n", encoding="utf-8")
    except OSError as exc:
        raise UserInputError(
            f"cannot write the report into {out} ({exc.strerror or exc}); pick another --out"
        ) from None
    return Report(out, pdf_path, pages, md_path, json_path, tuple(pngs), analysis, comparison)


def _jsonable(analysis: Analysis, comparison: ConfigComparison) -> dict[str, Any]:
    data = {"analysis": analysis.to_dict(), "configurations": comparison.to_dict()}
    return json.loads(json.dumps(data, default=lambda o: list(o) if isinstance(o, (tuple, set)) else str(o)))


__all__ = ["JSON", "MARKDOWN", "PDF", "Report", "write_report"]
