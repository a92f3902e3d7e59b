"""Context strategies: which messages a turn sends, against a prompt token budget.

- history off: the system prompt and the current message only;
- ``none``: everything; a prompt over the budget is refused (the caller reports it, nothing crashes);
- ``truncate``: the system prompt plus the last ``keep_messages`` messages (fewer if they would not fit);
- ``window``: the system prompt plus the most recent whole turns that fit;
- ``summarize``: when over budget, the oldest turns are folded (by the model, through ``summarize_fn``) into a
  running summary sent inside the system message, after the system prompt.

Every plan records what it sends, its exact token count, and which transcript messages were kept, dropped
or summarized. The functions here are pure: token counting and summarizing are passed in.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from .messages import Message, turn_groups

SUMMARY_PREFIX = "Summary of the earlier conversation: "

Encode = Callable[[list[dict[str, str]]], list[int]]
# (previous summary, messages to fold) -> new summary; None when stopped
SummarizeFn = Callable[[str, list[Message]], "str | None"]


@dataclass(frozen=True)
class SummaryState:
    text: str = ""
    upto: int = 0  # transcript messages [0, upto) are folded into ``text``


@dataclass(frozen=True)
class ContextPlan:
    """What one turn sends."""

    strategy: str
    history: bool
    budget: int
    messages: list[dict[str, str]]  # the chat messages sent, in order
    prompt_ids: list[int] = field(repr=False)
    kept: list[int]
    dropped: list[int]
    summarized: list[int]
    summary: SummaryState = SummaryState()
    refused: str | None = None  # set when the prompt cannot be sent
    over_budget: bool = False  # a dry run (no summarizer) found the prompt over budget

    @property
    def prompt_tokens(self) -> int:
        return len(self.prompt_ids)

    @property
    def folded(self) -> bool:
        return bool(self.summarized)


class SummaryStopped(Exception):
    """A stop request arrived while the model was writing the summary."""


def system_messages(system_prompt: str, summary: str = "") -> list[dict[str, str]]:
    content = system_prompt.strip()
    if summary.strip():
        content = (content + "\n\n" if content else "") + SUMMARY_PREFIX + summary.strip()
    return [{"role": "system", "content": content}] if content else []


def _assemble(
    encode: Encode, system: list[dict[str, str]], transcript: Sequence[Message], indices: Sequence[int], user: str
) -> tuple[list[dict[str, str]], list[int]]:
    msgs = system + [transcript[i].as_chat() for i in indices] + [{"role": "user", "content": user}]
    return msgs, encode(msgs)


def _too_long(tokens: int, budget: int) -> str:
    return (
        f"this message needs {tokens} prompt tokens with the system prompt alone, over the {budget}-token budget; "
        "shorten it or the system prompt, or raise the budget (/set max_context=N)"
    )


def plan_context(
    encode: Encode,
    system_prompt: str,
    transcript: Sequence[Message],
    user: str,
    *,
    strategy: str,
    history: bool,
    budget: int,
    keep_messages: int = 6,
    summary: SummaryState | None = None,
    summary_tokens: int = 96,
    summarize_fn: SummarizeFn | None = None,
) -> ContextPlan:
    """Plan the prompt for ``user``'s message. With ``summarize_fn`` None, `summarize` never folds (a dry run)."""
    summary = summary or SummaryState()
    everything = list(range(len(transcript)))
    system = system_messages(system_prompt)

    def plan(msgs: list[dict[str, str]], ids: list[int], kept: Sequence[int], refused: str | None) -> ContextPlan:
        dropped = [i for i in everything if i not in set(kept)]
        return ContextPlan(strategy, history, budget, msgs, ids, list(kept), dropped, [], SummaryState(), refused)

    if not history:
        msgs, ids = _assemble(encode, system, transcript, [], user)
        return plan(msgs, ids, [], _too_long(len(ids), budget) if len(ids) > budget else None)

    if strategy == "none":
        msgs, ids = _assemble(encode, system, transcript, everything, user)
        refused = None
        if len(ids) > budget:
            refused = (
                f"the prompt would be {len(ids)} tokens, over the {budget}-token budget, and strategy none sends "
                "everything; /clear the conversation, pick another /strategy, or raise /set max_context=N"
            )
        return plan(msgs, ids, everything, refused)

    if strategy == "truncate":
        kept = everything[len(everything) - keep_messages :] if keep_messages else []
        msgs, ids = _assemble(encode, system, transcript, kept, user)
        while len(ids) > budget and kept:
            kept = kept[1:]
            msgs, ids = _assemble(encode, system, transcript, kept, user)
        return plan(msgs, ids, kept, _too_long(len(ids), budget) if len(ids) > budget else None)

    if strategy == "window":
        kept = []
        msgs, ids = _assemble(encode, system, transcript, kept, user)
        if len(ids) > budget:
            return plan(msgs, ids, kept, _too_long(len(ids), budget))
        for group in reversed(turn_groups(transcript)):
            more_msgs, more_ids = _assemble(encode, system, transcript, group + kept, user)
            if len(more_ids) > budget:
                break
            kept, msgs, ids = group + kept, more_msgs, more_ids
        return plan(msgs, ids, kept, None)

    if strategy != "summarize":
        raise ValueError(f"unknown strategy {strategy!r}")
    return _plan_summarize(
        encode, system_prompt, transcript, user, budget, summary, summary_tokens, summarize_fn, strategy, history
    )


def _plan_summarize(
    encode: Encode,
    system_prompt: str,
    transcript: Sequence[Message],
    user: str,
    budget: int,
    summary: SummaryState,
    summary_tokens: int,
    summarize_fn: SummarizeFn | None,
    strategy: str,
    history: bool,
) -> ContextPlan:
    everything = list(range(len(transcript)))

    def build(state: SummaryState, refused: str | None = None, over: bool = False) -> ContextPlan:
        kept = everything[state.upto :]
        msgs, ids = _assemble(encode, system_messages(system_prompt, state.text), transcript, kept, user)
        folded = list(range(state.upto))
        return ContextPlan(strategy, history, budget, msgs, ids, kept, [], folded, state, refused, over)

    current = build(summary)
    if current.prompt_tokens <= budget:
        return current
    if summarize_fn is None:
        return build(summary, over=True)
    alone = _assemble(encode, system_messages(system_prompt), transcript, [], user)[1]
    if len(alone) > budget:
        return build(summary, refused=_too_long(len(alone), budget))
    state = summary
    while current.prompt_tokens > budget:
        groups = turn_groups(transcript, state.upto)
        if not groups:
            break
        # Fold the fewest oldest turns that leave room for a summary of up to ``summary_tokens`` tokens and a
        # quarter of the budget free, so the model is not asked for a new summary at every turn.
        room = budget - summary_tokens - budget // 4
        fold = len(groups)
        for k in range(1, len(groups) + 1):
            rest = [i for g in groups[k:] for i in g]
            if len(_assemble(encode, system_messages(system_prompt), transcript, rest, user)[1]) <= room:
                fold = k
                break
        upto = groups[fold - 1][-1] + 1
        text = summarize_fn(state.text, list(transcript[state.upto : upto]))
        if text is None:
            raise SummaryStopped
        state = SummaryState(text.strip(), upto)
        current = build(state)
    if current.prompt_tokens > budget:
        # Everything is folded and the summary is still too long for this message: send it without the summary.
        msgs, ids = _assemble(encode, system_messages(system_prompt), transcript, [], user)
        refused = None if len(ids) <= budget else _too_long(len(ids), budget)
        return ContextPlan(strategy, history, budget, msgs, ids, [], everything, [], state, refused)
    return current
