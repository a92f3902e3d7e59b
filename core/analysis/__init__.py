"""Compare runs: mistake patterns (shared or random?), pairwise agreement, letter bias, configurations, and the
models x tasks view.

Pure computation on run folders (numpy, no UI, no plotting); front ends render the dataclasses.

    from core.analysis import load_runs, analyse, compare_configs, task_matrix
    runs = load_runs(["runs/smollm2", "runs/gemma"])   # UserInputError: missing / not a run / empty
    matrix = task_matrix(runs)                         # any runs of any tasks: models x tasks, primary metric
    analysis = analyse(runs)                           # one task; UserInputError: < 2 runs, several tasks, ...
    configs = compare_configs(runs, baseline=None)     # float32 CPU run if present, else the first
"""

from .configs import METRIC_NAMES, METRICS, ConfigComparison, ConfigRow, choose_baseline, compare_configs
from .load import Aligned, Run, align, assign_labels, check_one_task, load_run, load_runs, tasks_of
from .matrix import MatrixCell, TaskMatrix, describe_metric, order_tasks, task_matrix
from .mistakes import (
    DEFAULT_PERMUTATIONS,
    VERDICTS,
    Accuracy,
    Analysis,
    LetterBias,
    OverlapTest,
    PairStats,
    QuestionRef,
    RunSummary,
    SubsetMistakes,
    analyse,
    hard_questions,
    letter_bias,
    overlap_test,
    pairwise,
)
from .stats import McNemar, mcnemar, wilson

__all__ = [
    "DEFAULT_PERMUTATIONS",
    "METRICS",
    "METRIC_NAMES",
    "VERDICTS",
    "Accuracy",
    "Aligned",
    "Analysis",
    "ConfigComparison",
    "ConfigRow",
    "LetterBias",
    "MatrixCell",
    "McNemar",
    "OverlapTest",
    "PairStats",
    "QuestionRef",
    "Run",
    "RunSummary",
    "SubsetMistakes",
    "TaskMatrix",
    "align",
    "analyse",
    "assign_labels",
    "check_one_task",
    "choose_baseline",
    "compare_configs",
    "describe_metric",
    "hard_questions",
    "letter_bias",
    "load_run",
    "load_runs",
    "mcnemar",
    "order_tasks",
    "overlap_test",
    "pairwise",
    "task_matrix",
    "tasks_of",
    "wilson",
]
