"""The prompt of lm-evaluation-harness's default `mmlu` task, reproduced exactly.

    The following are multiple choice questions (with answers) about {subject with spaces}.\\n\\n
    [k exemplars: {question.strip()}\\nA. ..\\nB. ..\\nC. ..\\nD. ..\\nAnswer: {letter}\\n\\n]
    {question.strip()}\\nA. {choice 0}\\nB. {choice 1}\\nC. {choice 2}\\nD. {choice 3}\\nAnswer:

The model is then scored on the continuations " A", " B", " C", " D". With --chat-template the whole text
above becomes one user message, and the assistant's reply is scored on "A".."D" (no leading space, since the
reply starts a new turn).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .data import LETTERS, Question
from .subjects import pretty

PROMPT_FORMAT = "lm-eval-mmlu-default-v1"


def description(subject: str) -> str:
    return f"The following are multiple choice questions (with answers) about {pretty(subject)}.\n\n"


def format_question(q: Question, with_answer: bool = False) -> str:
    options = "".join(f"{letter}. {choice}\n" for letter, choice in zip(LETTERS, q.choices, strict=True))
    text = q.question.strip() + "\n" + options + "Answer:"
    return text + (f" {q.answer_letter}" if with_answer else "")


def build_prompt(
    q: Question, shots: Sequence[Question] = (), tokenizer: Any = None, chat_template: bool = False
) -> str:
    text = description(q.subject)
    text += "".join(format_question(s, with_answer=True) + "\n\n" for s in shots)
    text += format_question(q)
    if chat_template:
        if tokenizer is None or not getattr(tokenizer, "chat_template", None):
            from ..errors import UserInputError

            raise UserInputError("--chat-template: this model's tokenizer has no chat template; drop the flag")
        return tokenizer.apply_chat_template(
            [{"role": "user", "content": text}], tokenize=False, add_generation_prompt=True
        )
    return text


def continuation_prefix(chat_template: bool) -> str:
    return "" if chat_template else " "
