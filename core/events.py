"""Typed progress events. The engine yields these; front ends (rich batch output, the Textual app) render them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


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
    info: dict[str, Any]  # device, dtype, quant, parameters, memory_bytes, load_s, source...


@dataclass(frozen=True)
class SubjectPlan:
    subject: str
    total: int
    done: int
    correct: int


@dataclass(frozen=True)
class RunStarted(Event):
    run_dir: str
    model: str
    subjects: tuple[SubjectPlan, ...]
    total: int
    done: int
    resumed: bool


@dataclass(frozen=True)
class SubjectStarted(Event):
    subject: str
    total: int
    done: int


@dataclass(frozen=True)
class QuestionScored(Event):
    """One question answered. ``record`` is the line written to questions.jsonl."""

    record: dict[str, Any]
    subject_done: int
    subject_total: int
    subject_correct: int
    overall_done: int
    overall_total: int
    overall_correct: int


@dataclass(frozen=True)
class BatchScored(Event):
    subject: str
    size: int
    batch_size: int
    seconds: float
    prompt_tokens: int
    timing: dict[str, Any] = field(default_factory=dict)  # running totals for the live timing panel


@dataclass(frozen=True)
class BatchSizeReduced(Event):
    old: int
    new: int
    reason: str


@dataclass(frozen=True)
class SubjectFinished(Event):
    subject: str
    result: dict[str, Any]


@dataclass(frozen=True)
class RunFinished(Event):
    run_dir: str
    results: dict[str, Any]


@dataclass(frozen=True)
class RunCancelled(Event):
    run_dir: str
    done: int
    total: int
    results: dict[str, Any]
