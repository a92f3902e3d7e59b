"""The one typed configuration of an evaluation run (the CLI and the app both build this)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from .assets import DEFAULT_MODEL
from .devices import DEVICES, DTYPES, QUANTS
from .errors import UserInputError

BACKENDS = ("transformers", "llamacpp", "openai")


def redact_url(url: str) -> str:
    """``http://user:secret@host/v1`` -> ``http://***@host/v1``: credentials never reach a file or a log."""
    scheme, sep, rest = url.partition("://")
    if sep and "@" in rest.split("/", 1)[0]:
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url


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
    device_map: str | None = None  # transformers on CUDA: "auto" spreads the layers over the local GPUs
    backend: str = "transformers"  # transformers, llamacpp (a GGUF in-process) or openai (a server)
    base_url: str | None = None  # openai: the server's address; several, comma-separated, are replicas of one model
    api_key_env: str | None = None  # openai: the environment variable holding the API key (the key is never saved)
    concurrency: int | None = None  # openai, llamacpp: requests in flight (per replica); default 4
    request_timeout: float | None = None  # openai: seconds before a request is retried; default 120
    prefix_reuse: bool = True  # transformers: a k-shot prefix's keys/values computed once per subset
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
        if self.backend not in BACKENDS:
            raise UserInputError(f"--backend {self.backend}: use one of {', '.join(BACKENDS)}")
        if self.request_timeout is not None and self.request_timeout <= 0:
            raise UserInputError(f"--request-timeout {self.request_timeout}: give seconds, more than 0")
        if self.concurrency is not None and self.concurrency < 1:
            raise UserInputError(f"--concurrency {self.concurrency}: must be 1 or more")
        if self.backend == "openai" and not self.base_url:
            raise UserInputError("--backend openai needs --base-url, e.g. --base-url http://127.0.0.1:8000/v1")
        if self.backend != "openai" and (self.base_url or self.api_key_env):
            raise UserInputError("--base-url and --api-key-env are for a server: add --backend openai")
        if self.backend != "transformers":
            if self.quant != "none" or self.dtype != "auto":
                raise UserInputError(
                    f"--backend {self.backend}: the model's precision is the server's or the GGUF file's; "
                    "drop --dtype and --quant"
                )
            if self.chat_template:
                raise UserInputError(
                    f"--backend {self.backend}: prompts are sent as text; --chat-template is for --backend transformers"
                )
        if self.device_map is not None and self.backend != "transformers":
            raise UserInputError("--device-map is for --backend transformers; a server places the model itself")
        if self.backend == "llamacpp" and self.device not in ("auto", "cpu"):
            raise UserInputError("--backend llamacpp runs on the CPU here (the CPU wheel); use --device cpu")

    def base_urls(self) -> tuple[str, ...]:
        return tuple(u.strip() for u in (self.base_url or "").split(",") if u.strip())

    def to_dict(self) -> dict[str, Any]:
        """As saved in results.json: a base URL's user:password part is never written."""
        data = asdict(self)
        if self.base_url:
            data["base_url"] = ",".join(redact_url(u) for u in self.base_urls())
        return data

    @classmethod
    def from_saved(cls, saved: dict[str, Any]) -> EvalConfig:
        """A configuration as a run's results.json recorded it (format 1 called subsets 'subjects')."""
        data = dict(saved)
        if "subjects" in data and "subsets" not in data:
            data["subsets"] = data.pop("subjects")
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})
