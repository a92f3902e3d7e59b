"""Load run folders (read-only) and align runs of one task on the documents they have in common.

runs = load_runs(["runs/a", "runs/b"])      # UserInputError: missing folder, not a run, no answers
aligned = align(runs)                       # UserInputError: fewer than 2 runs, several tasks, no common documents

A ``Run`` holds the typed ``RunResults`` and ``DocRecord``s (format-1 folders are migrated in memory by
``core.runs``; nothing is ever written back). Documents are matched by (subset, doc_id) and kept only when
every run has the same question text and right answer for them. "Wrong" is ``not record.correct`` (the task's
primary metric read as right/wrong); what a run answered is ``record.pick`` (a choice letter, or the number
extracted from generated text).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import UserInputError
from ..runs import QUESTIONS, RESULTS, RecordKey, load_records, read_results
from ..schema import LETTERS, DocRecord, RunIdentity, RunResults, TaskInfo

CONFIG_FIELDS = ("device", "dtype", "quant")
# Facets of the prompt that tell two runs of one model apart. chat_template does not depend on the task, so it is
# compared over all runs of a model; shots, limit and data have task-specific defaults (GSM8K is 8-shot, MMLU
# 0-shot), so they only count when they differ between runs of the same task.
MODEL_FACETS = ("chat_template",)
NOT_APPLICABLE_GENERATED = "not applicable: answers are generated text"
NOT_APPLICABLE_MULTI = "not applicable: questions have several right answers"


@dataclass
class Run:
    """One finished (or partly finished) run: its folder, results and document records (typed, read-only)."""

    path: Path
    results: RunResults
    records: dict[RecordKey, DocRecord]
    label: str = ""  # the model and what tells it apart from other runs of that model; never the task

    @property
    def identity(self) -> RunIdentity:
        return self.results.identity

    @property
    def task(self) -> str:
        return self.identity.task or self.results.task.name

    @property
    def task_info(self) -> TaskInfo:
        return self.results.task

    @property
    def metric(self) -> str:
        """The task's primary metric (``acc``, ``acc_norm``, ``exact_match``)."""
        return self.results.task.primary_metric

    @property
    def model(self) -> str:
        return self.identity.model or "?"

    @property
    def device(self) -> str:
        return self.identity.device or "?"

    @property
    def dtype(self) -> str:
        return self.identity.dtype or "?"

    @property
    def quant(self) -> str:
        return self.identity.quant or "none"

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
    records = load_records(folder, results)
    if not records:
        raise UserInputError(f"{folder} has no answered questions yet; finish or resume that run first")
    return Run(folder, results, records)


def _short_model(model: str) -> str:
    name = Path(model).name if ("/" in model or model.endswith(".gguf")) else model
    return name[:-5] if name.endswith(".gguf") else name


def _facets(run: Run) -> dict[str, str]:
    """What else, besides device/dtype/quant, makes two runs of one model different experiments."""
    ident = run.identity
    data = ident.data
    source = data.source or "bundled"
    return {
        "shots": f"{ident.shots}-shot",
        "chat_template": "chat-template" if ident.chat_template else "plain-prompt",
        "limit": f"limit-{ident.limit}" if ident.limit else "all-questions",
        "data": Path(data.path).name if source == "file" and data.path else source,
    }


def _differs(values: Sequence[str]) -> bool:
    return len(set(values)) > 1


def assign_labels(runs: Sequence[Run]) -> None:
    """Short labels: the model, plus what tells runs of one model apart (device, dtype, quantization, then chat
    template, then shots, limit and data when they differ between runs of one task); a folder name only when
    nothing in the configuration does. The task is never part of a label: the same model and configuration on
    two tasks gets the same label (one row of the models x tasks view). Within a task, labels are unique."""
    bases = [_short_model(r.model) for r in runs]
    facets = [_facets(r) for r in runs]
    labels = []
    for run, base in zip(runs, bases, strict=True):
        group = [i for i, b in enumerate(bases) if b == base]
        by_task: dict[str, list[int]] = {}
        for i in group:
            by_task.setdefault(runs[i].task, []).append(i)
        differing = [f for f in CONFIG_FIELDS if _differs([getattr(runs[i], f) for i in group])]
        parts = [getattr(run, f) for f in differing if not (f == "quant" and run.quant == "none")]
        if differing and not parts:
            parts = ["no-quant"]
        own = _facets(run)
        for k in own:  # shots, chat template, limit, data
            groups = [group] if k in MODEL_FACETS else list(by_task.values())
            if any(_differs([facets[i][k] for i in g]) for g in groups):
                parts.append(own[k])
        labels.append(" ".join([base, *parts]))
    keyed = [(run.task, label) for run, label in zip(runs, labels, strict=True)]
    repeated = {k for k in keyed if keyed.count(k) > 1}
    labels = [
        f"{label} [{run.path.name}]" if k in repeated else label
        for run, label, k in zip(runs, labels, keyed, strict=True)
    ]
    seen: dict[tuple[str, str], int] = {}
    for i, (run, label) in enumerate(zip(runs, labels, strict=True)):
        key = (run.task, label)
        if key in seen:  # still the same (two folders of one name): number them
            seen[key] += 1
            labels[i] = f"{label} #{seen[key]}"
        else:
            seen[key] = 1
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


def tasks_of(runs: Sequence[Run]) -> list[str]:
    """The tasks of ``runs``, each once, in the order first met."""
    return list(dict.fromkeys(r.task for r in runs))


@dataclass(frozen=True)
class Aligned:
    """Runs of one task side by side on their common documents, in (subset, doc_id) order.

    ``wrong[r, q]`` is True when run r got document q wrong; ``picks[r, q]`` is what it answered (a choice
    label, or the extracted answer of a generative task). ``choice_labels`` are the labels a run could pick
    (A, B, ... up to the most choices a document has); empty when ``letters_note`` says the letter analyses
    do not apply (generated answers, or several right answers per question).
    """

    runs: tuple[Run, ...]
    keys: tuple[RecordKey, ...]
    subsets: tuple[str, ...]
    wrong: np.ndarray  # bool, (runs, documents)
    picks: np.ndarray  # str, (runs, documents)
    answers: tuple[str, ...]  # the right answer's label per document
    questions: tuple[str, ...]  # the question text per document
    task: TaskInfo = field(default_factory=TaskInfo)
    choice_labels: tuple[str, ...] = ()
    letters_note: str | None = None
    chance: float | None = None  # the primary metric a uniform random pick would score, on these documents
    notices: tuple[str, ...] = field(default_factory=tuple)

    @property
    def labels(self) -> list[str]:
        return [r.label for r in self.runs]

    @property
    def letters_applicable(self) -> bool:
        return self.letters_note is None

    def subset_slices(self) -> dict[str, np.ndarray]:
        """Document positions of each subset."""
        subset = np.array([k[0] for k in self.keys])
        return {s: np.flatnonzero(subset == s) for s in self.subsets}


def _describe_questions(runs: Sequence[Run]) -> str:
    parts = []
    for r in runs[:4]:
        subsets = sorted({k[0] for k in r.records})
        shown = ", ".join(subsets[:3]) + (", ..." if len(subsets) > 3 else "")
        parts.append(f"{r.label or r.path.name}: {len(r.records)} questions in {shown}")
    return "; ".join(parts)


def check_one_task(runs: Sequence[Run]) -> str:
    """The task all ``runs`` measured; UserInputError (one line) when they measured several."""
    tasks = tasks_of(runs)
    if len(tasks) > 1:
        raise UserInputError(
            f"the runs are of different tasks ({', '.join(tasks)}); compare runs of one task, or use the models x "
            "tasks view (`llm-tui report` writes it for runs of several tasks)"
        )
    return tasks[0]


def choice_labels(task: TaskInfo, records: Sequence[DocRecord]) -> tuple[tuple[str, ...], str | None]:
    """The labels runs of this task pick among, or () and why the letter analyses do not apply."""
    if task.kind == "generate_until":
        return (), NOT_APPLICABLE_GENERATED
    if any(isinstance(r.gold, list) and len(r.gold) != 1 for r in records) or any("," in r.answer for r in records):
        return (), NOT_APPLICABLE_MULTI
    n = max((len(r.choices) for r in records), default=0)
    seen = {x for r in records for x in (r.answer, r.pick) if len(x) == 1 and x in LETTERS}
    n = max([n, *(LETTERS.index(x) + 1 for x in seen)])
    return tuple(LETTERS[:n]), None


def chance_level(task: TaskInfo, records: Sequence[DocRecord]) -> float | None:
    """What picking a choice uniformly at random scores on these documents (right answers / choices, averaged);
    None for generative tasks or when the records do not list their choices."""
    if task.kind == "generate_until" or not records:
        return None
    shares = []
    for r in records:
        if not r.choices:
            return None
        golds = r.gold if isinstance(r.gold, list) else [r.gold]
        shares.append(len(golds) / len(r.choices))
    return float(np.mean(shares))


def align(runs: Sequence[Run]) -> Aligned:
    """The documents every run answered, with their data checked to be the same documents."""
    if len(runs) < 2:
        raise UserInputError(
            f"comparing needs at least 2 runs, got {len(runs)}; give two or more run folders of the same questions"
        )
    check_one_task(runs)
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
    shas = {str(r.identity.data.sha256) for r in runs}
    if len(shas) > 1:
        notices.append("the runs used different question data (data sha256 differs); only identical questions count")
    mismatched = []
    for key in sorted(common):
        first = runs[0].records[key]
        for r in runs[1:]:
            rec = r.records[key]
            if rec.answer != first.answer or rec.question != first.question:
                mismatched.append(key)
                break
    if mismatched:
        common -= set(mismatched)
        notices.append(
            f"{len(mismatched)} question(s) share a (subset, doc_id) but differ in text or answer between runs; "
            "left out"
        )
    if not common:
        raise UserInputError(
            "the runs share no identical questions (same subsets and doc ids, but different question data); "
            "compare runs made with the same --data"
        )
    keys = tuple(sorted(common))
    wrong = np.array([[not r.records[k].correct for k in keys] for r in runs], dtype=bool)
    picks = np.array([[r.records[k].pick or "?" for k in keys] for r in runs], dtype=str)
    first_records = [runs[0].records[k] for k in keys]
    task = runs[0].task_info
    labels, note = choice_labels(task, [r.records[k] for r in runs for k in keys])
    metric = task.primary_metric
    if any(v not in (0.0, 1.0) for r in runs for k in keys if (v := r.records[k].metrics.get(metric)) is not None):
        notices.append(
            f"{task.name}'s {metric} is not a right/wrong score; the mistake analysis counts a question as right "
            f"when its {metric} is at least 0.5"
        )
    sizes = {len(r.records) for r in runs}
    if sizes != {len(keys)}:
        notices.append(
            f"compared on the {len(keys)} questions all runs answered "
            f"(the runs answered {', '.join(str(len(r.records)) for r in runs)})"
        )
    return Aligned(
        runs=tuple(runs),
        keys=keys,
        subsets=tuple(sorted({k[0] for k in keys})),
        wrong=wrong,
        picks=picks,
        answers=tuple(r.answer or "?" for r in first_records),
        questions=tuple(r.question for r in first_records),
        task=task,
        choice_labels=labels,
        letters_note=note,
        chance=chance_level(task, first_records),
        notices=tuple(notices),
    )
