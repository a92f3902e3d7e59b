"""Messages to prompt tokens: the tokenizer's chat template, or a documented fallback for base models.

Fallback format (used when the tokenizer has no chat template, e.g. the base ``gemma-3-270m``)::

    <system prompt>

    User: <message>
    Assistant: <reply>

    User: <message>
    Assistant:

Every system message becomes a paragraph at the top, each turn is a ``User:``/``Assistant:`` pair separated by
a blank line, and generation stops when the model starts a new line with a speaker's label: ``User:``, or
any one capitalised word and a colon (``Alice:``, ``Assistant:``), since a base model otherwise goes on to
write the user's side too, under a name it picked up from the conversation. The tokenizer adds its usual
special tokens (a BOS token) around this text.

A template that refuses a system role (some only take user/assistant turns) gets the system text folded into
the first user message instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .generation import SPEAKER_LINE

ChatMessages = Sequence[dict[str, str]]

FALLBACK_USER = "User:"
FALLBACK_ASSISTANT = "Assistant:"
FALLBACK_STOP = ("\nUser:", SPEAKER_LINE)


def fallback_render(messages: ChatMessages, add_generation_prompt: bool = True) -> str:
    """The plain-text chat format for models without a chat template (see the module docstring)."""
    system = "\n\n".join(m["content"] for m in messages if m["role"] == "system" and m["content"].strip())
    parts = [system] if system else []
    open_turn = False  # the last part is a user message still waiting for its reply
    for m in messages:
        if m["role"] == "user":
            parts.append(f"{FALLBACK_USER} {m['content']}")
            open_turn = True
        elif m["role"] == "assistant":
            if open_turn:
                parts[-1] += f"\n{FALLBACK_ASSISTANT} {m['content']}"
            else:
                parts.append(f"{FALLBACK_ASSISTANT} {m['content']}")
            open_turn = False
    text = "\n\n".join(parts)
    if add_generation_prompt:
        text += ("\n" if text else "") + FALLBACK_ASSISTANT
    return text


@dataclass
class PromptFormat:
    """Renders and tokenizes conversations for one tokenizer."""

    tokenizer: Any
    has_template: bool
    fold_system: bool = False  # the template refuses a system role: fold it into the first user message

    @classmethod
    def for_tokenizer(cls, tokenizer: Any) -> PromptFormat:
        fmt = cls(tokenizer, bool(getattr(tokenizer, "chat_template", None)))
        if fmt.has_template:
            try:
                fmt.render([{"role": "system", "content": "s"}, {"role": "user", "content": "u"}])
            except Exception:
                fmt.fold_system = True
        return fmt

    @property
    def stop_strings(self) -> tuple[str, ...]:
        return () if self.has_template else FALLBACK_STOP

    @property
    def name(self) -> str:
        return "chat template" if self.has_template else "fallback (User:/Assistant:)"

    def _folded(self, messages: ChatMessages) -> list[dict[str, str]]:
        system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
        rest = [dict(m) for m in messages if m["role"] != "system"]
        if system:
            if rest and rest[0]["role"] == "user":
                rest[0]["content"] = f"{system}\n\n{rest[0]['content']}"
            else:
                rest.insert(0, {"role": "user", "content": system})
        return rest

    def render(self, messages: ChatMessages, add_generation_prompt: bool = True) -> str:
        if not self.has_template:
            return fallback_render(messages, add_generation_prompt)
        msgs = self._folded(messages) if self.fold_system else [dict(m) for m in messages]
        return self.tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=add_generation_prompt)

    def encode(self, messages: ChatMessages, add_generation_prompt: bool = True) -> list[int]:
        """Prompt token ids; a template's text already holds its special tokens, the fallback gets the usual ones."""
        text = self.render(messages, add_generation_prompt)
        ids = self.tokenizer(text, add_special_tokens=not self.has_template)["input_ids"]
        return list(ids)

    def count(self, messages: ChatMessages) -> int:
        return len(self.encode(messages))

    def encode_reply(self, text: str) -> list[int]:
        """The tokens of ``text`` as it follows the generation prompt (no special tokens of its own)."""
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])
