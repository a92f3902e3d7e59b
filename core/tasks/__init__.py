"""The task layer: documents, prompt builders, scoring kinds and metrics, one module per task family."""

from .base import ChoiceRequest, ChoiceResult, Doc, GenerateRequest, GenerateResult, Task, TaskData
from .registry import DEFAULT_TASK, TASK_CLASSES, TASK_NAMES, get_task, parse_tasks

__all__ = [
    "DEFAULT_TASK",
    "TASK_CLASSES",
    "TASK_NAMES",
    "ChoiceRequest",
    "ChoiceResult",
    "Doc",
    "GenerateRequest",
    "GenerateResult",
    "Task",
    "TaskData",
    "get_task",
    "parse_tasks",
]
