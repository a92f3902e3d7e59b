"""Load run folders (read-only) and align them on the questions they have in common.

runs = load_runs(["runs/a", "runs/b"])      # UserInputError: missing folder, not a run, no answers
aligned = align(runs)                       # UserInputError: fewer than 2 runs, no common questions
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import UserInputError
from ..runs import QUESTIONS, RESULTS, RecordKey, read_records, read_results

LETTERS = "ABCD"
CONFIG_FIELDS = ("device", "dtype", "quant")


@dataclass
class Run:
    """One finished (or partly finished) run: its folder, results.json, and question records."""

    path: Path
    results: dict[str, Any]
    records: dict[RecordKey, dict[str, Any]]
    label: str = ""

    @property
    def identity(self) -> dict[str, Any]:
        return self.results.get("identity") or {}

    @property
    def model(self) -> str:
        return str(self.identity.get("model") or "?")

    @property
    def device(self) -> str:
        return str(self.identity.get("device") or "?")

    @property
    def dtype(self) -> str:
        return str(self.identity.get("dtype") or "?")

    @property
    def quant(self) -> str:
        return str(self.identity.get("quant") or "none")

    @property
    def config(self) -> str:
        """ "cpu float32", "cuda:0 bfloat16 4bit": device, dtype and quantization in words."""
        parts = [self.device, self.dtype] + ([self.quant] if self.quant != "none" else [])
        return " ".join(parts)


def load_run(path: str | Path) -> Run:
    """A run folder, read without changing it (a torn last journal line is ignored, not repaired)."""
    folder = Path(path).expanduser()
    if not folder.exists():
        raise UserInputError(f"{folder} does not exist; give run folders (each holds {RESULTS} and {QUESTIONS})")
    if not folder.is_dir():
        raise UserInputError(f"{folder} is a file; give run folders (each holds {RESULTS} and {QUESTIONS})")
    results = read_results(folder)
    records, _notices = read_records(folder / QUESTIONS, repair=False)
    if not records:
        raise UserInputError(f"{folder} has no answered questions yet; finish or resume that run first")
    return Run(folder, results, records)


def _short_model(model: str) -> str:
    name = Path(model).name if ("/" in model or model.endswith(".gguf")) else model
    return name[:-5] if name.endswith(".gguf") else name


def _prompt_facets(run: Run) -> dict[str, str]:
    """What else, besides device/dtype/quant, makes two runs of one model different experiments."""
    ident = run.identity
    data = ident.get("data") or {}
    source = str(data.get("source") or "bundled")
    return {
        "shots": f"{int(ident.get('shots') or 0)}-shot",
        "chat_template": "chat-template" if ident.get("chat_template") else "plain-prompt",
        "limit": f"limit-{ident['limit']}" if ident.get("limit") else "all-questions",
        "data": Path(str(data.get("path"))).name if source == "file" and data.get("path") else source,
    }


def assign_labels(runs: Sequence[Run]) -> None:
    """Short unique labels: the model, plus what tells runs of one model apart (device, dtype, quantization,
    then shots, chat template, limit, data); a folder name only when nothing in the configuration does."""
    bases = [_short_model(r.model) for r in runs]
    facets = [_prompt_facets(r) for r in runs]
    labels = []
    for run, base, own in zip(runs, bases, facets, strict=True):
        group = [i for i, b in enumerate(bases) if b == base]
        differing = [f for f in CONFIG_FIELDS if len({getattr(runs[i], f) for i in group}) > 1]
        parts = [getattr(run, f) for f in differing if not (f == "quant" and run.quant == "none")]
        if differing and not parts:
            parts = ["no-quant"]
        parts += [own[k] for k in own if len({facets[i][k] for i in group}) > 1]
        labels.append(" ".join([base, *parts]))
    repeated = {label for label in labels if labels.count(label) > 1}
    labels = [
        f"{label} [{run.path.name}]" if label in repeated else label for run, label in zip(runs, labels, strict=True)
    ]
    seen: dict[str, int] = {}
    for i, label in enumerate(labels):
        if label in seen:  # still the same (two folders of one name): number them
            seen[label] += 1
            labels[i] = f"{label} #{seen[label]}"
        else:
            seen[label] = 1
    for run, label in zip(runs, labels, strict=True):
        run.label = label


def load_runs(paths: Sequence[str | Path]) -> list[Run]:
    """Load run folders and give them labels; a folder named twice is refused."""
    resolved: dict[Path, str] = {}
    for p in paths:
        key = Path(p).expanduser().resolve()
        if key in resolved:
            same = f"{p} is given twice" if str(p) == resolved[key] else f"{resolved[key]} and {p} are the same folder"
            raise UserInputError(f"{same}; give each run folder once")
        resolved[key] = str(p)
    runs = [load_run(p) for p in paths]
    assign_labels(runs)
    return runs


@dataclass(frozen=True)
class Aligned:
    """Runs side by side on their common questions, in (subject, index) order.

    ``wrong[r, q]`` is True when run r got question q wrong; ``predicted[r, q]`` is its letter.
    """

    runs: tuple[Run, ...]
    keys: tuple[RecordKey, ...]
    subjects: tuple[str, ...]
    wrong: np.ndarray  # bool, (runs, questions)
    predicted: np.ndarray  # "<U1", (runs, questions)
    answers: tuple[str, ...]  # the right letter per question
    questions: tuple[str, ...]  # the question text per question
    notices: tuple[str, ...] = field(default_factory=tuple)

    @property
    def labels(self) -> list[str]:
        return [r.label for r in self.runs]

    def subject_slices(self) -> dict[str, np.ndarray]:
        """Question positions of each subject."""
        subj = np.array([k[0] for k in self.keys])
        return {s: np.flatnonzero(subj == s) for s in self.subjects}


def _describe_questions(runs: Sequence[Run]) -> str:
    parts = []
    for r in runs[:4]:
        subjects = sorted({k[0] for k in r.records})
        shown = ", ".join(subjects[:3]) + (", ..." if len(subjects) > 3 else "")
        parts.append(f"{r.label or r.path.name}: {len(r.records)} questions in {shown}")
    return "; ".join(parts)


def align(runs: Sequence[Run]) -> Aligned:
    """The questions every run answered, with their data checked to be the same questions."""
    if len(runs) < 2:
        raise UserInputError(
            f"comparing needs at least 2 runs, got {len(runs)}; give two or more run folders of the same questions"
        )
    if any(not r.label for r in runs):
        assign_labels(list(runs))
    common = set(runs[0].records)
    for r in runs[1:]:
        common &= set(r.records)
    if not common:
        raise UserInputError(
            f"the runs share no questions ({_describe_questions(runs)}); "
            "compare runs made with the same --subjects, --limit and --data"
        )
    notices: list[str] = []
    shas = {str((r.identity.get("data") or {}).get("sha256")) for r in runs}
    if len(shas) > 1:
        notices.append("the runs used different question data (data sha256 differs); only identical questions count")
    mismatched = []
    for key in sorted(common):
        first = runs[0].records[key]
        for r in runs[1:]:
            rec = r.records[key]
            if rec.get("answer") != first.get("answer") or rec.get("question") != first.get("question"):
                mismatched.append(key)
                break
    if mismatched:
        common -= set(mismatched)
        notices.append(
            f"{len(mismatched)} question(s) share a (subject, index) but differ in text or answer between runs; "
            "left out"
        )
    if not common:
        raise UserInputError(
            "the runs share no identical questions (same subjects and indexes, but different question data); "
            "compare runs made with the same --data"
        )
    keys = tuple(sorted(common))
    wrong = np.array([[not bool(r.records[k].get("correct")) for k in keys] for r in runs], dtype=bool)
    predicted = np.array([[str(r.records[k].get("predicted") or "?")[:1] for k in keys] for r in runs], dtype="<U1")
    first = runs[0].records
    answers = tuple(str(first[k].get("answer") or "?") for k in keys)
    texts = tuple(str(first[k].get("question") or "") for k in keys)
    subjects = tuple(sorted({k[0] for k in keys}))
    sizes = {len(r.records) for r in runs}
    if sizes != {len(keys)}:
        notices.append(
            f"compared on the {len(keys)} questions all runs answered "
            f"(the runs answered {', '.join(str(len(r.records)) for r in runs)})"
        )
    return Aligned(tuple(runs), keys, subjects, wrong, predicted, answers, texts, tuple(notices))
