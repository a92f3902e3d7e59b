"""What the app and its engine process say to each other over their pipe: typed messages, pickled by the pipe.

Both ends are the same llm-tui (the app spawns the engine from its own interpreter), so the messages carry no
version; ``PROTOCOL`` is checked once, in the engine's ``Hello``, to catch a stale engine all the same.

UI to engine: ``Submit`` a job, ``Cancel`` one, ``Shutdown``. Engine to UI: ``Hello`` once, then per job its
events (``JobEvent``), and one ``JobDone`` or ``JobFailed``; ``EngineStatus`` whenever what the engine holds
changes (a model loaded or released) and after each job.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

PROTOCOL = 1


@dataclass(frozen=True)
class Submit:
    job_id: int
    job: Any  # a core.engine.jobs.Job


@dataclass(frozen=True)
class Cancel:
    job_id: int


@dataclass(frozen=True)
class Shutdown:
    pass


@dataclass(frozen=True)
class Hello:
    pid: int
    protocol: int
    nice: int  # the engine's scheduling niceness (higher: the UI wins the CPU)


@dataclass(frozen=True)
class JobEvent:
    job_id: int
    event: Any  # a core.events / core.chat / core.mtbench event dataclass


@dataclass(frozen=True)
class JobDone:
    job_id: int
    result: Any


@dataclass(frozen=True)
class JobFailed:
    job_id: int
    kind: str  # the exception's class name
    message: str
    user_error: bool  # a foreseeable failure (LlmTuiError): its message is shown as is
    exit_code: int = 1


@dataclass(frozen=True)
class EngineStatus:
    """What the engine process holds: its model (if any) and its memory. Shown by the app's screens."""

    pid: int
    model: str | None  # the spec of the model loaded in the engine, None when none is
    device: str = ""
    dtype: str = ""
    quant: str = ""
    rss_bytes: int = 0
    peak_rss_bytes: int = 0
    sessions: int = 0  # chat sessions the engine keeps
    loads: int = 0  # models this engine has loaded (a model reused by chat or a resumed run is not counted)
