"""MT-Bench in the report: mean score per category per model, turn 1 / turn 2 / overall with 95% intervals, the
failed judgments, history on vs off, and pairwise agreement between the two orders; charts and Markdown lines.

matplotlib is imported through ``figure`` only when a report is written.
"""

from __future__ import annotations

from typing import Any

from ..mtbench.answers import CATEGORIES
from ..mtbench.results import ModelSummary, Results, ScoreStat, history_pairs, summarize_pairs
from .figure import Chart, colour, figure, footer, title


def _judges(res: Results) -> list[str]:
    return list(dict.fromkeys(s.judge for s in res.summaries))


def _err(stats: list[ScoreStat]) -> list[list[float]]:
    lo = [(s.mean - s.lo) if s.mean is not None and s.lo is not None else 0.0 for s in stats]
    hi = [(s.hi - s.mean) if s.mean is not None and s.hi is not None else 0.0 for s in stats]
    return [lo, hi]


def mtbench_charts(res: Results) -> list[Chart]:
    charts = []
    for k, judge in enumerate(_judges(res)):
        models = [s for s in res.summaries if s.judge == judge]
        suffix = f"-{k + 1}" if k else ""
        charts.append(_turns(models, judge, f"mtbench_turns{suffix}"))
        charts.append(_categories(models, judge, f"mtbench_categories{suffix}"))
    return charts


def _turns(models: list[ModelSummary], judge: str, name: str) -> Chart:
    fig = figure(8.5, 4.8)
    ax = fig.add_subplot()
    width = 0.8 / 3
    for j, (label, pick) in enumerate((("turn 1", "turn1"), ("turn 2", "turn2"), ("overall", "overall"))):
        stats = [getattr(m, pick) for m in models]
        xs = [i + (j - 1) * width for i in range(len(models))]
        ax.bar(xs, [s.mean or 0 for s in stats], width, yerr=_err(stats), capsize=3, label=label, color=colour(j))
    ax.set_xticks(range(len(models)), [m.model for m in models], rotation=15, ha="right", fontsize=8)
    ax.set_ylim(0, 10)
    ax.set_ylabel("mean score (1-10)")
    ax.legend(loc="upper right", fontsize=8)
    text = f"MT-Bench, judged by {judge}: mean score per turn (95% CI)"
    title(fig, text)
    failed = ", ".join(f"{m.model} {m.failed}" for m in models if m.failed)
    footer(fig, "Judgments without a rating (-1) are left out of every mean, as FastChat's show_result does"
           + (f"; left out: {failed}." if failed else "; none failed."))  # fmt: skip
    return Chart(name, text, fig, "mtbench_turns")


def _categories(models: list[ModelSummary], judge: str, name: str) -> Chart:
    fig = figure(8.5, 4.8)
    ax = fig.add_subplot()
    cats = [c for c in CATEGORIES if any(c in m.categories for m in models)]
    width = 0.8 / max(1, len(models))
    for j, m in enumerate(models):
        xs = [i + (j - (len(models) - 1) / 2) * width for i in range(len(cats))]
        values = [(m.categories[c].mean or 0) if c in m.categories else 0 for c in cats]
        ax.bar(xs, values, width, label=m.model, color=colour(j))
    ax.set_xticks(range(len(cats)), cats, fontsize=8)
    ax.set_ylim(0, 10)
    ax.set_ylabel("mean score (1-10), both turns")
    ax.legend(loc="upper right", fontsize=7)
    text = f"MT-Bench, judged by {judge}: mean score per category"
    title(fig, text)
    n = {m.model: m.overall.n for m in models}
    footer(fig, "Rated judgments per model: " + ", ".join(f"{k} {v}" for k, v in n.items()) + ".")
    return Chart(name, text, fig, "mtbench_categories")


def mtbench_lines(res: Results, images: dict[str, str], level: int = 2) -> list[str]:
    """The Markdown section: the tables `llm-tui mtbench show` prints, with the charts."""
    h = "#" * level
    md = [f"{h} MT-Bench", ""]
    for judge in _judges(res):
        models = [s for s in res.summaries if s.judge == judge]
        md += [f"Judged by **{judge}** (FastChat's single-answer prompts; mean score 1-10, 95% Student-t interval; "
               "judgments without a rating are left out and counted).", "",
               "| model | turn 1 | turn 2 | overall | failed |", "|---|---:|---:|---:|---:|"]  # fmt: skip
        for s in models:
            md.append(f"| {s.model} | {s.turn1.text()} | {s.turn2.text()} | {s.overall.text()} | "
                      f"{s.failed}/{s.failed + s.overall.n} |")  # fmt: skip
        md.append("")
        cats = [c for c in CATEGORIES if any(c in m.categories for m in models)]
        md += ["| category | " + " | ".join(m.model for m in models) + " |",
               "|---|" + "---:|" * len(models)]  # fmt: skip
        for c in cats:
            md.append(f"| {c} | " + " | ".join(m.categories[c].text(ci=False) if c in m.categories else "-"
                                               for m in models) + " |")  # fmt: skip
        md.append("")
    pairs = history_pairs(res.summaries)
    if pairs:
        md += ["History on vs off, turn 2:", "", "| model | history on | history off |", "|---|---:|---:|"]
        md += [f"| {on.model} | {on.turn2.text()} | {off.turn2.text()} |" for on, off in pairs]
        md.append("")
    if res.pairs:
        md += ["Pairwise, each pair judged in both orders (a verdict counts when both orders agree):", "",
               "| model 1 | model 2 | judged | orders agree | 1 wins | 2 wins | ties | errors |",
               "|---|---|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
        for p in summarize_pairs(res.pairs):
            agree = "-" if p.agreement is None else f"{p.agree}/{p.judged} ({p.agreement:.0%})"
            md.append(f"| {p.model_1} | {p.model_2} | {p.judged} | {agree} | {p.wins_1} | {p.wins_2} | {p.ties} | "
                      f"{p.errors} |")  # fmt: skip
        md.append("")
    for kind, alt in (("mtbench_turns", "MT-Bench per turn"), ("mtbench_categories", "MT-Bench per category")):
        if kind in images:
            md += [f"![{alt}]({images[kind]})", ""]
    return md


def mtbench_json(res: Results) -> dict[str, Any]:
    def stat(s: ScoreStat) -> dict[str, Any]:
        return {"mean": s.mean, "ci95": [s.lo, s.hi], "n": s.n, "failed": s.failed}

    return {
        "single": [{"model": s.model, "judge": s.judge, "history": s.history, "turn1": stat(s.turn1),
                    "turn2": stat(s.turn2), "overall": stat(s.overall),
                    "categories": {c: stat(v) for c, v in s.categories.items()}} for s in res.summaries],
        "pairwise": [{"model_1": p.model_1, "model_2": p.model_2, "judge": p.judge, "judged": p.judged,
                      "agree": p.agree, "wins_1": p.wins_1, "wins_2": p.wins_2, "ties": p.ties, "errors": p.errors}
                     for p in summarize_pairs(res.pairs)],
    }  # fmt: skip
