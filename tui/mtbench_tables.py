"""The MT-Bench result tables, one implementation for `llm-tui mtbench show` and the app's MT-Bench screen."""

from __future__ import annotations

from rich import box
from rich.console import Group
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from core.mtbench.answers import CATEGORIES
from core.mtbench.results import ModelSummary, Results, history_pairs, summarize_pairs


def _table(title: str) -> Table:
    return Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)


def score_tables(res: Results) -> list[Table | Group]:
    """Per judge: turn 1, turn 2 and overall means with 95% intervals and failed judgments; per category; history
    on vs off on turn 2; pairwise verdicts with the judge's agreement between the two orders."""
    summaries = res.summaries
    tables: list[Table | Group] = []
    for judge in dict.fromkeys(s.judge for s in summaries):
        table = _table(f"MT-Bench, judged by {escape(judge)}: mean score 1-10 ±95% CI")
        for col in ("model", "turn 1", "turn 2", "overall", "failed"):
            table.add_column(col, justify="left" if col == "model" else "right", no_wrap=col != "model",
                             overflow="fold")  # fmt: skip
        for s in summaries:
            if s.judge == judge:
                table.add_row(escape(s.model), s.turn1.text(), s.turn2.text(), s.overall.text(),
                              f"{s.failed}/{s.failed + s.overall.n}")  # fmt: skip
        tables.append(table)
    if summaries:
        tables.append(category_table(summaries))
        pairs = history_pairs(summaries)
        if pairs:
            table = _table("history on vs off, turn 2 (mean score ±95% CI)")
            for col in ("model", "history on", "history off", "difference"):
                table.add_column(col, justify="left" if col == "model" else "right", no_wrap=True)
            for on, off in pairs:
                both = on.turn2.mean is not None and off.turn2.mean is not None
                diff = f"{(on.turn2.mean or 0) - (off.turn2.mean or 0):+.2f}" if both else "-"
                table.add_row(escape(on.model), on.turn2.text(), off.turn2.text(), diff)
            tables.append(table)
    if res.pairs:
        table = _table("pairwise, both orders: a verdict counts when they agree")
        for col in ("A vs B", "turn", "judged", "orders agree", "A won", "B won", "ties", "no verdict"):
            table.add_column(col, justify="left" if col == "A vs B" else "right", no_wrap=True)
        names: list[str] = []
        for p in summarize_pairs(res.pairs, by_turn=True) + summarize_pairs(res.pairs):
            a, b = (names.index(m) + 1 if m in names else names.append(m) or len(names) for m in (p.model_1, p.model_2))
            agree = "-" if p.agreement is None else f"{p.agree}/{p.judged} ({p.agreement:.0%})"
            table.add_row(f"{a} vs {b}", "all" if p.turn is None else str(p.turn), str(p.judged), agree,
                          str(p.wins_1), str(p.wins_2), str(p.ties), str(p.errors))  # fmt: skip
        key = Text("\n".join(f"{i + 1}: {m}" for i, m in enumerate(names)), style="dim")
        tables.append(Group(table, key))
    return tables


def category_table(summaries: list[ModelSummary]) -> Group:
    """Categories down, models across as numbers with a key below (eight categories do not fit across 80
    columns, and long model names would be cut where they differ)."""
    cats = [c for c in CATEGORIES if any(c in s.categories for s in summaries)]
    table = _table("mean per category (both turns)")
    table.add_column("category", no_wrap=True)
    for i in range(len(summaries)):
        table.add_column(str(i + 1), justify="right")
    for c in cats:
        table.add_row(c, *[s.categories[c].text(ci=False) if c in s.categories else "-" for s in summaries])
    key = Text("\n".join(f"{i + 1}: {s.model}" for i, s in enumerate(summaries)), style="dim")
    return Group(table, key)
