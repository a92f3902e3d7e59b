"""What the evaluation loop needs from wherever a model runs (in-process transformers today).

The loop asks the backend to ``prepare`` each request once (tokenize; its ``length`` orders the batches), then
to ``run`` a batch of prepared requests, getting one result per request in the same order. A batch that does
not fit in memory raises an out-of-memory error the loop recognises (``is_out_of_memory``) and retries halved.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ..tasks.base import ChatFormat, Request, Result


class Cancelled(Exception):
    """A batch stopped before it finished because the user cancelled; none of its results count."""


@dataclass
class Prepared:
    request: Request
    length: int  # tokens the batch will process for this request (orders and sizes batches)
    data: Any  # backend-specific (token ids)


@dataclass
class BatchOutput:
    results: list[Result]
    gpu_ms: float | None = None


class Backend(Protocol):
    name: str

    @property
    def chat_format(self) -> ChatFormat | None: ...

    def prepare(self, request: Request) -> Prepared: ...

    def run(self, batch: Sequence[Prepared], cancel: threading.Event | None = None) -> BatchOutput: ...


def is_out_of_memory(exc: BaseException) -> bool:
    text = str(exc).lower()
    return "out of memory" in text or "can't allocate memory" in text or "defaultcpuallocator" in text
