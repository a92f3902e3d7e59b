"""MT-Bench results: what `llm-tui mtbench show`, the app's MT-Bench screen and the PDF report all print.

Means follow FastChat's ``show_result.py``: judgments scored -1 (no rating) are dropped, turn 1 and turn 2 are
means over their judgments, and "overall" is the mean over every judgment of the model (both turns pooled, not the
mean of the two turn means). Each mean has a 95% Student-t interval; failed judgments are counted beside it.
Pairwise: a verdict counts only when both orders agree; the share of pairs whose orders agree is the judge's
position consistency.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..analysis.stats import mean_ci
from ..errors import UserInputError
from .answers import CATEGORIES
from .judge import Judgment, PairJudgment, read_judgments

NOHISTORY = "-nohistory"


@dataclass(frozen=True)
class ScoreStat:
    mean: float | None  # None: no usable judgment
    lo: float | None
    hi: float | None
    n: int  # judgments with a rating
    failed: int  # judgments scored -1
    half: float | None = None  # half-width of the 95% interval before clipping (None for n < 2)

    @classmethod
    def of(cls, scores: list[float]) -> ScoreStat:
        """``lo``/``hi``: the 95% t interval clipped to the 1-10 scale (for charts)."""
        good = [s for s in scores if s != -1]
        failed = len(scores) - len(good)
        if not good:
            return cls(None, None, None, 0, failed)
        mean, lo, hi = mean_ci(good)
        half = (hi - mean) if len(good) > 1 else None
        return cls(mean, max(1.0, lo), min(10.0, hi), len(good), failed, half)

    def text(self, ci: bool = True) -> str:
        """ "6.42 ±0.61" (the half-width of the 95% t interval), or "-" when nothing was rated."""
        if self.mean is None:
            return "-"
        if not ci or self.half is None:
            return f"{self.mean:.2f}"
        return f"{self.mean:.2f} ±{self.half:.2f}"


@dataclass(frozen=True)
class ModelSummary:
    model: str
    judge: str
    history: bool | None
    turn1: ScoreStat
    turn2: ScoreStat
    overall: ScoreStat
    categories: dict[str, ScoreStat] = field(default_factory=dict)

    @property
    def failed(self) -> int:
        return self.overall.failed


@dataclass(frozen=True)
class PairSummary:
    model_1: str
    model_2: str
    judge: str
    turn: int | None  # None: both turns
    judged: int  # pairs with a verdict in both orders
    agree: int  # of those, the orders agree
    wins_1: int  # agreed verdicts
    wins_2: int
    ties: int
    errors: int  # pairs where an order gave no verdict

    @property
    def agreement(self) -> float | None:
        return self.agree / self.judged if self.judged else None


def summarize(judgments: list[Judgment]) -> list[ModelSummary]:
    """One summary per (judge, model), best overall mean first."""
    groups: dict[tuple[str, str], list[Judgment]] = {}
    for j in judgments:
        groups.setdefault((j.judge[0], j.model), []).append(j)
    out = []
    for (judge, model), js in groups.items():
        by_cat: dict[str, list[float]] = {}
        for j in js:
            if j.llm_tui is not None:
                by_cat.setdefault(j.llm_tui.category, []).append(j.score)
        histories = {j.llm_tui.history for j in js if j.llm_tui is not None and j.llm_tui.history is not None}
        history = histories.pop() if len(histories) == 1 else (False if model.endswith(NOHISTORY) else None)
        out.append(ModelSummary(
            model, judge, history,
            ScoreStat.of([j.score for j in js if j.turn == 1]),
            ScoreStat.of([j.score for j in js if j.turn == 2]),
            ScoreStat.of([j.score for j in js]),
            {c: ScoreStat.of(by_cat[c]) for c in CATEGORIES if c in by_cat},
        ))  # fmt: skip
    return sorted(out, key=lambda s: (s.judge, -(s.overall.mean or 0), s.model))


def history_pairs(summaries: list[ModelSummary]) -> list[tuple[ModelSummary, ModelSummary]]:
    """(history on, history off) for each model answered both ways: ``X`` and ``X-nohistory``, one judge."""
    index = {(s.judge, s.model): s for s in summaries}
    pairs = []
    for s in summaries:
        if s.model.endswith(NOHISTORY):
            on = index.get((s.judge, s.model[: -len(NOHISTORY)]))
            if on is not None:
                pairs.append((on, s))
    return pairs


def summarize_pairs(lines: list[PairJudgment], by_turn: bool = False) -> list[PairSummary]:
    groups: dict[tuple[str, str, str, int | None], list[PairJudgment]] = {}
    for p in lines:
        groups.setdefault((p.judge[0], p.model_1, p.model_2, p.turn if by_turn else None), []).append(p)
    out = []
    for (judge, m1, m2, turn), ps in sorted(groups.items(), key=lambda kv: (kv[0][:3], kv[0][3] or 0)):
        valid = [p for p in ps if "error" not in (p.g1_winner, p.g2_winner)]
        agreed = [p for p in valid if p.g1_winner == p.g2_winner]
        out.append(PairSummary(
            m1, m2, judge, turn, len(valid), len(agreed),
            sum(p.g1_winner == "model_1" for p in agreed), sum(p.g1_winner == "model_2" for p in agreed),
            sum(p.g1_winner == "tie" for p in agreed), len(ps) - len(valid),
        ))  # fmt: skip
    return out


@dataclass
class Results:
    """Everything under a judgment folder (or the files given)."""

    single: list[Judgment] = field(default_factory=list)
    pairs: list[PairJudgment] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)

    @property
    def summaries(self) -> list[ModelSummary]:
        return summarize(self.single)


def load_results(paths: list[Path]) -> Results:
    """Judgment files (``*_single.jsonl``, ``*_pair.jsonl``) from folders or files; refuses an empty set."""
    res = Results()
    for p in paths:
        if p.is_dir():
            files = sorted(p.glob("*_single.jsonl")) + sorted(p.glob("*_pair.jsonl"))
        elif p.is_file():
            files = [p]
        else:
            raise UserInputError(f"--judgments {p}: no such file or folder")
        for f in files:
            pairwise = f.name.endswith("_pair.jsonl")
            lines, _ = read_judgments(f, pairwise)
            (res.pairs if pairwise else res.single).extend(lines)  # type: ignore[arg-type]
            res.files.append(f)
    if not res.single and not res.pairs:
        where = ", ".join(str(p) for p in paths)
        raise UserInputError(f"no judgments in {where}; judge first (`llm-tui mtbench judge --output DIR`)")
    return res
