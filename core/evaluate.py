"""MMLU evaluation: plan, load, score in batches, journal, time; reports typed events to a callback.

    results = evaluate(EvalConfig(...), on_event=print, cancel=threading.Event())

or, as an iterator (the work runs in a thread): ``for event in iter_evaluation(config, cancel): ...``
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .config import EvalConfig
from .devices import check_combination, resolve_device, resolve_dtype
from .errors import EvaluationError, LlmTuiError, UserInputError, one_line
from .events import (
    BatchScored,
    BatchSizeReduced,
    Event,
    ModelLoaded,
    Notice,
    QuestionScored,
    RunCancelled,
    RunFinished,
    RunStarted,
    SubjectFinished,
    SubjectPlan,
    SubjectStarted,
)  # fmt: skip
from .locations import cache_dir
from .mmlu.data import LETTERS, MmluData, Question, load_file, load_source
from .mmlu.prompts import PROMPT_FORMAT, build_prompt
from .mmlu.subjects import CATEGORY_OF, SUBJECTS, parse_subjects
from .models import LoadedModel, ModelCache, check_hub_model, describe_spec, load_model
from .runs import RUN_FORMAT, RunStore, default_run_dir
from .streaming import events_from_thread
from .sysinfo import machine_info, software_versions
from .timing import Meter

EventCallback = Callable[[Event], None]


def default_batch_size(device: str) -> int:
    return 32 if device.startswith("cuda") else 16


def _plan(
    config: EvalConfig, cache: Path, emit: EventCallback, cancel: threading.Event | None
) -> tuple[MmluData, list[str], dict[str, list[Question]], dict[str, list[Question]]]:
    """Validate subjects and data before any model is loaded."""
    if config.shots and config.data in ("bundled", "") and not config.dev_data:
        raise UserInputError(
            f"--shots {config.shots} needs a dev split, and the bundled MMLU has none; "
            "use --data hub (cais/mmlu), or --dev-data FILE with exemplars"
        )
    if config.data in ("bundled", "hub", ""):
        subjects = parse_subjects(config.subjects, SUBJECTS)
        data = load_source(config.data, cache, emit, cancel)
    else:
        data = load_source(config.data, cache, emit, cancel)
        subjects = parse_subjects(config.subjects, sorted(set(SUBJECTS) | set(data.subjects)))
    missing = [s for s in subjects if s not in data.test]
    if missing:
        have = ", ".join(data.subjects[:8]) + (", ..." if len(data.subjects) > 8 else "")
        raise UserInputError(
            f"the data has no questions for {', '.join(missing[:3])}; it has {have}; pick --subjects among those"
        )
    test = {s: data.test[s][: config.limit] if config.limit else data.test[s] for s in subjects}
    shots: dict[str, list[Question]] = {}
    if config.shots:
        dev = data.dev
        if config.dev_data:
            dev = load_file(Path(config.dev_data).expanduser()).test
        if not dev:
            raise UserInputError(
                f"--shots {config.shots} needs a dev split, and this data source has none; "
                "use --data hub (cais/mmlu), or --dev-data FILE with exemplars"
            )
        for s in subjects:
            if len(dev.get(s, [])) < config.shots:
                raise UserInputError(
                    f"--shots {config.shots}: the dev split has only {len(dev.get(s, []))} "
                    f"exemplars for {s}; use fewer shots"
                )
            shots[s] = dev[s][: config.shots]
    return data, subjects, test, shots


def _record(q: Question, scores: list[float], probs: list[float], predicted: int) -> dict[str, Any]:
    return {
        "subject": q.subject,
        "index": q.index,
        "question": q.question,
        "choices": list(q.choices),
        "answer": q.answer_letter,
        "predicted": LETTERS[predicted],
        "correct": predicted == q.answer,
        "probs": [round(p, 6) for p in probs],
        "scores": [round(s, 4) for s in scores],
    }


def summarise(
    records: dict[tuple[str, int], dict[str, Any]], subjects: list[str], plan: dict[str, list[Question]]
) -> dict[str, Any]:
    """Per-subject, per-category and overall accuracy (micro over questions, macro over subjects)."""
    per_subject: dict[str, dict[str, Any]] = {}
    for s in subjects:
        recs = [records[(s, q.index)] for q in plan[s] if (s, q.index) in records]
        correct = sum(1 for r in recs if r["correct"])
        per_subject[s] = {
            "category": CATEGORY_OF.get(s, "other"),
            "total": len(plan[s]),
            "answered": len(recs),
            "correct": correct,
            "accuracy": round(correct / len(recs), 6) if recs else None,
        }
    answered = sum(v["answered"] for v in per_subject.values())
    correct = sum(v["correct"] for v in per_subject.values())
    accs = [v["accuracy"] for v in per_subject.values() if v["accuracy"] is not None]
    categories: dict[str, dict[str, Any]] = {}
    for v in per_subject.values():
        c = categories.setdefault(v["category"], {"answered": 0, "correct": 0, "subjects": 0})
        c["answered"] += v["answered"]
        c["correct"] += v["correct"]
        c["subjects"] += 1
    for c in categories.values():
        c["accuracy"] = round(c["correct"] / c["answered"], 6) if c["answered"] else None
    return {
        "accuracy": {
            "micro": round(correct / answered, 6) if answered else None,
            "macro": round(sum(accs) / len(accs), 6) if accs else None,
            "correct": correct,
            "answered": answered,
            "total": sum(len(plan[s]) for s in subjects),
        },
        "subjects": per_subject,
        "categories": categories,
    }


class _Evaluation:
    def __init__(
        self, config: EvalConfig, emit: EventCallback, cancel: threading.Event | None, models: ModelCache | None
    ) -> None:
        self.config = config
        self.emit = emit
        self.cancel = cancel or threading.Event()
        self.models = models

    def run(self) -> dict[str, Any]:
        cfg = self.config
        cfg.validate()
        cache = cache_dir(cfg.cache_dir)
        source = describe_spec(cfg.model)
        device = resolve_device(cfg.device)
        dtype = resolve_dtype(cfg.dtype, device)
        check_combination(device, dtype, cfg.quant)
        data, subjects, plan, shots = _plan(cfg, cache, self.emit, self.cancel)
        held = self.models is not None and self.models.holds(cfg.model, device, dtype, cfg.quant)
        if source.kind == "hub" and not held:
            check_hub_model(source.hub_id or cfg.model)  # offline, gated or missing: fail before any folder
        identity = {
            "model": cfg.model, "device": device, "dtype": dtype, "quant": cfg.quant,
            "data": data.identity, "subjects": subjects, "limit": cfg.limit, "shots": cfg.shots,
            "chat_template": cfg.chat_template, "prompt_format": PROMPT_FORMAT,
        }  # fmt: skip
        run_dir = Path(cfg.output) if cfg.output else default_run_dir(cfg.runs_dir, source.slug, device, cfg.quant)
        store = RunStore(run_dir)
        opened = store.open(identity)
        for message in opened.notices:
            self.emit(Notice(message, "warning"))
        records = {k: v for k, v in opened.records.items() if k[0] in plan}
        previous = opened.previous or {}
        self.results: dict[str, Any] = {
            "format": RUN_FORMAT,
            "status": "running",
            "run_dir": str(run_dir),
            "identity": identity,
            "config": {k: v for k, v in cfg.to_dict().items() if k not in ("extra",)},
            "created": previous.get("created") or datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "software": software_versions(),
            "machine": machine_info(device),
            "model": previous.get("model", {}),
            "sessions": list(previous.get("sessions", [])),
        }
        meters = {s: Meter.from_dict(previous.get("subjects", {}).get(s, {}).get("timing"), device) for s in subjects}
        total = sum(len(plan[s]) for s in subjects)
        done_by_subject = {s: sum(1 for q in plan[s] if (s, q.index) in records) for s in subjects}
        correct_by_subject = {
            s: sum(1 for q in plan[s] if records.get((s, q.index), {}).get("correct")) for s in subjects
        }
        self.emit(
            RunStarted(
                str(run_dir),
                cfg.model,
                tuple(SubjectPlan(s, len(plan[s]), done_by_subject[s], correct_by_subject[s]) for s in subjects),
                total,
                len(records),
                opened.resumed,
            )
        )
        session = {"started": datetime.now(timezone.utc).isoformat(timespec="seconds"), "questions": 0, "load_s": None}
        self.results["sessions"].append(session)
        # Written before any model work, so the folder is recognisably this run's even if killed at once.
        self._write(store, records, subjects, plan, meters, "running")
        try:
            pending = [s for s in subjects if done_by_subject[s] < len(plan[s])]
            if pending:
                loaded = self._load(device, dtype, cache)
                session["load_s"] = loaded.info.get("load_s")
                self.results["model"] = {k: v for k, v in loaded.info.items() if k != "path"}
                self.results["model"]["path"] = loaded.info.get("path") if loaded.source.kind != "hub" else None
                from .mmlu.scoring import LetterScorer

                scorer = LetterScorer(loaded.model, loaded.tokenizer, device, cfg.chat_template)
                batch_size = cfg.batch_size or default_batch_size(device)
                overall = [len(records), sum(correct_by_subject.values())]
                for s in subjects:
                    if self.cancel.is_set():
                        break
                    if done_by_subject[s] == len(plan[s]):
                        continue
                    batch_size = self._subject(
                        s,
                        plan[s],
                        shots.get(s, []),
                        scorer,
                        loaded,
                        batch_size,
                        records,
                        store,
                        meters[s],
                        session,
                        overall,
                        total,
                    )
                    self._write(store, records, subjects, plan, meters, "running")
                    self.emit(SubjectFinished(s, self.results["subjects"][s]))
        except Exception as exc:
            if not records and not opened.resumed:
                store.discard()  # nothing was scored in the folder this call made: leave no half-made run behind
            else:
                self.results["error"] = one_line(exc)
                self._write(store, records, subjects, plan, meters, "failed")
            raise
        status = "cancelled" if self.cancel.is_set() and len(records) < total else "complete"
        self._write(store, records, subjects, plan, meters, status)
        if status == "cancelled":
            self.emit(RunCancelled(str(run_dir), len(records), total, self.results))
        else:
            self.emit(RunFinished(str(run_dir), self.results))
        return self.results

    def _load(self, device: str, dtype: str, cache: Path) -> LoadedModel:
        cfg = self.config
        key = (cfg.model, device, dtype, cfg.quant)
        if self.models is not None and self.models.holds(*key):
            loaded = self.models.load(*key, cache=cache)
            self.emit(ModelLoaded(cfg.model, dict(loaded.info, load_s=0.0, reused=True)))
            return loaded
        if self.models is not None:
            loaded = self.models.load(
                *key, cache=cache, trust_remote_code=cfg.trust_remote_code, emit=self.emit, cancel=self.cancel
            )
        else:
            loaded = load_model(*key, cache, cfg.trust_remote_code, self.emit, self.cancel)
        self.emit(ModelLoaded(cfg.model, loaded.info))
        return loaded

    def _subject(
        self,
        subject: str,
        questions: list[Question],
        shots: list[Question],
        scorer: Any,
        loaded: LoadedModel,
        batch_size: int,
        records: dict,
        store: RunStore,
        meter: Meter,
        session: dict,
        overall: list[int],
        total: int,
    ) -> int:
        done = sum(1 for q in questions if (subject, q.index) in records)
        correct = sum(1 for q in questions if records.get((subject, q.index), {}).get("correct"))
        self.emit(SubjectStarted(subject, len(questions), done))
        encoded = [
            scorer.encode(build_prompt(q, shots, loaded.tokenizer, self.config.chat_template)) for q in questions
        ]
        # A fixed plan (sorted by length, then chunked) makes every question's batch, and so its numbers,
        # the same whether or not the run was interrupted; a partly journaled batch is re-run whole.
        order = sorted(range(len(questions)), key=lambda i: (len(encoded[i]), i))
        start = 0
        while start < len(order):
            if self.cancel.is_set():
                break
            chunk = order[start : start + batch_size]
            todo = [i for i in chunk if (subject, questions[i].index) not in records]
            if not todo:
                start += len(chunk)
                continue
            meter.start()
            t0 = time.perf_counter()
            try:
                scored = scorer.score([encoded[i] for i in chunk])
            except Exception as exc:
                from .mmlu.scoring import is_out_of_memory

                if not is_out_of_memory(exc):
                    raise
                _free_memory(loaded.device)
                if batch_size == 1:
                    raise EvaluationError(
                        f"out of memory on {loaded.device} even with batch size 1; try "
                        "--quant 4bit, a smaller model or --device cpu"
                    ) from exc
                new = max(1, batch_size // 2)
                self.emit(BatchSizeReduced(batch_size, new, f"out of memory on {loaded.device}"))
                batch_size = new
                continue
            tokens = sum(len(encoded[i]) for i in todo)
            gpu_ms = None if scored.gpu_ms is None else scored.gpu_ms * len(todo) / len(chunk)
            meter.stop(len(todo), tokens, gpu_ms)
            new_records = []
            for row, i in enumerate(chunk):
                q = questions[i]
                if (subject, q.index) in records:
                    continue
                new_records.append(_record(q, scored.scores[row], scored.probs[row], scored.predicted[row]))
            store.append(new_records)
            for rec in new_records:
                records[(subject, rec["index"])] = rec
                done += 1
                correct += rec["correct"]
                overall[0] += 1
                overall[1] += rec["correct"]
                session["questions"] += 1
                self.emit(QuestionScored(rec, done, len(questions), correct, overall[0], total, overall[1]))
            self.emit(
                BatchScored(subject, len(new_records), batch_size, time.perf_counter() - t0, tokens, meter.as_dict())
            )
            start += len(chunk)
        return batch_size

    def _write(
        self,
        store: RunStore,
        records: dict,
        subjects: list[str],
        plan: dict[str, list[Question]],
        meters: dict[str, Meter],
        status: str,
    ) -> None:
        summary = summarise(records, subjects, plan)
        for s in subjects:
            summary["subjects"][s]["timing"] = meters[s].as_dict()
        overall = Meter(device=self.results["identity"]["device"])
        for s in subjects:
            overall = overall.merged(meters[s])
        timing = overall.as_dict()
        loads = [x["load_s"] for x in self.results["sessions"] if x.get("load_s") is not None]
        timing["load_s"] = loads[-1] if loads else None
        timing["load_s_sessions"] = loads
        self.results.update(summary)
        self.results["timing"] = timing
        self.results["status"] = status
        self.results["updated"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        store.write_results(self.results)


def _free_memory(device: str) -> None:
    import gc

    gc.collect()
    if device.startswith("cuda"):
        import torch

        torch.cuda.empty_cache()


def evaluate(
    config: EvalConfig,
    on_event: EventCallback | None = None,
    cancel: threading.Event | None = None,
    models: ModelCache | None = None,
) -> dict[str, Any]:
    """Run (or resume) one model's evaluation. Raises LlmTuiError subclasses for foreseeable problems.

    ``models``: a ModelCache shared with other work (the app's chat), so a model already loaded is reused.
    """
    return _Evaluation(config, on_event or (lambda _e: None), cancel, models).run()


def iter_evaluation(config: EvalConfig, cancel: threading.Event | None = None) -> Iterator[Event]:
    """The same evaluation as an iterator of events; errors are re-raised in the consuming thread."""
    return events_from_thread(lambda emit: evaluate(config, emit, cancel), "llm-tui-eval")


__all__ = ["evaluate", "iter_evaluation", "summarise", "LlmTuiError"]
