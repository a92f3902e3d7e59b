"""Configuration comparison: time, memory and accuracy of runs side by side, with ratios to a baseline.

Meant for runs of one model on one task that differ in device, dtype or quantization (it works across models
too, and says so in ``notes``; across tasks it works but compares different work, and says so). Timing is
summed over the subsets every run answered, so runs over different subset lists are compared on the same work;
accuracy (share of documents right) is on the documents every run answered.

    table = compare_configs(load_runs(paths), baseline=None)   # float32 CPU run if any, else the first
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import UserInputError
from ..schema import Timing
from .load import Run, assign_labels, tasks_of
from .stats import wilson

# Metrics with a ratio to the baseline: value / baseline value (so > 1 means more time, memory, speed...).
METRICS = (
    "wall_s",
    "cpu_s",
    "gpu_s",
    "questions_per_s",
    "tokens_per_s",
    "peak_rss_bytes",
    "peak_gpu_bytes",
    "load_s",
    "model_bytes",
    "accuracy",
)
METRIC_NAMES = {
    "wall_s": "wall time (s)",
    "cpu_s": "CPU time (s)",
    "gpu_s": "GPU time (s)",
    "questions_per_s": "questions/s",
    "tokens_per_s": "prompt tokens/s",
    "peak_rss_bytes": "peak RSS",
    "peak_gpu_bytes": "peak GPU memory",
    "load_s": "load time (s)",
    "model_bytes": "model memory",
    "accuracy": "accuracy",
}


@dataclass(frozen=True)
class ConfigRow:
    """One run's cost and accuracy over the compared work. None where the run did not measure it."""

    label: str
    path: str
    model: str
    device: str
    dtype: str
    quant: str
    gpu: str | None  # the GPU's name for CUDA runs
    questions: int  # documents timed (all subsets compared)
    wall_s: float | None  # wall-clock time spent scoring, summed over the compared subsets
    cpu_s: float | None  # process CPU time (all cores) over the same batches
    gpu_s: float | None  # CUDA kernel time measured with events
    questions_per_s: float | None  # questions / wall_s
    tokens_per_s: float | None  # prompt tokens / wall_s
    peak_rss_bytes: int | None  # the process's resident memory at its highest during the run (model included)
    peak_gpu_bytes: int | None  # torch's peak allocated GPU memory
    load_s: float | None  # model load time of the last session
    model_bytes: int | None  # the loaded model's parameter and buffer memory
    accuracy: float | None  # on the questions every run answered
    accuracy_questions: int
    ci_low: float  # Wilson 95% interval of accuracy
    ci_high: float
    ratios: dict[str, float | None] = field(default_factory=dict)  # metric -> value / baseline value
    accuracy_delta: float | None = None  # accuracy - baseline accuracy (a fraction, 0.01 = 1 point)

    def value(self, metric: str) -> Any:
        return getattr(self, metric)


@dataclass(frozen=True)
class ConfigComparison:
    rows: tuple[ConfigRow, ...]
    baseline: str  # the baseline row's label
    baseline_reason: str  # "chosen", "the float32 CPU run", "the first run given"
    same_model: bool
    subsets: tuple[str, ...]  # the subsets timed
    notes: tuple[str, ...]

    @property
    def baseline_row(self) -> ConfigRow:
        return next(r for r in self.rows if r.label == self.baseline)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _sum(values: list[Any]) -> float | None:
    present = [float(v) for v in values if v is not None]
    return sum(present) if present else None


def _max(values: list[Any]) -> int | None:
    present = [int(v) for v in values if v is not None]
    return max(present) if present else None


def _gpu_name(run: Run) -> str | None:
    gpu = run.results.machine.get("gpu")
    if isinstance(gpu, dict):
        return gpu.get("name")
    return str(gpu) if gpu else None


def choose_baseline(runs: Sequence[Run], baseline: str | Path | int | None) -> tuple[int, str]:
    """The baseline's position and why it was chosen."""
    if baseline is None:
        for i, r in enumerate(runs):
            if r.device == "cpu" and r.dtype == "float32" and r.quant == "none":
                return i, "the float32 CPU run"
        return 0, "the first run given"
    if isinstance(baseline, int):
        if not 0 <= baseline < len(runs):
            raise UserInputError(f"baseline {baseline} is out of range; there are {len(runs)} runs")
        return baseline, "chosen"
    for i, r in enumerate(runs):
        if r.label == str(baseline):
            return i, "chosen"
    wanted = Path(baseline).expanduser().resolve()
    for i, r in enumerate(runs):
        if r.path.expanduser().resolve() == wanted:
            return i, "chosen"
    raise UserInputError(f"--baseline {baseline} is not one of the runs given; add it to the run folders or drop it")


def compare_configs(runs: Sequence[Run], baseline: str | Path | int | None = None) -> ConfigComparison:
    if not runs:
        raise UserInputError("no runs to compare; give one or more run folders")
    if any(not r.label for r in runs):
        assign_labels(list(runs))
    notes: list[str] = []
    tasks = tasks_of(runs)
    if len(tasks) > 1:
        notes.append(
            f"the runs are of different tasks ({', '.join(tasks)}), so they did different work; compare runs of "
            "one task, or use the models x tasks view"
        )
    answered = [{k[0] for k in r.records} for r in runs]
    subsets = set.intersection(*answered)
    if any(a != subsets for a in answered):
        notes.append(f"timing is summed over the {len(subsets)} subset(s) every run answered")
    common = set.intersection(*(set(r.records) for r in runs))
    models = {r.model for r in runs}
    if len(models) > 1:
        notes.append("the runs are of different models, so the ratios compare models as well as configurations")
    rows: list[dict[str, Any]] = []
    for r in runs:
        per_subset = r.results.subsets
        timings: list[Timing | None] = [per_subset[s].timing if s in per_subset else None for s in sorted(subsets)]
        if not subsets or any(t is None or not t.questions for t in timings):
            timings = [r.results.timing]
            notes.append(f"{r.label}: no per-subset timing; its whole-run timing is used")
        t = [x for x in timings if x is not None]
        wall = _sum([x.wall_s for x in t])
        questions = int(_sum([x.questions for x in t]) or 0)
        tokens = _sum([x.prompt_tokens for x in t])
        keys = common or set(r.records)
        correct = sum(1 for k in keys if r.records[k].correct)
        lo, hi = wilson(correct, len(keys))
        rows.append(
            dict(
                label=r.label,
                path=str(r.path),
                model=r.model,
                device=r.device,
                dtype=r.dtype,
                quant=r.quant,
                gpu=_gpu_name(r),
                questions=questions,
                wall_s=wall,
                cpu_s=_sum([x.cpu_s for x in t]),
                gpu_s=_sum([x.gpu_s for x in t]),
                questions_per_s=questions / wall if wall else None,
                tokens_per_s=tokens / wall if wall and tokens else None,
                peak_rss_bytes=_max([x.peak_rss_bytes or None for x in t]),
                peak_gpu_bytes=_max([x.peak_gpu_bytes for x in t]),
                load_s=r.results.timing.load_s,
                model_bytes=r.results.model.memory_bytes,
                accuracy=correct / len(keys) if keys else None,
                accuracy_questions=len(keys),
                ci_low=lo,
                ci_high=hi,
            )
        )
    if not common:
        notes.append("the runs share no questions; each accuracy is over its own questions")
    if len({row["questions"] for row in rows}) > 1:
        notes.append("the runs timed different numbers of questions; compare questions/s rather than totals")
    b, reason = choose_baseline(runs, baseline)
    base = rows[b]
    out = []
    for row in rows:
        ratios = {}
        for m in METRICS:
            v, bv = row[m], base[m]
            ratios[m] = float(v) / float(bv) if v is not None and bv not in (None, 0) else None
        delta = row["accuracy"] - base["accuracy"] if None not in (row["accuracy"], base["accuracy"]) else None
        out.append(ConfigRow(**row, ratios=ratios, accuracy_delta=delta))
    return ConfigComparison(
        rows=tuple(out),
        baseline=base["label"],
        baseline_reason=reason,
        same_model=len(models) == 1,
        subsets=tuple(sorted(subsets)),
        notes=tuple(dict.fromkeys(notes)),
    )
