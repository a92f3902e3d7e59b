"""Context strategies as pure functions: a fake token counter (one token per word, two per message)."""

from __future__ import annotations

import pytest

from core.chat.context import SUMMARY_PREFIX, SummaryState, SummaryStopped, plan_context, system_messages
from core.chat.messages import Message, turn_groups


def encode(messages: list[dict[str, str]]) -> list[int]:
    n = sum(2 + len(m["content"].split()) for m in messages) + 1  # +1: the generation prompt
    return list(range(n))


def transcript(turns: int, words: int = 8) -> list[Message]:
    out = []
    for t in range(turns):
        out.append(Message("user", " ".join([f"u{t}"] * words)))
        out.append(Message("assistant", " ".join([f"a{t}"] * words)))
    return out


SYSTEM = "be brief"  # 2 words -> 4 tokens; a user message "hello" -> 3 tokens; prompt alone: 8


def plan(strategy: str, msgs: list[Message], budget: int, **kw):
    return plan_context(encode, SYSTEM, msgs, "hello", strategy=strategy, history=True, budget=budget, **kw)


def test_none_sends_everything_or_refuses_with_a_clear_message():
    msgs = transcript(3)  # 6 messages x 10 tokens
    fits = plan("none", msgs, budget=100)
    assert fits.refused is None and fits.kept == list(range(6)) and fits.dropped == []
    assert fits.prompt_tokens == 68 and fits.messages[0] == {"role": "system", "content": SYSTEM}
    assert fits.messages[-1] == {"role": "user", "content": "hello"}
    over = plan("none", msgs, budget=60)
    assert over.refused and "68 tokens" in over.refused and "60-token budget" in over.refused
    assert "/clear" in over.refused and "\n" not in over.refused


def test_truncate_keeps_the_last_n_messages_and_fewer_when_they_do_not_fit():
    msgs = transcript(4)
    p = plan("truncate", msgs, budget=1000, keep_messages=3)
    assert p.kept == [5, 6, 7] and p.dropped == [0, 1, 2, 3, 4]
    assert [m["content"].split()[0] for m in p.messages[1:-1]] == ["a2", "u3", "a3"]
    tight = plan("truncate", msgs, budget=30, keep_messages=3)  # 8 + 2 x 10 = 28 fits, 38 does not
    assert tight.kept == [6, 7] and tight.prompt_tokens <= 30
    assert plan("truncate", msgs, budget=1000, keep_messages=0).kept == []


def test_window_keeps_whole_recent_turns_that_fit():
    msgs = transcript(5)
    p = plan("window", msgs, budget=50)  # 8 + 2 turns x 20 = 48
    assert p.kept == [6, 7, 8, 9] and p.dropped == list(range(6)) and p.prompt_tokens == 48
    assert all(len(g) == 2 for g in turn_groups(msgs))
    assert plan("window", msgs, budget=47).kept == [8, 9]  # never half a turn
    assert plan("window", msgs, budget=1000).kept == list(range(10))


def test_history_off_sends_only_system_and_current_message_and_keeps_the_transcript():
    msgs = transcript(3)
    for strategy in ("none", "truncate", "window", "summarize"):
        p = plan_context(encode, SYSTEM, msgs, "hello", strategy=strategy, history=False, budget=100)
        assert p.messages == [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "hello"}]
        assert p.kept == [] and p.dropped == list(range(6)) and p.summarized == []
    assert len(msgs) == 6


def test_a_message_too_long_for_the_budget_is_refused_by_every_strategy():
    long_message = " ".join(["w"] * 50)
    for strategy in ("none", "truncate", "window", "summarize"):
        p = plan_context(
            encode, SYSTEM, transcript(1), long_message, strategy=strategy, history=True, budget=40,
            summarize_fn=lambda prev, folded: "s",
        )  # fmt: skip
        assert p.refused and "40-token budget" in p.refused, strategy


def test_summarize_folds_the_oldest_turns_into_a_running_summary():
    msgs = transcript(6)  # 12 messages, 10 tokens each
    calls = []

    def summarize(previous: str, folded: list[Message]) -> str:
        calls.append((previous, [m.content.split()[0] for m in folded]))
        return f"{previous} folded {len(folded)}".strip()

    p = plan("summarize", msgs, budget=80, summary_tokens=10, summarize_fn=summarize)
    assert p.prompt_tokens <= 80 and p.refused is None
    # room for the rest: 80 - 10 (summary) - 20 (a quarter kept free) = 50 = 8 + 2 turns of 20: fold the 4 oldest
    assert calls == [("", ["u0", "a0", "u1", "a1", "u2", "a2", "u3", "a3"])]
    assert p.summary == SummaryState("folded 8", 8)
    assert p.summarized == list(range(8)) and p.kept == [8, 9, 10, 11] and p.dropped == []
    assert p.messages[0]["content"] == f"{SYSTEM}\n\n{SUMMARY_PREFIX}folded 8"  # after the system prompt
    # the next turn builds on the running summary; nothing is folded while it fits
    more = msgs + transcript(1)
    q = plan("summarize", more, budget=80, summary=p.summary, summary_tokens=10, summarize_fn=summarize)
    assert q.summary == p.summary and len(calls) == 1 and q.prompt_tokens <= 80  # fits: no new fold
    more += transcript(1)
    r = plan("summarize", more, budget=80, summary=q.summary, summary_tokens=10, summarize_fn=summarize)
    assert r.summary.upto > 8 and calls[-1][0] == "folded 8" and r.prompt_tokens <= 80
    again = plan("summarize", msgs, budget=1000, summary=p.summary, summarize_fn=summarize)
    assert again.summary == p.summary and again.summarized == list(range(8)) and len(calls) == 2


def test_summarize_dry_run_and_stop():
    msgs = transcript(6)
    dry = plan("summarize", msgs, budget=80)
    assert dry.over_budget and dry.summary == SummaryState() and dry.refused is None
    with pytest.raises(SummaryStopped):
        plan("summarize", msgs, budget=80, summarize_fn=lambda prev, folded: None)


def test_system_messages_place_the_summary_after_the_system_prompt():
    assert system_messages("", "") == []
    assert system_messages("", "we met")[0]["content"] == SUMMARY_PREFIX + "we met"
    assert system_messages("sys", "")[0]["content"] == "sys"
