"""Compare runs: mistake patterns (shared or random?), pairwise agreement, letter bias, configurations.

Pure computation on run folders (numpy, no UI, no plotting); front ends render the dataclasses.

    from core.analysis import load_runs, analyse, compare_configs
    runs = load_runs(["runs/smollm2", "runs/gemma"])   # UserInputError: missing / not a run / empty
    analysis = analyse(runs)                           # UserInputError: < 2 runs, no common questions
    configs = compare_configs(runs, baseline=None)     # float32 CPU run if present, else the first
"""

from .configs import METRIC_NAMES, METRICS, ConfigComparison, ConfigRow, choose_baseline, compare_configs
from .load import Aligned, Run, align, assign_labels, load_run, load_runs
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
    SubjectMistakes,
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
    "McNemar",
    "OverlapTest",
    "PairStats",
    "QuestionRef",
    "Run",
    "RunSummary",
    "SubjectMistakes",
    "align",
    "analyse",
    "assign_labels",
    "choose_baseline",
    "compare_configs",
    "hard_questions",
    "letter_bias",
    "load_run",
    "load_runs",
    "mcnemar",
    "overlap_test",
    "pairwise",
    "wilson",
]
