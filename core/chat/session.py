"""The chat engine: one conversation over one loaded model.

    session = ChatSession(load_model("smollm2-135m-instruct"), ChatSettings(strategy="window"))
    for event in session.send("Hello!", stop=threading.Event()):   # generation runs in a background thread
        ...                                                          # ReplyDelta, then TurnFinished
    record = session.run_turn("And now?", emit=callback)             # the same, blocking, in this thread

Settings are frozen dataclasses replaced whole between turns (``set_option``, ``set_history``,
``set_strategy``, ``set_system``); a bad value raises UserInputError and changes nothing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..errors import LlmTuiError, UserInputError
from ..events import Event, Notice
from ..models import LoadedModel
from ..streaming import events_from_thread
from .context import ContextPlan, SummaryState, SummaryStopped, plan_context
from .conversation import Conversation, new_name
from .events import ReplyDelta, Summarizing, SummaryUpdated, TurnFinished, TurnRefused, TurnStarted
from .generation import GenerationResult, generate_reply, reply_logprob
from .messages import Message, TurnRecord
from .remote import RemoteModel
from .settings import STRATEGIES, ChatSettings, GenerationSettings, set_option
from .store import ChatStore, check_name
from .template import PromptFormat

Emit = Callable[[Event], None]
MIN_BUDGET = 32
SUMMARY_INSTRUCTION = (
    "Summarize the conversation below in at most three sentences. Keep every name, number and fact the user "
    "gave, and what was asked and answered."
)


class GenerationError(LlmTuiError):
    """Generation failed (for example out of memory)."""

    exit_code = 1


def _say_nothing(_event: Event) -> None:
    pass


def _extractive_summary(previous: str, folded: list[Message], limit_chars: int) -> str:
    """Used when the model writes an empty summary: the user's own words, clipped."""
    said = "; ".join(m.content.strip() for m in folded if m.role == "user" and m.content.strip())
    text = (previous + " " if previous else "") + (f"The user said: {said}." if said else "")
    return text.strip()[-limit_chars:]


class ChatSession:
    """A conversation (settings, transcript, summary, turn records) and the model that answers in it."""

    def __init__(
        self,
        loaded: LoadedModel | RemoteModel,
        settings: ChatSettings | None = None,
        *,
        name: str | None = None,
        store: ChatStore | None = None,
        autosave: bool = False,
    ) -> None:
        self.loaded = loaded
        self.format = PromptFormat.for_tokenizer(loaded.tokenizer)
        self.store = store
        self.autosave = autosave and store is not None
        settings = settings or ChatSettings()
        self.budget_for(settings)  # refuse impossible settings before anything starts
        self.conversation = Conversation(self._fresh_name(name), loaded.source.spec, settings)
        self._busy = threading.Lock()

    # -- state --------------------------------------------------------------------------------
    @property
    def settings(self) -> ChatSettings:
        return self.conversation.settings

    @property
    def messages(self) -> list[Message]:
        return self.conversation.messages

    @property
    def turns(self) -> list[TurnRecord]:
        return self.conversation.turns

    @property
    def summary(self) -> SummaryState:
        return self.conversation.summary

    @property
    def busy(self) -> bool:
        return self._busy.locked()

    @property
    def context_length(self) -> int:
        n = self.loaded.info.context_length or getattr(self.loaded.model.config, "max_position_embeddings", 0)
        if not n:
            limit = getattr(self.loaded.tokenizer, "model_max_length", 0) or 0
            n = limit if 0 < limit < 1_000_000 else 2048
        return int(n)

    def budget_for(self, settings: ChatSettings) -> int:
        """Prompt token budget: the model's context minus max_new_tokens, or ``max_context`` when smaller."""
        ctx, new = self.context_length, settings.generation.max_new_tokens
        limit = ctx - new
        if limit < MIN_BUDGET:
            raise UserInputError(
                f"max_new_tokens={new} leaves {max(limit, 0)} of the model's {ctx}-token context for the prompt; "
                f"use max_new_tokens of at most {ctx - MIN_BUDGET}"
            )
        return min(settings.max_context, limit) if settings.max_context else limit

    @property
    def budget(self) -> int:
        return self.budget_for(self.settings)

    # -- settings -----------------------------------------------------------------------------
    def update(self, settings: ChatSettings) -> None:
        """Replace the settings whole (validated against this model first). Applies from the next turn."""
        if settings.strategy not in STRATEGIES:
            raise UserInputError(f"unknown strategy '{settings.strategy}'; use one of {', '.join(STRATEGIES)}")
        self.budget_for(settings)
        self.conversation.settings = settings

    def set_option(self, key: str, value: Any) -> ChatSettings:
        self.update(set_option(self.settings, key, value))
        return self.settings

    def set_history(self, on: bool | None = None) -> bool:
        """Turn history on or off (None: toggle). The stored transcript is never touched."""
        self.update(replace(self.settings, history=not self.settings.history if on is None else on))
        return self.settings.history

    def set_strategy(self, name: str | None = None) -> str:
        """Switch strategy (None: the next one in STRATEGIES)."""
        if name is None:
            name = STRATEGIES[(STRATEGIES.index(self.settings.strategy) + 1) % len(STRATEGIES)]
        self.set_option("strategy", name)
        return self.settings.strategy

    def set_system(self, text: str) -> None:
        self.update(replace(self.settings, system_prompt=text.strip()))

    # -- conversation -------------------------------------------------------------------------
    def clear(self) -> None:
        """Start over with the same settings (a new name, so an autosaved conversation stays on disk)."""
        self.refuse_if_busy("clear the conversation")
        self.conversation = Conversation(self._fresh_name(None), self.loaded.source.spec, self.settings)

    def save(self, name: str | None = None) -> Path:
        if self.store is None:
            raise UserInputError("this chat has no chats folder to save into")
        if name:
            self.conversation.name = check_name(name)  # validated before anything changes
        return self.store.save(self.conversation)

    def load(self, name_or_path: str) -> list[str]:
        """Replace the conversation with a saved one; on any problem raise and keep the current one."""
        self.refuse_if_busy("load a chat")
        if self.store is None:
            raise UserInputError("this chat has no chats folder to load from")
        conv = self.store.load(name_or_path)
        try:
            self.budget_for(conv.settings)
        except UserInputError as exc:
            raise UserInputError(f"cannot use {conv.name} with this model: {exc}") from None
        notes = []
        if conv.model != self.loaded.source.spec:
            notes.append(f"{conv.name} was saved with {conv.model}; it continues with {self.loaded.source.spec}")
            conv.model = self.loaded.source.spec
        self.conversation = conv
        return notes

    def switch_model(self, loaded: LoadedModel | RemoteModel) -> list[str]:
        """Go on with another model: the conversation, settings and summary stay; the next prompt is rendered
        in the new model's format. Refused (nothing changes) while a reply is written or if the settings do not
        fit the new model's context."""
        self.refuse_if_busy("switch models")
        old = self.loaded
        self.loaded = loaded
        try:
            self.budget_for(self.settings)
        except UserInputError as exc:
            self.loaded = old
            raise UserInputError(f"cannot switch to {loaded.source.spec}: {exc}") from None
        self.format = PromptFormat.for_tokenizer(loaded.tokenizer)
        self.conversation.model = loaded.source.spec
        info = loaded.info
        return [
            f"{info.spec} ready on {info.device} ({info.dtype}, quant {info.quant}); prompt format: {self.format.name};"
            f" the conversation goes on ({len(self.messages)} messages)"
        ]

    def take_back(self) -> str:
        """Remove the last turn (its message and reply) and return the message, to send again or edit.
        Refused, with nothing changed, while a reply is written, with no turn yet, or when the summary has
        already folded that turn in."""
        self.refuse_if_busy("take back a turn")
        if not self.turns:
            raise UserInputError("there is no turn to take back yet")
        last = self.turns[-1]
        if last.refused is None:
            msgs = self.messages
            if len(msgs) < 2 or msgs[-2].role != "user" or msgs[-1].role != "assistant":
                raise UserInputError("the last turn cannot be taken back (the transcript does not end with it)")
            if self.summary.upto > len(msgs) - 2:
                raise UserInputError("the last turn is already folded into the summary; it cannot be taken back")
            del msgs[-2:]
        self.turns.pop()
        self._autosave(_say_nothing)
        return last.user

    def prompt_lines(self) -> list[str]:
        """Exactly what the last turn sent (or what the next would send for an empty message): each message
        with its role, its size in tokens when rendered alone, and its start."""
        last = next((t for t in reversed(self.turns) if t.refused is None), None)
        sent = last.sent if last else [dict(m) for m in self.plan("").messages]
        total = last.prompt_tokens if last else self.plan("").prompt_tokens
        head = f"{'last turn sent' if last else 'the next turn would send'} {len(sent)} messages, {total} tokens"
        lines = [f"{head} ({self.format.name}):"]
        for i, m in enumerate(sent):
            tokens = len(self.format.encode_reply(m["content"]))
            text = " ".join(m["content"].split())
            lines.append(f"  {i}. {m['role']:<9} {tokens:>5} tok  {text[:70] + ('…' if len(text) > 70 else '')}")
        return lines

    def markdown(self) -> str:
        """The conversation as Markdown: settings, then each turn (the model that wrote each reply)."""
        s = self.settings
        out = [f"# {self.conversation.name}", ""]
        out.append(f"- model: {self.loaded.source.spec} ({self.format.name})")
        out.append(f"- strategy: {s.strategy}, history {'on' if s.history else 'off'}, budget {self.budget} tokens")
        if s.system_prompt:
            out.append(f"- system prompt: {s.system_prompt}")
        out.append("")
        for t in self.turns:
            out += ["## You", "", t.user, ""]
            who = t.model or self.loaded.source.spec
            if t.refused is not None:
                out += [f"*(not sent: {t.refused})*", ""]
                continue
            note = " (stopped)" if t.stopped else ""
            out += [f"## {who}{note}", "", t.reply, ""]
        return "\n".join(out)

    def plan(self, text: str) -> ContextPlan:
        """What would be sent for ``text`` now (a dry run: `summarize` reports over_budget instead of folding)."""
        s = self.settings
        return plan_context(
            self.format.encode, s.system_prompt, self.messages, text, strategy=s.strategy, history=s.history,
            budget=self.budget, keep_messages=s.keep_messages, summary=self.summary, summary_tokens=s.summary_tokens,
        )  # fmt: skip

    def stats(self) -> dict[str, Any]:
        done = [t for t in self.turns if t.refused is None]
        ttfts = [t.ttft_s for t in done if t.ttft_s is not None]
        speeds = [t.tokens_per_s for t in done if t.tokens_per_s is not None]
        last = self.turns[-1] if self.turns else None
        return {
            "name": self.conversation.name,
            "model": self.loaded.source.spec,
            "format": self.format.name,
            "turns": len(self.turns),
            "refused": sum(t.refused is not None for t in self.turns),
            "stopped": sum(t.stopped for t in self.turns),
            "messages": len(self.messages),
            "strategy": self.settings.strategy,
            "history": self.settings.history,
            "budget": self.budget,
            "context_length": self.context_length,
            "last_prompt_tokens": last.prompt_tokens if last else None,
            "max_prompt_tokens": max((t.prompt_tokens for t in done), default=None),
            "last_ttft_s": last.ttft_s if last else None,
            "last_tokens_per_s": last.tokens_per_s if last else None,
            "mean_ttft_s": sum(ttfts) / len(ttfts) if ttfts else None,
            "mean_tokens_per_s": sum(speeds) / len(speeds) if speeds else None,
            "summary": self.summary.text,
            "summarized_messages": self.summary.upto,
        }

    # -- turns --------------------------------------------------------------------------------
    def send(self, text: str, stop: threading.Event | None = None) -> Iterator[Event]:
        """Play one turn in a background thread, yielding its events; errors re-raise here."""
        self._check_text(text)
        return events_from_thread(lambda emit: self.run_turn(text, emit, stop), "llm-tui-chat")

    def run_turn(self, text: str, emit: Emit | None = None, stop: threading.Event | None = None) -> TurnRecord:
        """Play one turn in this thread: plan the prompt, generate (streaming to ``emit``), record, autosave."""
        self._check_text(text)
        if not self._busy.acquire(blocking=False):
            raise UserInputError("a reply is already being generated; stop it or wait for it to finish")
        try:
            return self._turn(text.strip(), emit or _say_nothing, stop or threading.Event())
        finally:
            self._busy.release()

    def probe(self, sent: list[dict[str, str]], expected: str) -> float:
        """Log-likelihood of ``expected`` as the assistant's reply after ``sent`` (one forward pass)."""
        if isinstance(self.loaded, RemoteModel):
            raise UserInputError("probes score a reply with the model's weights: use --backend transformers")
        return reply_logprob(self.loaded.model, self.format.encode(sent), self.format.encode_reply(expected))

    # -- internals ----------------------------------------------------------------------------
    def _check_text(self, text: str) -> None:
        if not text.strip():
            raise UserInputError("empty message: type something to send, or /help for the commands")

    def refuse_if_busy(self, what: str) -> None:
        if self.busy:
            raise UserInputError(f"cannot {what} while a reply is being generated; stop it first")

    def _fresh_name(self, name: str | None) -> str:
        if name:
            return check_name(name)
        return self.store.unique_name(new_name()) if self.store else new_name()

    def _turn(self, text: str, emit: Emit, stop: threading.Event) -> TurnRecord:
        budget = self.budget_for(self.settings)
        # One snapshot for the whole turn; a summary may take at most a quarter of the budget.
        s = replace(self.settings, summary_tokens=max(8, min(self.settings.summary_tokens, budget // 4)))
        index = len(self.turns) + 1
        t0 = time.perf_counter()
        try:
            plan = plan_context(
                self.format.encode, s.system_prompt, self.messages, text, strategy=s.strategy, history=s.history,
                budget=budget, keep_messages=s.keep_messages, summary=self.summary, summary_tokens=s.summary_tokens,
                summarize_fn=lambda prev, folded: self._summarize(prev, folded, s, emit, stop),
            )  # fmt: skip
        except SummaryStopped:
            plan = self.plan(text)
            emit(TurnStarted(index, text, plan))
            record = self._record(index, text, plan, s, None, time.perf_counter() - t0, stopped=True)
            return self._finish(record, emit)
        summarize_s = None
        if s.strategy == "summarize" and s.history and plan.summary != self.summary:
            summarize_s = time.perf_counter() - t0
            self.conversation.summary = plan.summary
            emit(SummaryUpdated(plan.summary.text, plan.summary.upto))
        if plan.refused:
            record = self._record(index, text, plan, s, None, summarize_s)
            self.turns.append(record)
            self._autosave(emit)
            emit(TurnRefused(record, plan.refused))
            return record
        emit(TurnStarted(index, text, plan))
        result = self._generate(plan.prompt_ids, s.generation, stop, lambda d, n: emit(ReplyDelta(d, n)))
        record = self._record(index, text, plan, s, result, summarize_s)
        return self._finish(record, emit)

    def _finish(self, record: TurnRecord, emit: Emit) -> TurnRecord:
        self.messages.append(Message("user", record.user))
        self.messages.append(Message("assistant", record.reply, record.stopped))
        self.turns.append(record)
        self._autosave(emit)
        emit(TurnFinished(record))
        return record

    def _record(
        self,
        index: int,
        text: str,
        plan: ContextPlan,
        s: ChatSettings,
        result: GenerationResult | None,
        summarize_s: float | None,
        stopped: bool = False,
    ) -> TurnRecord:
        r = result
        return TurnRecord(
            index=index,
            user=text,
            reply=r.text if r else "",
            prompt_tokens=plan.prompt_tokens,
            budget=plan.budget,
            strategy=s.strategy,
            history=s.history,
            sent=[dict(m) for m in plan.messages],
            kept=plan.kept,
            dropped=plan.dropped,
            summarized=plan.summarized,
            summary=plan.summary.text,
            stopped=stopped or bool(r and r.stopped),
            refused=plan.refused,
            finish_reason="refused" if plan.refused else ("stopped" if stopped else (r.finish_reason if r else "eos")),
            new_tokens=r.new_tokens if r else 0,
            ttft_s=None if not r or r.ttft_s is None else round(r.ttft_s, 4),
            tokens_per_s=None if not r or r.tokens_per_s is None else round(r.tokens_per_s, 2),
            total_s=None if not r else round(r.total_s, 4),
            summarize_s=None if summarize_s is None else round(summarize_s, 4),
            generation=s.generation.to_dict(),
            model=self.loaded.source.spec,
        )

    def _generate(
        self,
        prompt_ids: list[int],
        settings: GenerationSettings,
        stop: threading.Event,
        on_delta: Callable[[str, int], None] | None,
    ) -> GenerationResult:
        if isinstance(self.loaded, RemoteModel):  # a server or llama.cpp generates; the plan was made here
            return self.loaded.generate(prompt_ids, settings, stop, on_delta, self.format.stop_strings)
        try:
            return generate_reply(
                self.loaded.model,
                self.loaded.tokenizer,
                prompt_ids,
                settings,
                stop=stop,
                on_delta=on_delta,
                stop_strings=self.format.stop_strings,
            )
        except RuntimeError as exc:
            if "out of memory" in str(exc).lower():
                raise GenerationError(
                    f"out of memory generating on {self.loaded.device}; lower max_context or max_new_tokens"
                ) from exc
            raise

    def _summarize(
        self, previous: str, folded: list[Message], s: ChatSettings, emit: Emit, stop: threading.Event
    ) -> str | None:
        """Fold ``folded`` (and the previous summary) into a new summary, written by the model itself."""
        emit(Summarizing(len(folded)))
        lines = [f"{'User' if m.role == 'user' else 'Assistant'}: {m.content}" for m in folded]
        body = (f"Earlier summary: {previous}\n\n" if previous else "") + "Conversation:\n" + "\n".join(lines)
        prompt = [{"role": "user", "content": f"{SUMMARY_INSTRUCTION}\n\n{body}"}]
        ids = self.format.encode(prompt)
        room = self.context_length - s.summary_tokens - 8
        if len(ids) > room:  # keep the newest part of a very long fold
            ids = ids[:8] + ids[len(ids) - room + 8 :]
        settings = GenerationSettings(max_new_tokens=s.summary_tokens, temperature=0.0, repetition_penalty=1.1)
        result = self._generate(ids, settings, stop, None)
        if result.stopped:
            return None
        return " ".join(result.text.split()) or _extractive_summary(previous, folded, 4 * s.summary_tokens)

    def _autosave(self, emit: Emit) -> None:
        if not self.autosave or self.store is None:
            return
        try:
            self.store.save(self.conversation)
        except UserInputError as exc:
            emit(Notice(f"autosave failed: {exc}", "warning"))
