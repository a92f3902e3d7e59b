"""The one typed configuration of an evaluation run (the CLI and the app both build this)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from .assets import DEFAULT_MODEL
from .devices import DEVICES, DTYPES, QUANTS
from .errors import UserInputError
from .mmlu.subjects import DEFAULT_SUBJECTS


@dataclass
class EvalConfig:
    model: str = DEFAULT_MODEL
    subjects: str = ",".join(DEFAULT_SUBJECTS)  # names, comma lists, 'all', categories
    device: str = "auto"
    dtype: str = "auto"
    quant: str = "none"
    data: str = "bundled"  # 'bundled', 'hub' or a file path
    dev_data: str | None = None  # few-shot exemplars file (when --data has no dev split)
    shots: int = 0
    limit: int | None = None  # questions per subject
    chat_template: bool = False
    batch_size: int | None = None  # None: chosen per device, halved on out-of-memory
    output: str | None = None  # run folder; default runs/<UTC time>-<model>-<device>-<quant>
    runs_dir: str = "runs"
    cache_dir: str | None = None
    trust_remote_code: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> None:
        if self.limit is not None and self.limit < 1:
            raise UserInputError(f"--limit {self.limit}: the limit is questions per subject and must be 1 or more")
        if self.shots < 0 or self.shots > 5:
            raise UserInputError(f"--shots {self.shots}: use 0 to 5 (MMLU's dev split has 5 per subject)")
        if self.batch_size is not None and self.batch_size < 1:
            raise UserInputError(f"--batch-size {self.batch_size}: must be 1 or more")
        if self.device not in DEVICES and not self.device.startswith("cuda:"):
            raise UserInputError(f"--device {self.device}: use one of {', '.join(DEVICES)}")
        if self.dtype not in DTYPES:
            raise UserInputError(f"--dtype {self.dtype}: use one of {', '.join(DTYPES)}")
        if self.quant not in QUANTS:
            raise UserInputError(f"--quant {self.quant}: use one of {', '.join(QUANTS)}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
