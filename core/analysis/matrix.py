"""The models x tasks view: each run's primary metric, with a 95% interval, in a grid of models and tasks.

    matrix = task_matrix(load_runs(paths))       # any runs, any tasks; nothing is averaged
    matrix.models, matrix.tasks, matrix.value("smollm2-135m-instruct", "arc_easy"), matrix.cell(m, t).ci_low

A row is a model and configuration (``Run.label``, which never includes the task: the same model and
configuration on several tasks is one row); a column is a task, in the registry's order. Two runs of one model
on one task get different labels (``assign_labels``: device, dtype, shots, limit... or the folder name), so they
are two rows, never an average.

The cell's value is ``results.accuracy.micro``: the task's primary metric over the documents the run answered.
Its interval: Wilson 95% when the metric is right/wrong per document (``correct`` of ``answered``); for a metric
that is a fraction per document (TruthfulQA MC2's probability mass on the true answers) a normal interval,
mean +- 1.96 standard errors of the per-document values, clipped to [0, 1]; None when neither can be had.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from ..tasks import TASK_NAMES
from .load import Run, assign_labels, chance_level
from .stats import Z95, wilson

METRIC_WORDS = {
    "acc": "accuracy: share of documents whose likeliest choice is right",
    "acc_norm": "length-normalised accuracy: the likeliest choice per character of its text",
    "exact_match": "exact match of the extracted answer with the reference",
    "exact_match_flex": "exact match of the last number in the generated text",
}
METRIC_WORDS_BY_TASK = {
    ("truthfulqa_mc2", "acc"): "probability mass on the true answers (normalised over all choices), averaged",
    ("gsm8k", "exact_match"): 'exact match of the number after "The answer is" with the reference',
    ("mmlu_pro", "exact_match"): 'exact match of the letter after "the answer is" with the right letter',
}


def describe_metric(task: str, metric: str) -> str:
    """What a task's metric measures, in words (for chart footers and table notes)."""
    return METRIC_WORDS_BY_TASK.get((task, metric)) or METRIC_WORDS.get(metric, metric)


@dataclass(frozen=True)
class MatrixCell:
    """One run: a model (row label) on a task, its primary metric and cost."""

    model: str  # the row label (Run.label)
    task: str
    task_title: str
    metric: str  # the task's primary metric name
    value: float | None  # the primary metric over what the run answered (results.accuracy.micro)
    ci_low: float | None  # 95% interval (see ci_method); None when there is none
    ci_high: float | None
    ci_method: str  # "wilson", "normal" or "none"
    correct: int  # documents right (the primary metric read as right/wrong)
    answered: int
    total: int  # documents the run planned
    shots: int
    chance: float | None  # what uniform random picks score on these documents (None for generative tasks)
    wall_s: float | None  # wall-clock seconds spent scoring (model load excluded)
    questions_per_s: float | None  # documents per second of that wall time
    path: str  # the run folder

    @property
    def complete(self) -> bool:
        return self.answered >= self.total


@dataclass(frozen=True)
class TaskMatrix:
    models: tuple[str, ...]  # row labels, in the order the runs were given
    tasks: tuple[str, ...]  # task names: the registry's order (core.tasks.TASK_NAMES), then unknown ones
    cells: dict[tuple[str, str], MatrixCell]  # (model, task) -> cell
    titles: dict[str, str] = field(default_factory=dict)  # task -> its title ("ARC-Challenge")
    metrics: dict[str, str] = field(default_factory=dict)  # task -> its primary metric

    def cell(self, model: str, task: str) -> MatrixCell | None:
        return self.cells.get((model, task))

    def value(self, model: str, task: str) -> float | None:
        cell = self.cells.get((model, task))
        return None if cell is None else cell.value

    def runs_of(self, task: str) -> list[MatrixCell]:
        """The cells of one task, in row order."""
        return [c for m in self.models if (c := self.cells.get((m, task))) is not None]

    def to_dict(self) -> dict[str, Any]:
        return {
            "models": list(self.models),
            "tasks": list(self.tasks),
            "titles": dict(self.titles),
            "metrics": dict(self.metrics),
            "cells": [asdict(self.cells[k]) for m in self.models for t in self.tasks if (k := (m, t)) in self.cells],
        }


def _interval(run: Run) -> tuple[float | None, float | None, str]:
    values = [v for rec in run.records.values() if (v := rec.metrics.get(run.metric)) is not None]
    n = len(values)
    if not n:
        return None, None, "none"
    if all(v in (0.0, 1.0) for v in values):
        acc = run.results.accuracy
        lo, hi = wilson(acc.correct, acc.answered) if acc.answered else wilson(int(sum(values)), n)
        return lo, hi, "wilson"
    if n < 2:
        return None, None, "none"
    mean = sum(values) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = Z95 * sd / math.sqrt(n)
    return max(0.0, mean - half), min(1.0, mean + half), "normal"


def _cell(run: Run) -> MatrixCell:
    acc = run.results.accuracy
    timing = run.results.timing
    wall = timing.wall_s or None
    qps = timing.questions / wall if wall and timing.questions else timing.questions_per_s
    lo, hi, method = _interval(run)
    return MatrixCell(
        model=run.label,
        task=run.task,
        task_title=run.task_info.title if run.task_info.name == run.task else run.task,
        metric=run.metric,
        value=acc.micro,
        ci_low=lo,
        ci_high=hi,
        ci_method=method,
        correct=acc.correct,
        answered=acc.answered or len(run.records),
        total=acc.total or len(run.records),
        shots=run.identity.shots,
        chance=chance_level(run.task_info, list(run.records.values())),
        wall_s=wall,
        questions_per_s=qps,
        path=str(run.path),
    )


def order_tasks(tasks: Sequence[str]) -> tuple[str, ...]:
    """The registry's order, then tasks it does not know, in the order given."""
    known = [t for t in TASK_NAMES if t in tasks]
    return tuple(known + [t for t in dict.fromkeys(tasks) if t not in TASK_NAMES])


def task_matrix(runs: Sequence[Run]) -> TaskMatrix:
    """The models x tasks grid of ``runs`` (labels are assigned when missing or when two runs of one task share
    one, so every (model, task) holds exactly one run)."""
    keys = [(r.label, r.task) for r in runs]
    if any(not r.label for r in runs) or len(set(keys)) < len(keys):
        assign_labels(list(runs))
    cells = {(r.label, r.task): _cell(r) for r in runs}
    tasks = order_tasks([r.task for r in runs])
    titles = {c.task: c.task_title for c in cells.values()}
    metrics = {c.task: c.metric for c in cells.values()}
    return TaskMatrix(
        models=tuple(dict.fromkeys(r.label for r in runs)),
        tasks=tasks,
        cells=cells,
        titles={t: titles[t] for t in tasks},
        metrics={t: metrics[t] for t in tasks},
    )
