"""Every task llm-tui knows, by name; ``get_task`` suggests the closest names for a typo."""

from __future__ import annotations

import difflib

from ..errors import UserInputError
from .arc import ArcChallenge, ArcEasy
from .base import Task
from .gsm8k import Gsm8k
from .hellaswag import HellaSwag
from .hub import MmluPro, TruthfulQaMc1, TruthfulQaMc2
from .mmlu import Mmlu
from .simple_mc import BoolQ, OpenBookQA, Piqa, SciQ, SocialIQa
from .winogrande import Winogrande

TASK_CLASSES: dict[str, type[Task]] = {
    cls.name: cls
    for cls in (
        Mmlu, ArcChallenge, ArcEasy, HellaSwag, Winogrande, Gsm8k, BoolQ, Piqa, OpenBookQA, SciQ, SocialIQa,
        TruthfulQaMc1, TruthfulQaMc2, MmluPro,
    )
}  # fmt: skip
ALIASES = {
    "gsm8k_cot": "gsm8k",
    "siqa": "social_iqa",
    "obqa": "openbookqa",
    "arc_c": "arc_challenge",
    "arc_e": "arc_easy",
}
DEFAULT_TASK = "mmlu"
TASK_NAMES = tuple(TASK_CLASSES)


def get_task(name: str, **options: object) -> Task:
    """A fresh task object; ``options`` go to tasks that take them (MMLU's ``dev_data``)."""
    key = name.strip().lower()
    key = ALIASES.get(key, key)
    cls = TASK_CLASSES.get(key)
    if cls is None:
        close = difflib.get_close_matches(key, [*TASK_CLASSES, *ALIASES], n=3, cutoff=0.4)
        hint = f"did you mean {', '.join(close)}?" if close else "run `llm-tui tasks` to list them"
        raise UserInputError(f"unknown task '{name.strip()}'; {hint}")
    if cls is Mmlu:
        return Mmlu(dev_data=options.get("dev_data"))  # type: ignore[arg-type]
    return cls()


def parse_tasks(text: str | None) -> list[str]:
    """'arc_challenge,hellaswag' -> canonical names, in order, each once; unknown names are refused."""
    names: list[str] = []
    for raw in (text or DEFAULT_TASK).split(","):
        if raw.strip():
            task = get_task(raw).name
            if task not in names:
                names.append(task)
    if not names:
        raise UserInputError(f"no task given; pass --task {DEFAULT_TASK} (or several, comma-separated)")
    return names
