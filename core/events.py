"""Typed progress events. The engine yields these; front ends (rich batch output, the Textual app) render them.

Events carry the run-file models (``DocRecord``, ``Timing``, ``SubsetResult``, ``RunResults``, ``ModelInfo``)
rather than dicts, so a front end renders exactly what is written to disk.
"""

from __future__ import annotations

from dataclasses import dataclass

from .schema import DocRecord, ModelInfo, RunResults, SubsetResult, TaskInfo, Timing


@dataclass(frozen=True)
class Event:
    """Base class of every engine event."""


@dataclass(frozen=True)
class Notice(Event):
    """Something the user should read (a repaired file, a fallback taken)."""

    message: str
    level: str = "info"  # "info" or "warning"


@dataclass(frozen=True)
class AssetProgress(Event):
    name: str
    stage: str  # "download <pkg>", "extract", "done"
    done: int
    total: int | None  # None while the size is unknown (pip is downloading)


@dataclass(frozen=True)
class ModelLoading(Event):
    model: str
    stage: str  # "resolve", "convert", "load"
    detail: str = ""


@dataclass(frozen=True)
class ModelLoaded(Event):
    model: str
    info: ModelInfo


@dataclass(frozen=True)
class SubsetPlan:
    subset: str
    total: int
    done: int
    correct: int


@dataclass(frozen=True)
class RunStarted(Event):
    run_dir: str
    model: str
    task: TaskInfo
    subsets: tuple[SubsetPlan, ...]
    total: int
    done: int
    resumed: bool


@dataclass(frozen=True)
class SubsetStarted(Event):
    subset: str
    total: int
    done: int


@dataclass(frozen=True)
class DocScored(Event):
    """One document scored. ``record`` is the line written to questions.jsonl."""

    record: DocRecord
    subset_done: int
    subset_total: int
    subset_correct: int
    overall_done: int
    overall_total: int
    overall_correct: int


@dataclass(frozen=True)
class BatchStarted(Event):
    """A batch goes to the model: documents ``first``..``last`` of the run (1-based, in journal order)."""

    subset: str
    first: int
    last: int
    overall_total: int


@dataclass(frozen=True)
class ServerStatus(Event):
    """A server backend's state: requests in flight now, retries so far, replicas still answering."""

    in_flight: int
    retries: int
    alive: int
    replicas: int


@dataclass(frozen=True)
class BatchScored(Event):
    subset: str
    size: int
    batch_size: int
    seconds: float
    prompt_tokens: int
    timing: Timing  # the subset's running totals, for the live timing panel


@dataclass(frozen=True)
class BatchSizeReduced(Event):
    old: int
    new: int
    reason: str


@dataclass(frozen=True)
class SubsetFinished(Event):
    subset: str
    result: SubsetResult


@dataclass(frozen=True)
class RunFinished(Event):
    run_dir: str
    results: RunResults


@dataclass(frozen=True)
class RunCancelled(Event):
    run_dir: str
    done: int
    total: int
    results: RunResults
