"""Typed, versioned models for everything that crosses a boundary: run files, engine events, model facts.

A run folder holds ``results.json`` (one ``RunResults``) and ``questions.jsonl`` (one ``DocRecord`` per line).
Format 2 (``llm-tui-run/2``) is written today. Format 1 (``llm-tui-run/1``, MMLU only, written before the task
layer) is read and migrated in memory on open (``migrate_results_v1``, ``migrate_record_v1``); the files on disk
are never rewritten.

Validation lives here: a record or a results file that does not fit its model is refused where it is read.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

RUN_FORMAT = "llm-tui-run/2"
RUN_FORMAT_V1 = "llm-tui-run/1"
READABLE_FORMATS = (RUN_FORMAT, RUN_FORMAT_V1)
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"

Status = Literal["running", "complete", "cancelled", "failed"]
Kind = Literal["letter_choice", "choice_loglik", "generate_until"]


class _Model(BaseModel):
    """Unknown keys are kept out (ignored), so a newer file still opens in an older reader."""

    model_config = ConfigDict(extra="ignore", frozen=False)


class DocRecord(_Model):
    """One evaluated document: one line of ``questions.jsonl``.

    ``scores`` are each choice's log-likelihood (the sum over its continuation tokens), as lm-eval computes
    them; records migrated from format 1 carry next-token logits instead (``score_kind == "logit"``).
    ``answer`` and ``pick`` are labels a person reads: a letter for multiple choice, the number for GSM8K.
    ``correct`` is the task's primary metric read as right/wrong (the mistake analysis uses it).
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    task: str
    subset: str
    doc_id: int = Field(ge=0)
    prompt_hash: str = ""
    question: str
    choices: list[str] = Field(default_factory=list)
    gold: int | list[int] | None = None
    answer: str
    scores: list[float] | None = None
    score_kind: Literal["loglik", "logit"] = "loglik"
    predicted: int | None = None  # argmax of scores
    predicted_norm: int | None = None  # argmax of scores / len(choice), lm-eval's acc_norm
    generated: str | None = None
    pick: str = ""
    metrics: dict[str, float]
    correct: bool
    prompt_tokens: int = 0
    generated_tokens: int = 0

    @property
    def key(self) -> tuple[str, int]:
        return (self.subset, self.doc_id)

    @property
    def probs(self) -> list[float]:
        """Softmax over the choices' scores (how sure the model is, among the choices only)."""
        if not self.scores:
            return []
        top = max(self.scores)
        exps = [math.exp(s - top) for s in self.scores]
        total = sum(exps)
        return [e / total for e in exps]


class Timing(_Model):
    """Cost of a stretch of work (a subset or a whole run), across every session of the run."""

    wall_s: float = 0.0
    cpu_s: float = 0.0
    gpu_s: float | None = None
    questions: int = 0
    prompt_tokens: int = 0
    generated_tokens: int = 0
    questions_per_s: float | None = None
    tokens_per_s: float | None = None
    peak_rss_bytes: int = 0
    peak_gpu_bytes: int | None = None
    load_s: float | None = None
    load_s_sessions: list[float] = Field(default_factory=list)


class ModelInfo(_Model):
    spec: str = ""
    source: str = ""
    path: str | None = None
    model_type: str | None = None
    parameters: int | None = None  # the model's parameters: tied embeddings count once (see models.count_parameters)
    stored_parameters: int | None = None  # weights held in memory (a GGUF's separate copy of a tied embedding too)
    memory_bytes: int | None = None
    device: str = ""
    dtype: str = ""
    quant: str = "none"
    context_length: int | None = None
    chat_template: bool = False
    load_s: float | None = None
    reused: bool = False


class DataIdentity(_Model):
    """Where a run's documents came from; two runs with different ``sha256`` used different files."""

    source: str = "bundled"  # "bundled", "hub", "file"
    sha256: str | None = None
    path: str | None = None
    dataset: str | None = None
    files: dict[str, str] = Field(default_factory=dict)  # what else was read (few-shot pool...), name -> sha256

    def label(self) -> str:
        """A short name: the file's name, the hub dataset, or the source, with the checksum's start."""
        name = self.path.rsplit("/", 1)[-1] if self.path else self.dataset or self.source
        return f"{name} ({self.sha256[:8]})" if self.sha256 else str(name)


class RunIdentity(_Model):
    """What makes two runs the same experiment: resume refuses a folder whose identity differs."""

    model: str
    backend: str = "transformers"
    device: str
    dtype: str
    quant: str = "none"
    task: str = "mmlu"
    data: DataIdentity = Field(default_factory=DataIdentity)
    subsets: list[str] = Field(default_factory=list)
    limit: int | None = None
    shots: int = 0
    chat_template: bool = False
    prompt_format: str = ""

    def differences(self, other: RunIdentity) -> list[tuple[str, Any, Any]]:
        """(field, mine, theirs) for each field that differs, the weightiest first; data shown by its file name."""
        order = ["task", "model", "backend", "device", "dtype", "quant", "shots", "limit", "chat_template", "subsets"]
        mine, theirs = self.model_dump(), other.model_dump()
        keys = sorted(set(mine) | set(theirs), key=lambda k: (order.index(k) if k in order else len(order), k))
        out: list[tuple[str, Any, Any]] = []
        for k in keys:
            if mine.get(k) == theirs.get(k):
                continue
            if k == "data":
                out.append((k, self.data.label(), other.data.label()))
            else:
                out.append((k, mine.get(k), theirs.get(k)))
        return out


class TaskInfo(_Model):
    """The task a run measured, as the run file records it (enough to label and compare without the registry)."""

    name: str = "mmlu"
    title: str = "MMLU"
    kind: Kind = "letter_choice"
    lm_eval_task: str = "mmlu"
    primary_metric: str = "acc"
    metrics: list[str] = Field(default_factory=lambda: ["acc"])
    split: str = "test"
    subset_label: str = "subject"


class SubsetResult(_Model):
    category: str | None = None
    total: int = 0
    answered: int = 0
    correct: int = 0
    accuracy: float | None = None  # the primary metric's mean over what was answered
    metrics: dict[str, float | None] = Field(default_factory=dict)
    timing: Timing = Field(default_factory=Timing)


class CategoryResult(_Model):
    answered: int = 0
    correct: int = 0
    subjects: int = 0
    accuracy: float | None = None


class Accuracy(_Model):
    """The primary metric overall: micro (over documents) and macro (over subsets)."""

    micro: float | None = None
    macro: float | None = None
    correct: int = 0
    answered: int = 0
    total: int = 0


class Session(_Model):
    started: str
    questions: int = 0
    load_s: float | None = None


class RunResults(_Model):
    """``results.json``: the configuration, the scores and the cost of one model on one task."""

    format: str = RUN_FORMAT
    status: Status = "running"
    run_dir: str = ""
    identity: RunIdentity
    task: TaskInfo = Field(default_factory=TaskInfo)
    config: dict[str, Any] = Field(default_factory=dict)
    created: str = ""
    updated: str = ""
    software: dict[str, str | None] = Field(default_factory=dict)
    machine: dict[str, Any] = Field(default_factory=dict)
    model: ModelInfo = Field(default_factory=ModelInfo)
    sessions: list[Session] = Field(default_factory=list)
    accuracy: Accuracy = Field(default_factory=Accuracy)
    metrics: dict[str, float | None] = Field(default_factory=dict)  # each metric's mean over every document
    subsets: dict[str, SubsetResult] = Field(default_factory=dict)
    categories: dict[str, CategoryResult] = Field(default_factory=dict)
    timing: Timing = Field(default_factory=Timing)
    error: str | None = None
    migrated_from: str | None = None  # "llm-tui-run/1" when read from an older file (never written back)

    @field_validator("format")
    @classmethod
    def _known_format(cls, value: str) -> str:
        if value not in READABLE_FORMATS:
            raise ValueError(f"unknown run format {value!r}")
        return value

    def dump(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude={"migrated_from"})


# -- format 1 ------------------------------------------------------------------------------------------------


def migrate_record_v1(rec: dict[str, Any]) -> DocRecord:
    """A format-1 MMLU line (subject, index, answer/predicted letters, probs, logits) as a format-2 record."""
    answer = str(rec["answer"])
    predicted = str(rec.get("predicted") or "")
    correct = bool(rec.get("correct"))
    scores = rec.get("scores")
    return DocRecord(
        task="mmlu",
        subset=str(rec["subject"]),
        doc_id=int(rec["index"]),
        question=str(rec.get("question") or ""),
        choices=[str(c) for c in rec.get("choices") or []],
        gold=LETTERS.index(answer) if answer in LETTERS[:4] else None,
        answer=answer,
        scores=[float(s) for s in scores] if scores else None,
        score_kind="logit",
        predicted=LETTERS.index(predicted) if predicted and predicted in LETTERS[:4] else None,
        pick=predicted,
        metrics={"acc": 1.0 if correct else 0.0},
        correct=correct,
    )


def migrate_results_v1(data: dict[str, Any]) -> RunResults:
    """A format-1 results.json (MMLU, subjects) as a format-2 ``RunResults``, in memory only."""
    ident = dict(data.get("identity") or {})
    subjects = ident.pop("subjects", None) or list((data.get("subjects") or {}).keys())
    ident["subsets"] = subjects
    ident.setdefault("task", "mmlu")
    ident.setdefault("backend", "transformers")
    subsets = {}
    for name, sub in (data.get("subjects") or {}).items():
        acc = sub.get("accuracy")
        subsets[name] = {**sub, "metrics": {"acc": acc}}
    timing = dict(data.get("timing") or {})
    out = {
        **{k: v for k, v in data.items() if k not in ("subjects", "identity", "format", "timing")},
        "format": RUN_FORMAT_V1,
        "identity": ident,
        "task": TaskInfo().model_dump(),
        "subsets": subsets,
        "metrics": {"acc": (data.get("accuracy") or {}).get("micro")},
        "timing": timing,
        "migrated_from": RUN_FORMAT_V1,
    }
    return RunResults.model_validate(out)


def parse_results(data: Any) -> RunResults:
    """Validate a results.json's content (format 1 is migrated). Raises ValueError with a short reason."""
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    fmt = data.get("format")
    if fmt not in READABLE_FORMATS:
        raise ValueError(f"format {fmt!r} is not an llm-tui run format")
    try:
        return migrate_results_v1(data) if fmt == RUN_FORMAT_V1 else RunResults.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        raise ValueError(f"{where}: {first.get('msg')}") from None


def parse_record(data: Any, fmt: str = RUN_FORMAT) -> DocRecord:
    """One journal line's JSON as a record. Raises ValueError (with pydantic's reason) when it does not fit."""
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    if fmt == RUN_FORMAT_V1 or ("subject" in data and "task" not in data):
        try:
            return migrate_record_v1(data)
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a question record ({exc})") from None
    try:
        return DocRecord.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        raise ValueError(f"{where}: {first.get('msg')}") from None
