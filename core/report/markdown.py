"""The report's Markdown: per task, every table of the mistake analysis and configuration comparison, with
p-values (``task_section``); the whole document (``render``), with the models x tasks tables first when the runs
cover several tasks (``matrix_markdown``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..analysis import VERDICTS, Analysis, ConfigComparison, OverlapTest, QuestionRef, TaskMatrix
from ..analysis.load import Run
from .matrix_markdown import matrix_lines
from .text import fixed, fmt_p, mebibytes, num, p_text, pct, ratio
from .text import interval as _interval
from .text import md_cell as _cell
from .text import md_table as _table

MAX_LISTED = 10  # questions listed per subset and kind; the rest are counted


def _machine(run: Run) -> str:
    m = run.results.machine
    gpu = m.get("gpu")
    gpu_name = gpu.get("name") if isinstance(gpu, dict) else gpu
    cpu = f"{m.get('cpu') or '?'} ({m.get('cpu_count') or '?'} cores)"
    return f"{cpu}, {gpu_name}" if gpu_name else cpu


def overlap_lines(test: OverlapTest, unit: str = "subject") -> list[str]:
    """``unit``: what the task calls a subset ("subject" for MMLU, "subset" for most tasks)."""
    by_subset = test.strata == "subset"
    rates = f"per-{unit}" if by_subset else f"per-{unit}-and-right-letter"
    ratio_text = f" ({test.excess_shared:.2f}x)" if test.excess_shared is not None else ""
    lines = [
        f"- **Null: independent errors at {rates} rates. Permutation test {p_text(test.p_value, test.p_floor)}** "
        f"(two-sided; {test.permutations} shuffles of each run's right/wrong marks within "
        f"{unit if by_subset else unit + ' and right letter'}, seed {test.seed}): "
        f"{VERDICTS[test.verdict]}. Shared mistakes (pairs of runs wrong on the same question): "
        f"{test.shared_wrong} observed vs {test.shared_wrong_expected:.1f} expected{ratio_text}; "
        f"one-sided p (more shared) = {fmt_p(test.p_more)}, p (fewer shared) = {fmt_p(test.p_fewer)}.",
    ]
    bins = ", ".join(f"{lo}" if lo == hi else f"{lo}-{hi}" for lo, hi in test.bins)
    if test.chi2 is not None:
        lines.append(
            f"  - Chi-square over pooled bins ({bins} runs wrong): chi2 = {test.chi2:.2f}, df = {test.chi2_df}, "
            + (f"asymptotic p = {fmt_p(test.chi2_p)}" if test.chi2_p is not None else "no asymptotic p with 0 df")
            + "; the same statistic's permutation "
            + p_text(test.chi2_permutation_p, 1 / (test.permutations + 1))
            + "."
        )
    else:
        lines.append("  - Chi-square: too few questions per bin to pool into two bins; see the permutation test.")
    return lines


def _question(q: QuestionRef, labels: Sequence[str], width: int = 110) -> str:
    text = " ".join(q.question.split())
    if len(text) > width:
        text = text[: width - 1] + "…"
    picks = ", ".join(f"{label}: {p}" for label, p in zip(labels, q.picks, strict=True))
    who = f"; only {q.right_by} right" if q.right_by else ""
    return f"  - #{q.doc_id} (right {q.answer}; {picks}{who}): {_cell(text)}"


@dataclass(frozen=True)
class Section:
    """One task's part of the report: its analysis, configuration table, runs and chart files (kind -> file)."""

    analysis: Analysis
    comparison: ConfigComparison
    runs: Sequence[Run]
    images: dict[str, str]


def _image(images: dict[str, str], kind: str, alt: str) -> list[str]:
    return [f"![{alt}]({images[kind]})", ""] if kind in images else []


def task_section(section: Section, level: int = 2) -> list[str]:
    """Every table of one task's comparison, with headings at ``level`` (2: ``##``)."""
    analysis, comparison, runs, images = section.analysis, section.comparison, section.runs, section.images
    h = "#" * level
    unit = analysis.subset_label
    labels = analysis.labels
    md: list[str] = []
    for notice in analysis.notices:
        md.append(f"> note: {notice}")
    if analysis.notices:
        md.append("")

    md += [f"{h} Runs", ""]
    md += _table(
        ["run", "model", "device", "dtype", "quant", "machine", "folder", "answered", "right (common)", "95% CI"],
        [
            [
                s.label,
                s.model,
                s.device,
                s.dtype,
                s.quant,
                _machine(r),
                s.path,
                len(r.records),
                pct(s.overall.accuracy),
                _interval(s.overall.ci_low, s.overall.ci_high),
            ]
            for s, r in zip(analysis.runs, runs, strict=True)
        ],
    )
    md += _image(images, "accuracy_overall", "overall accuracy")

    md += [f"{h} Accuracy per {unit}", "", "Share of documents right, with its 95% Wilson interval, on the common "
           "documents.", ""]  # fmt: skip
    md += _table(
        [unit, "documents", *labels],
        [
            [s, analysis.runs[0].subsets[s].questions]
            + [
                f"{pct(r.subsets[s].accuracy)} {_interval(r.subsets[s].ci_low, r.subsets[s].ci_high)}"
                for r in analysis.runs
            ]
            for s in analysis.subsets
        ],
    )
    md += _image(images, "accuracy_by_subset", f"accuracy per {unit}")

    md += [f"{h} Are mistakes shared (systematic) or random?", ""]
    md += overlap_lines(analysis.overlap, unit)
    by_letter = analysis.overlap_by_letter
    if by_letter is not None:
        md += overlap_lines(by_letter, unit)
        md += [
            "",
            "The second test takes letter bias out: a run that always answers A is wrong on exactly the questions "
            "whose answer is not A, so two letter-biased runs can look systematic (or anti-systematic) for that "
            "reason alone.",
            "",
        ]
    else:
        md += ["", f"The test with letter bias taken out is left out ({analysis.letters_note}).", ""]
    n = len(labels)
    header = [f"runs wrong (of {n})", "observed", f"expected (per-{unit} rates)"]
    if by_letter is not None:
        header.append(f"expected (per-{unit}-and-letter)")
    md += _table(
        header,
        [
            [k, analysis.overlap.observed[k], fixed(analysis.overlap.expected[k], 1)]
            + ([fixed(by_letter.expected[k], 1)] if by_letter is not None else [])
            for k in range(n + 1)
        ],
    )
    md += _image(images, "overlap", "overlap distribution")

    md += [f"{h} Pairwise agreement", ""]
    letters = analysis.letters_applicable
    intro = (
        "Jaccard = both wrong / either wrong. Agreement and Cohen's kappa are on correct/incorrect (not on the "
        "letters)."
    )
    if letters:
        intro += (
            " Same wrong letter: of the questions both got wrong, how often they chose the same letter, vs the chance "
            "rate from each run's own wrong-letter preferences (uniform guessing among four choices: 33.3%), with "
            "the one-sided p of at least that many matches."
        )
    else:
        intro += f" Same letter and same wrong letter: {analysis.letters_note}."
    md += [intro, ""]
    header = ["pair", "both wrong", "only A wrong", "only B wrong", "both right", "Jaccard", "agreement", "kappa"]
    if letters:
        header += ["same letter", "same wrong letter", "chance", "p"]
    rows = []
    for p in analysis.pairs:
        row: list[object] = [
            f"A = {p.a}, B = {p.b}",
            p.both_wrong,
            p.a_wrong_only,
            p.b_wrong_only,
            p.both_right,
            fixed(p.jaccard, 3),
            pct(p.agreement),
            fixed(p.kappa, 3),
        ]
        if letters:
            row += [
                pct(p.letter_agreement),
                f"{p.same_wrong_letter}/{p.both_wrong} ({pct(p.same_wrong_letter_rate)})",
                pct(p.same_wrong_letter_chance),
                fmt_p(p.same_wrong_letter_p),
            ]
        rows.append(row)
    md += _table(header, rows)
    jac = _image(images, "pairwise_jaccard", "Jaccard")
    kap = _image(images, "pairwise_kappa", "kappa")
    if jac or kap:
        md += [" ".join(x[0] for x in (jac, kap) if x), ""]

    md += [f"{h} Is one run really better? (McNemar)", ""]
    md += [
        "McNemar's test on the discordant questions: exact binomial below 25 of them, else chi-square with "
        "continuity correction (1 df). Two-sided.",
        "",
    ]
    md += _table(
        ["A", "B", "right A", "right B", "A - B", "A right, B wrong", "A wrong, B right", "test", "statistic", "p"],
        [
            [
                p.a,
                p.b,
                pct(p.accuracy_a),
                pct(p.accuracy_b),
                f"{100 * p.difference:+.1f} pts",
                p.mcnemar.a_only,
                p.mcnemar.b_only,
                p.mcnemar.method,
                fixed(p.mcnemar.statistic, 3),
                fmt_p(p.mcnemar.p_value),
            ]
            for p in analysis.pairs
        ],
    )

    md += [f"{h} Questions every run got wrong, and questions only one run got right", ""]
    md += _table(
        [unit, "documents", "all wrong", "expected if independent", "only one right", "expected", *labels],
        [
            [
                m.subset,
                m.questions,
                len(m.all_wrong),
                fixed(m.all_wrong_expected, 1),
                len(m.only_one_right),
                fixed(m.only_one_right_expected, 1),
                *[m.only_right_by[label] for label in labels],
            ]
            for m in analysis.mistakes
        ],
    )
    md += ['(The last columns: how many of the "only one right" each run was the one for.)', ""]
    for m in analysis.mistakes:
        if not (m.all_wrong or m.only_one_right):
            continue
        md.append(f"**{m.subset}**")
        md.append("")
        for name, refs in (("all wrong", m.all_wrong), ("only one right", m.only_one_right)):
            if not refs:
                continue
            md.append(f"- {name} ({len(refs)}):")
            md += [_question(q, labels) for q in refs[:MAX_LISTED]]
            if len(refs) > MAX_LISTED:
                md.append(f"  - ... and {len(refs) - MAX_LISTED} more")
        md.append("")

    md += [f"{h} Answer-letter bias", ""]
    if analysis.letters:
        md += [
            "How often each run chose each letter, against how often each letter is right on the same questions; "
            "chi-square goodness of fit of the predicted counts to the right letters' shares.",
            "",
        ]
        truth = analysis.letters[0]
        choices = list(truth.truth)
        md += _table(
            ["", *choices, "most chosen", "chi2", "df", "p"],
            [["right answers"] + [f"{truth.truth[x]} ({pct(truth.share(x, 'truth'))})" for x in choices] + [""] * 4]
            + [
                [b.label]
                + [f"{b.predicted[x]} ({pct(b.share(x))})" for x in choices]
                + [b.favourite, fixed(b.chi2, 1), b.df, fmt_p(b.p_value)]
                for b in analysis.letters
            ],
        )
        md += _image(images, "letter_bias", "letter bias")
    else:
        md += [f"{analysis.letters_note[0].upper()}{analysis.letters_note[1:]}.", ""] if analysis.letters_note else []

    md += [f"{h} Configurations: time, memory, accuracy", ""]
    md += [
        f"Baseline: **{comparison.baseline}** ({comparison.baseline_reason}); (xR) = ratio to the baseline. "
        f"Timing is over the {unit}s every run answered ({', '.join(comparison.subsets)}); peak RSS is the "
        "process's resident memory at its highest during the run (the model included; runs written before "
        "llm-tui reset the mark per run may include a model an earlier run of the same command loaded).",
        "",
    ]
    md += _table(
        [
            "run",
            "device",
            "dtype",
            "quant",
            "GPU",
            "documents",
            "wall s",
            "CPU s",
            "GPU s",
            "documents/s",
            "peak RSS MiB",
            "peak GPU MiB",
            "model MiB",
            "load s",
            "right",
        ],
        [
            [
                r.label,
                r.device,
                r.dtype,
                r.quant,
                r.gpu or "-",
                r.questions,
                num(r.wall_s) + ratio(r.ratios.get("wall_s")),
                num(r.cpu_s) + ratio(r.ratios.get("cpu_s")),
                num(r.gpu_s) + ratio(r.ratios.get("gpu_s")),
                num(r.questions_per_s) + ratio(r.ratios.get("questions_per_s")),
                num(mebibytes(r.peak_rss_bytes), 4) + ratio(r.ratios.get("peak_rss_bytes")),
                num(mebibytes(r.peak_gpu_bytes), 4) + ratio(r.ratios.get("peak_gpu_bytes")),
                num(mebibytes(r.model_bytes), 4) + ratio(r.ratios.get("model_bytes")),
                num(r.load_s) + ratio(r.ratios.get("load_s")),
                pct(r.accuracy)
                + (f" ({100 * r.accuracy_delta:+.1f} pts)" if r.accuracy_delta is not None else "")
                + f" {_interval(r.ci_low, r.ci_high)}",
            ]
            for r in comparison.rows
        ],
    )
    for note in comparison.notes:
        md.append(f"> note: {note}")
    if comparison.notes:
        md.append("")
    md += _image(images, "configurations", "configurations")
    return md


def render(
    matrix: TaskMatrix,
    sections: Sequence[Section],
    charts: Sequence[tuple[str, str]],
    pdf_name: str,
    command: str | None = None,
    notices: Sequence[str] = (),
    matrix_images: dict[str, str] | None = None,
) -> str:
    """The summary. One task: that task's comparison, as the whole document. Several tasks: the models x tasks
    tables, then one part per task that has two or more runs. ``charts`` = (file name, title) of each PNG, linked
    relative to the Markdown file."""
    md: list[str] = []
    several = len(matrix.tasks) > 1
    md += ["# llm-tui report: models x tasks" if several else "# llm-tui report: comparing runs", ""]
    if command:
        md += [f"Produced by `{command}`.", ""]
    if several:
        md += [
            f"{len(matrix.cells)} runs: {len(matrix.models)} model configurations on {len(matrix.tasks)} tasks "
            f"({', '.join(matrix.tasks)}). Tasks with two or more runs also get the mistake analysis of those runs "
            f"on their common documents. Charts: [{pdf_name}]({pdf_name}) (one per page) and the PNG files listed "
            "at the end.",
            "",
        ]
    elif sections:
        a = sections[0].analysis
        md += [
            f"{len(a.runs)} runs of {a.task_title} [{a.task}] compared on the **{a.questions} questions they all "
            f"answered** ({', '.join(a.subsets)}); primary metric {a.metric}. Charts: [{pdf_name}]({pdf_name}) "
            "(one per page) and the PNG files listed at the end.",
            "",
        ]
    for notice in notices:
        md.append(f"> note: {notice}")
    if notices:
        md.append("")
    if several:
        md += matrix_lines(matrix, matrix_images or {}, level=2)
        for section in sections:
            a = section.analysis
            md += [f"## {a.task_title} [{a.task}]: {len(a.runs)} runs on their {a.questions} common documents", ""]
            md += task_section(section, level=3)
    elif sections:
        md += task_section(sections[0], level=2)
    md += ["## Charts", ""]
    md += [f"- [{title}]({name})" for name, title in charts]
    md += [f"- all of them, one per page: [{pdf_name}]({pdf_name})", ""]
    return "\n".join(md)
