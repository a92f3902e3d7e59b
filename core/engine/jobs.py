"""The app's model work as jobs: typed, picklable requests that run where the models live (the engine process).

A job's ``run(state, emit, cancel)`` is what a screen's worker thread used to call itself: it emits the engine's
events and returns a result (or raises; an ``LlmTuiError`` keeps its message across the pipe). ``EngineState``
is what outlives a job in the engine: the one loaded model (``ModelCache``, shared by evaluation, chat and
MT-Bench answers) and the chat sessions.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import EvalConfig
from ..models import ModelCache

Emit = Callable[[Any], None]
_IMPORTS = threading.Lock()
_imported = False


def import_libraries() -> None:
    """Import transformers (and torch) once, before a job runs: transformers resolves its names lazily, and two
    jobs resolving them at once on two threads (the app's warm-up and a run started at once) fail with "cannot
    import name 'AutoModelForCausalLM' from 'transformers'" (seen here). The first job imports; the others wait."""
    global _imported
    with _IMPORTS:
        if _imported:
            return
        try:
            import transformers

            transformers.AutoModelForCausalLM, transformers.AutoTokenizer  # noqa: B018  (the lazy names, resolved)
        except Exception:  # noqa: S110  (a broken install is the job's own error to report, with its context)
            pass
        _imported = True


@dataclass
class EngineState:
    models: ModelCache = field(default_factory=ModelCache)
    sessions: dict[int, Any] = field(default_factory=dict)  # chat sessions by id
    next_session: int = 1
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass(frozen=True)
class ModelChoice:
    """A model as the setup screen picks it: what chat and MT-Bench answers load."""

    spec: str
    device: str = "auto"
    dtype: str = "auto"
    quant: str = "none"
    backend: str = "transformers"
    base_url: str = ""

    @classmethod
    def of(cls, choice: dict[str, str]) -> ModelChoice:
        return cls(**{k: v for k, v in choice.items() if k in cls.__dataclass_fields__})

    def open(self, state: EngineState, cache: Path, emit: Emit | None = None, cancel: threading.Event | None = None
             ) -> Any:  # fmt: skip
        """The loaded model: the engine's shared transformers copy, or llama.cpp / a server."""
        from ..chat.remote import open_chat_model

        return open_chat_model(self.backend, self.spec, cache, device=self.device, dtype=self.dtype,
                               quant=self.quant, base_url=self.base_url or None, models=state.models, emit=emit,
                               cancel=cancel)  # fmt: skip


class Job:
    """One request to the engine."""

    def run(self, state: EngineState, emit: Emit, cancel: threading.Event) -> Any:
        raise NotImplementedError


@dataclass(frozen=True)
class Warm(Job):
    """Import torch and transformers and look at the devices, so that the first real job starts at once."""

    def run(self, state: EngineState, emit: Emit, cancel: threading.Event) -> Any:
        from ..devices import available_devices

        return available_devices()


@dataclass(frozen=True)
class Evaluate(Job):
    """Runs (or resumes) one or more evaluations in turn. With several, every task's data, subsets and shot
    count are checked first, so a bad choice for the last fails before the first model loads."""

    configs: tuple[EvalConfig, ...]

    def run(self, state: EngineState, emit: Emit, cancel: threading.Event) -> Any:
        from ..evaluate import evaluate, plan
        from ..locations import cache_dir

        if len(self.configs) > 1:
            checked: set[str] = set()
            for config in self.configs:
                if config.task not in checked:
                    checked.add(config.task)
                    config.validate()
                    plan(config, cache_dir(config.cache_dir), emit, cancel)
        for config in self.configs:
            if cancel.is_set():
                break
            evaluate(config, emit, cancel, state.models)
        return None


@dataclass(frozen=True)
class Unload(Job):
    """Release the engine's model (and its chat sessions over it)."""

    def run(self, state: EngineState, emit: Emit, cancel: threading.Event) -> Any:
        with state.lock:
            state.sessions.clear()
        state.models.release()
        return None


@dataclass(frozen=True)
class MtAnswer(Job):
    choice: ModelChoice
    history: bool
    per_category: int
    max_tokens: int
    folder: Path  # the MT-Bench folder: answers go to its model_answer/
    cache: Path

    def run(self, state: EngineState, emit: Emit, cancel: threading.Event) -> Any:
        from ..mtbench import answer_questions, bundled_questions, model_id_for
        from ..mtbench import per_category as pick

        questions = pick(bundled_questions(self.cache), self.per_category)
        loaded = self.choice.open(state, self.cache, emit, cancel)
        answer_questions(loaded, questions, self.folder / "model_answer",
                         model_id=model_id_for(loaded.source.spec, self.history), history=self.history,
                         max_new_tokens=self.max_tokens, emit=emit, cancel=cancel)  # fmt: skip
        return None


@dataclass(frozen=True)
class MtJudge(Job):
    judge: str
    choice: ModelChoice  # the judge runs on its backend and device
    per_category: int
    folder: Path
    cache: Path

    def run(self, state: EngineState, emit: Emit, cancel: threading.Event) -> Any:
        from .. import assets
        from ..mtbench import bundled_questions
        from ..mtbench import per_category as pick
        from ..mtbench.judge import load_answer_files, load_judge_prompts, load_references, run_judging
        from ..mtbench.judges import open_judge

        cache = self.cache
        questions = pick(bundled_questions(cache), self.per_category)
        answers = load_answer_files([self.folder / "model_answer"])
        prompts = load_judge_prompts(assets.ensure("mt-bench-judge-prompts", cache))
        refs = load_references(assets.ensure("mt-bench-reference-0125", cache),
                               assets.ensure("mt-bench-reference", cache))  # fmt: skip
        chosen = {q.question_id for q in questions}
        answers = {m: {q: a for q, a in by_q.items() if q in chosen} for m, by_q in answers.items()}
        backend = "llamacpp" if self.choice.backend == "llamacpp" else "transformers"
        judge = open_judge(self.judge, cache, backend=backend, device=self.choice.device, dtype=self.choice.dtype,
                           emit=emit, cancel=cancel)  # fmt: skip
        try:
            run_judging(judge, questions, answers, prompts, refs, self.folder / "model_judgment", emit=emit,
                        cancel=cancel)  # fmt: skip
        finally:
            judge.close()
        return None
