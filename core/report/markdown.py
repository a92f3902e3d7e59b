"""The report's Markdown summary: every table of the analysis and configuration comparison, with p-values."""

from __future__ import annotations

from collections.abc import Sequence

from ..analysis import VERDICTS, Analysis, ConfigComparison, OverlapTest, QuestionRef
from ..analysis.load import Run
from .text import fixed, fmt_p, mebibytes, num, p_text, pct, ratio

MAX_LISTED = 10  # questions listed per subject and kind; the rest are counted


def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    out += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return out + [""]


def _cell(value: object) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _interval(lo: float, hi: float) -> str:
    return f"[{100 * lo:.1f}, {100 * hi:.1f}]"


def _machine(run: Run) -> str:
    m = run.results.get("machine") or {}
    gpu = m.get("gpu")
    gpu_name = gpu.get("name") if isinstance(gpu, dict) else gpu
    cpu = f"{m.get('cpu') or '?'} ({m.get('cpu_count') or '?'} cores)"
    return f"{cpu}, {gpu_name}" if gpu_name else cpu


def overlap_lines(test: OverlapTest) -> list[str]:
    rates = "per-subject" if test.strata == "subject" else "per-subject-and-right-letter"
    ratio_text = f" ({test.excess_shared:.2f}x)" if test.excess_shared is not None else ""
    lines = [
        f"- **Null: independent errors at {rates} rates. Permutation test {p_text(test.p_value, test.p_floor)}** "
        f"(two-sided; {test.permutations} shuffles of each run's right/wrong marks within "
        f"{'subject' if test.strata == 'subject' else 'subject and right letter'}, seed {test.seed}): "
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
    picks = ", ".join(f"{label}: {p}" for label, p in zip(labels, q.predicted, strict=True))
    who = f"; only {q.right_by} right" if q.right_by else ""
    return f"  - #{q.index} (right {q.answer}; {picks}{who}): {_cell(text)}"


def render(
    analysis: Analysis,
    comparison: ConfigComparison,
    runs: Sequence[Run],
    charts: Sequence[tuple[str, str]],
    pdf_name: str,
    command: str | None = None,
) -> str:
    """The summary; ``charts`` = (file name, title) of each PNG, linked relative to the Markdown file."""
    labels = analysis.labels
    md: list[str] = ["# llm-tui report: comparing runs", ""]
    if command:
        md += [f"Produced by `{command}`.", ""]
    md += [
        f"{len(runs)} runs compared on the **{analysis.questions} questions they all answered** "
        f"({', '.join(analysis.subjects)}). Charts: [{pdf_name}]({pdf_name}) (one per page) and the PNG files "
        "listed at the end.",
        "",
    ]
    for notice in analysis.notices:
        md.append(f"> note: {notice}")
    if analysis.notices:
        md.append("")

    md += ["## Runs", ""]
    md += _table(
        ["run", "model", "device", "dtype", "quant", "machine", "folder", "answered", "accuracy (common)", "95% CI"],
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

    md += ["## Accuracy per subject", "", "Accuracy with its 95% Wilson interval, on the common questions.", ""]
    md += _table(
        ["subject", "questions", *labels],
        [
            [s, analysis.runs[0].subjects[s].questions]
            + [
                f"{pct(r.subjects[s].accuracy)} {_interval(r.subjects[s].ci_low, r.subjects[s].ci_high)}"
                for r in analysis.runs
            ]
            for s in analysis.subjects
        ],
    )
    md += ["![accuracy per subject](accuracy_by_subject.png)", ""]

    md += ["## Are mistakes shared (systematic) or random?", ""]
    md += overlap_lines(analysis.overlap)
    md += overlap_lines(analysis.overlap_by_letter)
    md += [
        "",
        "The second test takes letter bias out: a run that always answers A is wrong on exactly the questions "
        "whose answer is not A, so two letter-biased runs can look systematic (or anti-systematic) for that "
        "reason alone.",
        "",
    ]
    n = len(labels)
    md += _table(
        [f"runs wrong (of {n})", "observed", "expected (per-subject rates)", "expected (per-subject-and-letter)"],
        [
            [
                k,
                analysis.overlap.observed[k],
                fixed(analysis.overlap.expected[k], 1),
                fixed(analysis.overlap_by_letter.expected[k], 1),
            ]
            for k in range(n + 1)
        ],
    )
    md += ["![overlap distribution](overlap.png)", ""]

    md += ["## Pairwise agreement", ""]
    md += [
        "Jaccard = both wrong / either wrong. Agreement and Cohen's kappa are on correct/incorrect (not on the "
        "letters). Same wrong letter: of the questions both got wrong, how often they chose the same letter, vs "
        "the chance rate from each run's own wrong-letter preferences (uniform guessing: 33.3%), with the "
        "one-sided p of at least that many matches.",
        "",
    ]
    md += _table(
        [
            "pair",
            "both wrong",
            "only A wrong",
            "only B wrong",
            "both right",
            "Jaccard",
            "agreement",
            "kappa",
            "same letter",
            "same wrong letter",
            "chance",
            "p",
        ],
        [
            [
                f"A = {p.a}, B = {p.b}",
                p.both_wrong,
                p.a_wrong_only,
                p.b_wrong_only,
                p.both_right,
                fixed(p.jaccard, 3),
                pct(p.agreement),
                fixed(p.kappa, 3),
                pct(p.letter_agreement),
                f"{p.same_wrong_letter}/{p.both_wrong} ({pct(p.same_wrong_letter_rate)})",
                pct(p.same_wrong_letter_chance),
                fmt_p(p.same_wrong_letter_p),
            ]
            for p in analysis.pairs
        ],
    )
    md += ["![Jaccard](pairwise_jaccard.png) ![kappa](pairwise_kappa.png)", ""]

    md += ["## Is one run really better? (McNemar)", ""]
    md += [
        "McNemar's test on the discordant questions: exact binomial below 25 of them, else chi-square with "
        "continuity correction (1 df). Two-sided.",
        "",
    ]
    md += _table(
        [
            "A",
            "B",
            "accuracy A",
            "accuracy B",
            "A - B",
            "A right, B wrong",
            "A wrong, B right",
            "test",
            "statistic",
            "p",
        ],
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

    md += ["## Questions every run got wrong, and questions only one run got right", ""]
    md += _table(
        ["subject", "questions", "all wrong", "expected if independent", "only one right", "expected", *labels],
        [
            [
                m.subject,
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
        md.append(f"**{m.subject}**")
        md.append("")
        for name, refs in (("all wrong", m.all_wrong), ("only one right", m.only_one_right)):
            if not refs:
                continue
            md.append(f"- {name} ({len(refs)}):")
            md += [_question(q, labels) for q in refs[:MAX_LISTED]]
            if len(refs) > MAX_LISTED:
                md.append(f"  - ... and {len(refs) - MAX_LISTED} more")
        md.append("")

    md += ["## Answer-letter bias", ""]
    md += [
        "How often each run chose each letter, against how often each letter is right on the same questions; "
        "chi-square goodness of fit of the predicted counts to the right letters' shares.",
        "",
    ]
    truth = analysis.letters[0]
    md += _table(
        ["", "A", "B", "C", "D", "most chosen", "chi2", "df", "p"],
        [["right answers"] + [f"{truth.truth[x]} ({pct(truth.share(x, 'truth'))})" for x in "ABCD"] + ["", "", "", ""]]
        + [
            [b.label]
            + [f"{b.predicted[x]} ({pct(b.share(x))})" for x in "ABCD"]
            + [b.favourite, fixed(b.chi2, 1), b.df, fmt_p(b.p_value)]
            for b in analysis.letters
        ],
    )
    md += ["![letter bias](letter_bias.png)", ""]

    md += ["## Configurations: time, memory, accuracy", ""]
    md += [
        f"Baseline: **{comparison.baseline}** ({comparison.baseline_reason}); (xR) = ratio to the baseline. "
        f"Timing is over the subjects every run answered ({', '.join(comparison.subjects)}); peak RSS is the "
        "whole process's.",
        "",
    ]
    md += _table(
        [
            "run",
            "device",
            "dtype",
            "quant",
            "GPU",
            "questions",
            "wall s",
            "CPU s",
            "GPU s",
            "questions/s",
            "peak RSS MiB",
            "peak GPU MiB",
            "model MiB",
            "load s",
            "accuracy",
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
    md += ["![configurations](configurations.png)", ""]

    md += ["## Charts", ""]
    md += [f"- [{title}]({name})" for name, title in charts]
    md += [f"- all of them, one per page: [{pdf_name}]({pdf_name})", ""]
    return "\n".join(md)
