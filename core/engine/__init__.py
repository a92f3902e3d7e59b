"""The app's engine: model work as typed jobs, run in a child process (or in-process) that owns the models."""

from .client import EngineCrash, EngineDied, EngineJobError, InlineEngine, ProcessEngine, make_engine
from .jobs import EngineState, Evaluate, Job, ModelChoice, MtAnswer, MtJudge, Unload, Warm
from .protocol import EngineStatus

__all__ = [
    "EngineCrash",
    "EngineDied",
    "EngineJobError",
    "EngineState",
    "EngineStatus",
    "Evaluate",
    "InlineEngine",
    "Job",
    "ModelChoice",
    "MtAnswer",
    "MtJudge",
    "ProcessEngine",
    "Unload",
    "Warm",
    "make_engine",
]
