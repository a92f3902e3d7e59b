"""The one typed configuration of an evaluation run (the CLI and the app both build this)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from .assets import DEFAULT_MODEL
from .devices import DEVICES, DTYPES, QUANTS
from .errors import UserInputError


@dataclass
class EvalConfig:
    model: str = DEFAULT_MODEL
    task: str = "mmlu"
    subsets: str | None = None  # None: the task's default (MMLU: astronomy,business_ethics; others: all)
    device: str = "auto"
    dtype: str = "auto"
    quant: str = "none"
    data: str = "bundled"  # 'bundled', 'hub' or a file path
    dev_data: str | None = None  # MMLU few-shot exemplars file (when --data has no dev split)
    shots: int | None = None  # None: the task's default (lm-eval's num_fewshot)
    limit: int | None = None  # documents per subset
    chat_template: bool = False
    batch_size: int | None = None  # None: chosen per device and task, halved on out-of-memory
    max_new_tokens: int | None = None  # generate-until tasks: None = the task's cap
    output: str | None = None  # run folder; default runs/<UTC time>-<model>-<task>-<device>-<quant>
    runs_dir: str = "runs"
    cache_dir: str | None = None
    trust_remote_code: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> None:
        if self.limit is not None and self.limit < 1:
            raise UserInputError(f"--limit {self.limit}: the limit is documents per subset and must be 1 or more")
        if self.shots is not None and self.shots < 0:
            raise UserInputError(f"--shots {self.shots}: use 0 or more")
        if self.batch_size is not None and self.batch_size < 1:
            raise UserInputError(f"--batch-size {self.batch_size}: must be 1 or more")
        if self.max_new_tokens is not None and self.max_new_tokens < 1:
            raise UserInputError(f"--max-new-tokens {self.max_new_tokens}: must be 1 or more")
        if self.device not in DEVICES and not self.device.startswith("cuda:"):
            raise UserInputError(f"--device {self.device}: use one of {', '.join(DEVICES)}")
        if self.dtype not in DTYPES:
            raise UserInputError(f"--dtype {self.dtype}: use one of {', '.join(DTYPES)}")
        if self.quant not in QUANTS:
            raise UserInputError(f"--quant {self.quant}: use one of {', '.join(QUANTS)}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_saved(cls, saved: dict[str, Any]) -> EvalConfig:
        """A configuration as a run's results.json recorded it (format 1 called subsets 'subjects')."""
        data = dict(saved)
        if "subjects" in data and "subsets" not in data:
            data["subsets"] = data.pop("subjects")
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})
