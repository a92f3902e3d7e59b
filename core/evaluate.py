"""Evaluation of one model on one task: plan, load, score in batches, journal, time; typed events to a callback.

    results = evaluate(EvalConfig(task="arc_challenge", ...), on_event=print, cancel=threading.Event())

or, as an iterator (the work runs in a thread): ``for event in iter_evaluation(config, cancel): ...``

Flow: the configuration is checked and the task's documents, subsets and few-shot pools are read before any
model loads (a bad task, subset, shot count or data file fails in seconds, leaving nothing behind). Then the
run folder is opened (or resumed), the model loaded, and each subset's documents are turned into requests,
prepared by the backend (tokenised), ordered by length into a fixed plan of batches, scored, journaled and
reported. A batch that runs out of memory is retried at half the size.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

from .backends.base import Backend, Cancelled, Prepared, is_out_of_memory
from .backends.llamacpp import available as llamacpp_missing
from .backends.server import ModelClient
from .config import EvalConfig, redact_url
from .devices import check_combination, resolve_device, resolve_dtype
from .errors import EvaluationError, LlmTuiError, UserInputError, one_line
from .events import (
    BatchScored,
    BatchSizeReduced,
    BatchStarted,
    DocScored,
    Event,
    ModelLoaded,
    ModelLoading,
    Notice,
    RunCancelled,
    RunFinished,
    RunStarted,
    ServerStatus,
    SubsetFinished,
    SubsetPlan,
    SubsetStarted,
)  # fmt: skip
from .locations import cache_dir
from .models import LoadedModel, ModelCache, check_hub_model, describe_spec, load_model
from .runs import RecordKey, RunStore, default_run_dir, slug
from .schema import (
    RUN_FORMAT,
    Accuracy,
    CategoryResult,
    DocRecord,
    ModelInfo,
    RunIdentity,
    RunResults,
    Session,
    SubsetResult,
)  # fmt: skip
from .streaming import events_from_thread
from .sysinfo import machine_info, software_versions
from .tasks import Doc, GenerateRequest, Task, TaskData, get_task
from .timing import Meter, reset_peak_rss

EventCallback = Callable[[Event], None]

LLAMACPP_NO_ECHO = (
    "llama.cpp gives no log-probabilities for a prompt's own tokens, which multiple-choice log-likelihoods need; "
    "use --backend transformers, or a vLLM server with --backend openai"
)


def default_batch_size(device: str, kind: str) -> int:
    if kind == "generate_until":
        return 16 if device.startswith("cuda") else 8
    return 32 if device.startswith("cuda") else 16


@dataclass
class Plan:
    """What a run will do, decided before any model loads."""

    task: Task
    data: TaskData
    subsets: list[str]
    docs: dict[str, list[Doc]]
    shots: int
    total: int


def plan(config: EvalConfig, cache: Path, emit: EventCallback, cancel: threading.Event | None) -> Plan:
    """Validate the task, its data, subsets and shot count; read the documents. No model is touched."""
    task = get_task(config.task, dev_data=config.dev_data)
    data = task.load(config.data, cache, emit, cancel)
    subsets = task.parse_subsets(config.subsets, data.subsets)
    missing = [s for s in subsets if s not in data.docs]
    if missing:
        have = ", ".join(data.subsets[:8]) + (", ..." if len(data.subsets) > 8 else "")
        raise UserInputError(
            f"the data has no documents for {', '.join(missing[:3])}; it has {have}; pick --subjects among those"
        )
    shots = task.default_shots if config.shots is None else config.shots
    task.load_fewshot(data, subsets, shots, cache, emit, cancel)
    task.check_shots(shots, data, subsets)
    docs = {s: data.docs[s][: config.limit] if config.limit else data.docs[s] for s in subsets}
    return Plan(task, data, subsets, docs, shots, sum(len(d) for d in docs.values()))


def summarise(
    task: Task, records: dict[RecordKey, DocRecord], subsets: list[str], docs: dict[str, list[Doc]]
) -> tuple[Accuracy, dict[str, float | None], dict[str, SubsetResult], dict[str, CategoryResult]]:
    """Per-subset, per-category and overall scores: the primary metric micro (over documents) and macro (over
    subsets), and every metric's mean over the documents answered."""
    categories_of = task.categories()
    per_subset: dict[str, SubsetResult] = {}
    everything: list[DocRecord] = []
    for s in subsets:
        recs = [records[(s, d.doc_id)] for d in docs[s] if (s, d.doc_id) in records]
        everything += recs
        per_subset[s] = SubsetResult(
            category=categories_of.get(s),
            total=len(docs[s]),
            answered=len(recs),
            correct=sum(1 for r in recs if r.correct),
            accuracy=_mean([r.metrics.get(task.primary_metric) for r in recs]),
            metrics={m: _mean([r.metrics.get(m) for r in recs]) for m in task.metrics},
        )
    accs = [v.accuracy for v in per_subset.values() if v.accuracy is not None]
    accuracy = Accuracy(
        micro=_mean([r.metrics.get(task.primary_metric) for r in everything]),
        macro=round(sum(accs) / len(accs), 6) if accs else None,
        correct=sum(v.correct for v in per_subset.values()),
        answered=len(everything),
        total=sum(len(docs[s]) for s in subsets),
    )
    metrics = {m: _mean([r.metrics.get(m) for r in everything]) for m in task.metrics}
    categories: dict[str, CategoryResult] = {}
    if categories_of:
        for v in per_subset.values():
            c = categories.setdefault(v.category or "other", CategoryResult())
            c.answered += v.answered
            c.correct += v.correct
            c.subjects += 1
        for c in categories.values():
            c.accuracy = round(c.correct / c.answered, 6) if c.answered else None
    return accuracy, metrics, per_subset, categories


def _mean(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return round(sum(present) / len(present), 6) if present else None


class _Evaluation:
    def __init__(
        self, config: EvalConfig, emit: EventCallback, cancel: threading.Event | None, models: ModelCache | None
    ) -> None:
        self.config = config
        self.emit = emit
        self.cancel = cancel or threading.Event()
        self.models = models

    def run(self) -> RunResults:
        cfg = self.config
        cfg.validate()
        reset_peak_rss()  # this run's peak memory, model load included, not an earlier run's in this process
        cache = cache_dir(cfg.cache_dir)
        self.client: ModelClient | None = None
        source = describe_spec(cfg.model) if cfg.backend != "openai" else None
        if cfg.backend == "transformers":
            device = resolve_device(cfg.device)
            if cfg.device_map is not None and not device.startswith("cuda"):
                raise UserInputError(
                    f"--device-map {cfg.device_map} spreads a model over local GPUs; this run's device is {device} "
                    "(drop --device-map, or run on a CUDA machine)"
                )
            dtype = resolve_dtype(cfg.dtype, device)
            check_combination(device, dtype, cfg.quant)
        else:
            device, dtype = ("cpu", "gguf") if cfg.backend == "llamacpp" else ("server", "server")
        p = plan(cfg, cache, self.emit, self.cancel)
        task = p.task
        held = self.models is not None and self.models.holds(cfg.model, device, dtype, cfg.quant)
        if source is not None and source.kind == "hub" and not held and cfg.backend == "transformers":
            check_hub_model(source.hub_id or cfg.model)  # offline, gated or missing: fail before any folder
        if source is not None and cfg.backend == "llamacpp" and source.kind not in ("gguf", "alias"):
            raise UserInputError(
                f"--backend llamacpp runs GGUF files; {cfg.model} is not one (use a .gguf or an alias)"
            )
        model = cfg.model
        if cfg.backend == "openai":
            model = self._connect_server(task.kind, task.name)  # the server is asked before any folder is made
        elif cfg.backend == "llamacpp" and (missing := llamacpp_missing()) is not None:
            raise UserInputError(f"--backend llamacpp: {missing}")
        elif cfg.backend == "llamacpp" and task.kind == "choice_loglik":
            raise UserInputError(f"{task.name} cannot run on --backend llamacpp: {LLAMACPP_NO_ECHO}")
        identity = RunIdentity(
            model=model, backend=cfg.backend, device=device, dtype=dtype, quant=cfg.quant, task=task.name,
            data=p.data.identity, subsets=p.subsets, limit=cfg.limit, shots=p.shots,
            chat_template=cfg.chat_template, prompt_format=task.prompt_format,
        )  # fmt: skip
        if cfg.max_new_tokens and task.kind == "generate_until":
            identity.prompt_format += f"-max{cfg.max_new_tokens}"
        model_slug = source.slug if source is not None else slug(model)
        run_dir = (
            Path(cfg.output) if cfg.output else default_run_dir(cfg.runs_dir, model_slug, task.name, device, cfg.quant)
        )
        store = RunStore(run_dir)
        opened = store.open(identity)
        try:
            for message in opened.notices:
                self.emit(Notice(message, "warning"))
            records = {k: v for k, v in opened.records.items() if k[0] in p.docs}
            previous = opened.previous
            self.results = RunResults(
                format=RUN_FORMAT,
                status="running",
                run_dir=str(run_dir),
                identity=identity,
                task=task.info(),
                config={k: v for k, v in cfg.to_dict().items() if k != "extra"},
                created=previous.created if previous else datetime.now(timezone.utc).isoformat(timespec="seconds"),
                software=software_versions(),
                machine=machine_info(device),
                model=previous.model if previous else ModelInfo(),
                sessions=list(previous.sessions) if previous else [],
            )
            self.task, self.plan, self.store = task, p, store
            meters = {
                s: Meter.from_timing(previous.subsets[s].timing if previous and s in previous.subsets else None, device)
                for s in p.subsets
            }
            self.meters = meters
            done = {s: sum(1 for d in p.docs[s] if (s, d.doc_id) in records) for s in p.subsets}
            correct = {
                s: sum(1 for d in p.docs[s] if (r := records.get((s, d.doc_id))) and r.correct) for s in p.subsets
            }
            self.emit(
                RunStarted(
                    str(run_dir),
                    cfg.model,
                    task.info(),
                    tuple(SubsetPlan(s, len(p.docs[s]), done[s], correct[s]) for s in p.subsets),
                    p.total,
                    len(records),
                    opened.resumed,
                )
            )
            pending = [s for s in p.subsets if done[s] < len(p.docs[s])]
            if not pending and previous is not None and previous.status == "complete":
                self.emit(RunFinished(str(run_dir), previous))  # rerun of a finished run: nothing to do or rewrite
                return previous
            session = Session(started=datetime.now(timezone.utc).isoformat(timespec="seconds"))
            self.results.sessions.append(session)
            # Written before any model work, so the folder is recognisably this run's even if killed at once.
            self._write(records, "running")
            try:
                if pending:
                    backend, info = self._backend(device, dtype, cache, model)
                    session.load_s = info.load_s
                    self.results.model = info
                    batch_size = cfg.batch_size or default_batch_size(device, task.kind)
                    if cfg.backend != "transformers":
                        batch_size = cfg.batch_size or 2 * getattr(backend, "workers", 4)
                    overall = [len(records), sum(correct.values())]
                    for s in pending:
                        if self.cancel.is_set():
                            break
                        batch_size = self._subset(s, backend, device, batch_size, records, session, overall)
                        self._write(records, "running")
                        if all((s, d.doc_id) in records for d in p.docs[s]):  # not when cancelled mid-way
                            self.emit(SubsetFinished(s, self.results.subsets[s]))
            except Exception as exc:
                if not records and not opened.resumed:
                    store.discard()  # nothing was scored in the folder this call made: leave no half-made run behind
                else:
                    self.results.error = one_line(exc)
                    self._write(records, "failed")
                raise
            status = "cancelled" if self.cancel.is_set() and len(records) < p.total else "complete"
            if status == "cancelled" and not records and not opened.resumed:
                store.discard()  # cancelled before anything was scored (during the load): leave no empty run
                self.results.status = "cancelled"
                self.emit(RunCancelled(str(run_dir), 0, p.total, self.results))
                return self.results
            self._write(records, status)
            if status == "cancelled":
                self.emit(RunCancelled(str(run_dir), len(records), p.total, self.results))
            else:
                self.emit(RunFinished(str(run_dir), self.results))
            return self.results
        finally:
            store.close()  # the folder is free for the next command once this one is done
            if self.client is not None:
                self.client.close()

    def _backend(self, device: str, dtype: str, cache: Path, model: str) -> tuple[Backend, ModelInfo]:
        """The backend the run's documents go to, and what the run file records about its model."""
        cfg = self.config
        if cfg.backend == "transformers":
            from .backends.hf import TransformersBackend

            loaded = self._load(device, dtype, cache)
            info = loaded.info.model_copy(update={"path": None if loaded.source.kind == "hub" else loaded.info.path})
            return TransformersBackend(loaded, cfg.chat_template, cfg.prefix_reuse), info
        from .backends.server import ServerBackend

        if cfg.backend == "llamacpp":
            return self._llamacpp(cache)
        assert self.client is not None
        info = ModelInfo(spec=model, source=f"openai server {self.where}", device="server", dtype="server",
                         load_s=0.0)  # fmt: skip
        self.emit(ModelLoaded(model, info))
        return ServerBackend(self.client, model, self.echo), info

    def _connect_server(self, kind: str, task_name: str) -> str:
        """Reach the server, name its model and check it can score ``kind`` (a replica that does not answer is
        left out, with a warning, while another does)."""
        from .backends.server import ServerBackend, ServerClient, ServerSpec

        cfg = self.config
        spec = ServerSpec(
            cfg.base_urls(), cfg.model or None, cfg.api_key_env, cfg.concurrency or 4, cfg.request_timeout or 120.0
        )
        self.where = ", ".join(redact_url(u) for u in spec.base_urls)
        self.emit(ModelLoading(cfg.model or "(the server's model)", "connect", self.where))
        self.client = client = ServerClient(spec, on_retry=lambda message: self.emit(Notice(message, "warning")))
        model = client.resolve_model()
        self.echo = client.echoes_prompt_logprobs(model)
        reason = ServerBackend(client, model, self.echo).refusal(kind)
        if reason is not None:
            raise UserInputError(f"{task_name} cannot run on this server: {reason}")
        return model

    def _llamacpp(self, cache: Path) -> tuple[Backend, ModelInfo]:
        from .backends.llamacpp import LlamaCppClient
        from .backends.server import ServerBackend

        cfg = self.config
        source = describe_spec(cfg.model)
        gguf = source.path if source.kind == "gguf" and source.path else None
        if gguf is None:  # a bundled alias: its GGUF asset
            from . import assets

            self.emit(ModelLoading(cfg.model, "resolve", "bundled GGUF"))
            gguf = assets.ensure(cfg.model, cache, on_progress=self.emit, cancel=self.cancel)
        self.emit(ModelLoading(cfg.model, "load", f"llama.cpp {gguf.name}"))
        t0 = time.perf_counter()
        self.client = client = LlamaCppClient(gguf, source.slug, cfg.concurrency or 4)
        info = ModelInfo(spec=cfg.model, source="gguf", path=str(gguf), device="cpu", dtype="gguf",
                         memory_bytes=gguf.stat().st_size, load_s=round(time.perf_counter() - t0, 3))  # fmt: skip
        self.emit(ModelLoaded(cfg.model, info))
        return ServerBackend(client, client.alias, echo=False), info

    def _load(self, device: str, dtype: str, cache: Path) -> LoadedModel:
        cfg = self.config
        key = (cfg.model, device, dtype, cfg.quant)
        if self.models is not None and self.models.holds(*key):
            loaded = self.models.load(*key, cache=cache)
            self.emit(ModelLoaded(cfg.model, loaded.info.model_copy(update={"load_s": 0.0, "reused": True})))
            return loaded
        if self.models is not None:
            loaded = self.models.load(
                *key, cache=cache, trust_remote_code=cfg.trust_remote_code, emit=self.emit, cancel=self.cancel,
                device_map=cfg.device_map,
            )  # fmt: skip
        else:
            loaded = load_model(*key, cache, cfg.trust_remote_code, self.emit, self.cancel, cfg.device_map)
        self.emit(ModelLoaded(cfg.model, loaded.info))
        return loaded

    def _requests(self, subset: str, backend: Backend) -> list[Prepared]:
        p, task = self.plan, self.task
        pool = task.fewshot_pool(p.data, subset) or []
        shots = pool[: p.shots]
        chat = backend.chat_format
        prepared = []
        for doc in p.docs[subset]:
            request = task.build(doc, shots, chat)
            if self.config.max_new_tokens and isinstance(request, GenerateRequest):
                request = replace(request, max_new_tokens=self.config.max_new_tokens)
            prepared.append(backend.prepare(request))
        return prepared

    def _subset(
        self,
        subset: str,
        backend: Backend,
        device: str,
        batch_size: int,
        records: dict[RecordKey, DocRecord],
        session: Session,
        overall: list[int],
    ) -> int:
        docs = self.plan.docs[subset]
        meter = self.meters[subset]
        done = sum(1 for d in docs if (subset, d.doc_id) in records)
        correct = sum(1 for d in docs if (r := records.get((subset, d.doc_id))) and r.correct)
        self.emit(SubsetStarted(subset, len(docs), done))
        prepared = self._requests(subset, backend)
        fit = getattr(backend, "fit_batch_size", None)  # in-process backends size batches to the memory free
        if self.config.batch_size is None and fit is not None and prepared:
            longest = max(p.length for p in prepared)
            fitted = fit(device, longest, batch_size)
            if fitted < batch_size:
                self.emit(BatchSizeReduced(batch_size, fitted, f"{subset}'s longest prompt ({longest} tokens) in "
                                           f"the memory free on {device}"))  # fmt: skip
                batch_size = fitted
        begin = getattr(backend, "begin_subset", None)
        if begin is not None:
            begin(prepared)  # the transformers backend finds the subset's shared k-shot prefix
        # A fixed plan (sorted by length, then chunked) makes every document's batch, and so its numbers,
        # the same whether or not the run was interrupted; a partly journaled batch is re-run whole.
        order = sorted(range(len(docs)), key=lambda i: (prepared[i].length, i))
        start = 0
        while start < len(order):
            if self.cancel.is_set():
                break
            chunk = order[start : start + batch_size]
            todo = [i for i in chunk if (subset, docs[i].doc_id) not in records]
            if not todo:
                start += len(chunk)
                continue
            self.emit(BatchStarted(subset, overall[0] + 1, overall[0] + len(todo), self.plan.total))
            self._server_status(min(len(todo), getattr(backend, "workers", 0)))
            meter.start()
            t0 = time.perf_counter()
            try:
                output = backend.run([prepared[i] for i in chunk], self.cancel)
            except Cancelled:
                break
            except Exception as exc:
                if not is_out_of_memory(exc):
                    raise
                _free_memory(device)
                if batch_size == 1:
                    raise EvaluationError(
                        f"out of memory on {device} even with batch size 1; try "
                        "--quant 4bit, a smaller model or --device cpu"
                    ) from exc
                new = max(1, batch_size // 2)
                self.emit(BatchSizeReduced(batch_size, new, f"out of memory on {device}"))
                batch_size = new
                continue
            new_records = []
            for row, i in enumerate(chunk):
                if (subset, docs[i].doc_id) in records:
                    continue
                new_records.append(self.task.score(docs[i], prepared[i].request, output.results[row]))
            prompt_tokens = sum(r.prompt_tokens for r in new_records)
            generated = sum(r.generated_tokens for r in new_records)
            gpu_ms = None if output.gpu_ms is None else output.gpu_ms * len(todo) / len(chunk)
            meter.stop(len(new_records), prompt_tokens, gpu_ms, generated)
            self.store.append(new_records)
            for rec in new_records:
                records[rec.key] = rec
                done += 1
                correct += rec.correct
                overall[0] += 1
                overall[1] += rec.correct
                session.questions += 1
                self.emit(DocScored(rec, done, len(docs), correct, overall[0], self.plan.total, overall[1]))
            self._server_status(0)
            self.emit(
                BatchScored(
                    subset, len(new_records), batch_size, time.perf_counter() - t0, prompt_tokens, meter.as_timing()
                )
            )
            start += len(chunk)
        return batch_size

    def _server_status(self, in_flight: int) -> None:
        if self.client is None or self.config.backend != "openai":
            return
        stats = self.client.stats()
        alive = sum(1 for _, up in stats.replicas if up)
        self.emit(ServerStatus(in_flight, stats.retries, alive, len(stats.replicas)))

    def _write(self, records: dict[RecordKey, DocRecord], status: str) -> None:
        accuracy, metrics, subsets, categories = summarise(self.task, records, self.plan.subsets, self.plan.docs)
        for s in subsets:
            subsets[s].timing = self.meters[s].as_timing()
        overall = Meter(device=self.results.identity.device)
        for s in self.plan.subsets:
            overall = overall.merged(self.meters[s])
        timing = overall.as_timing()
        loads = [x.load_s for x in self.results.sessions if x.load_s is not None]
        timing.load_s = loads[-1] if loads else None
        timing.load_s_sessions = loads
        r = self.results
        r.accuracy, r.metrics, r.subsets, r.categories, r.timing = accuracy, metrics, subsets, categories, timing
        r.status = status  # type: ignore[assignment]
        r.updated = datetime.now(timezone.utc).isoformat(timespec="seconds")
        self.store.write_results(r)


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
) -> RunResults:
    """Run (or resume) one model on one task. Raises LlmTuiError subclasses for foreseeable problems.

    ``models``: a ModelCache shared with other work (the app's chat), so a model already loaded is reused.
    """
    return _Evaluation(config, on_event or (lambda _e: None), cancel, models).run()


def iter_evaluation(config: EvalConfig, cancel: threading.Event | None = None) -> Iterator[Event]:
    """The same evaluation as an iterator of events; errors are re-raised in the consuming thread."""
    return events_from_thread(lambda emit: evaluate(config, emit, cancel), "llm-tui-eval")


__all__ = ["evaluate", "iter_evaluation", "plan", "summarise", "LlmTuiError"]
