"""The chat engine on a tiny random Llama: strategies, history toggle, streaming, stop, fallback format, probe."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest

from core.chat import (
    ChatSession,
    ChatSettings,
    GenerationSettings,
    ReplyDelta,
    Summarizing,
    SummaryUpdated,
    TurnFinished,
    TurnRefused,
    TurnStarted,
)  # fmt: skip
from core.chat.template import FALLBACK_ASSISTANT, FALLBACK_STOP, PromptFormat, fallback_render
from core.errors import UserInputError
from core.models import load_model

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def settings(**kw) -> ChatSettings:
    gen = GenerationSettings(max_new_tokens=kw.pop("max_new_tokens", 6))
    return ChatSettings(generation=gen, **kw)


def test_a_turn_streams_deltas_then_finishes_with_a_full_record(tiny):
    s = ChatSession(tiny, settings())
    events = list(s.send("hello star planet"))
    assert isinstance(events[0], TurnStarted) and isinstance(events[-1], TurnFinished)
    deltas = [e for e in events if isinstance(e, ReplyDelta)]
    record = events[-1].record
    assert deltas and "".join(d.text for d in deltas).strip() == record.reply
    assert [d.tokens for d in deltas] == sorted(d.tokens for d in deltas)
    assert record.prompt_tokens == len(s.format.encode(record.sent)) == events[0].plan.prompt_tokens
    assert record.sent[-1] == {"role": "user", "content": "hello star planet"}
    assert record.new_tokens == 6 and record.finish_reason == "length" and not record.stopped
    assert record.ttft_s is not None and record.ttft_s > 0 and record.tokens_per_s and record.tokens_per_s > 0
    assert [m.role for m in s.messages] == ["user", "assistant"] and s.turns == [record]


def test_greedy_replies_are_deterministic(tiny):
    a = ChatSession(tiny, settings(max_new_tokens=10)).run_turn("orbit mass light")
    b = ChatSession(tiny, settings(max_new_tokens=10)).run_turn("orbit mass light")
    assert a.reply == b.reply and a.new_tokens == b.new_tokens == 10


def test_sampling_with_a_seed_is_reproducible(tiny):
    gen = GenerationSettings(max_new_tokens=10, temperature=1.5, top_p=0.9, top_k=20, seed=7)
    a = ChatSession(tiny, ChatSettings(generation=gen)).run_turn("orbit mass light")
    b = ChatSession(tiny, ChatSettings(generation=gen)).run_turn("orbit mass light")
    greedy = ChatSession(tiny, settings(max_new_tokens=10)).run_turn("orbit mass light")
    assert a.reply == b.reply and a.generation["temperature"] == 1.5
    assert a.reply != greedy.reply


@pytest.mark.parametrize("strategy", ["truncate", "window", "summarize"])
def test_long_conversation_never_exceeds_the_budget(tiny, strategy):
    s = ChatSession(tiny, settings(strategy=strategy, max_context=160, keep_messages=4, summary_tokens=24))
    events = []
    for i in range(10):
        s.run_turn(f"turn {i}: star planet orbit mass light galaxy", events.append)
    assert len(s.turns) == 10 and all(t.refused is None for t in s.turns)
    assert max(t.prompt_tokens for t in s.turns) <= 160 == s.budget
    assert len(s.messages) == 20  # the transcript keeps everything, whatever was sent
    last = s.turns[-1]
    assert last.dropped or last.summarized
    if strategy == "truncate":
        assert len(last.kept) <= 4
    if strategy == "window":
        assert len(last.kept) % 2 == 0 and last.kept == list(range(18 - len(last.kept), 18))
    if strategy == "summarize":
        assert s.summary.text and s.summary.upto > 0 and last.summary == s.summary.text
        assert any(isinstance(e, Summarizing) for e in events) and any(isinstance(e, SummaryUpdated) for e in events)
        assert s.summary.text in last.sent[0]["content"] and last.summarized == list(range(s.summary.upto))


def test_none_refuses_over_budget_then_carries_on_after_clear(tiny):
    s = ChatSession(tiny, settings(strategy="none", max_context=120))
    records = [s.run_turn(f"message {i} star planet orbit") for i in range(4)]
    refused = [r for r in records if r.refused]
    assert refused and all(r.prompt_tokens > 120 and r.finish_reason == "refused" for r in refused)
    assert "120-token budget" in refused[0].refused and "/clear" in refused[0].refused
    assert len(s.messages) == 2 * sum(r.refused is None for r in records)  # a refused turn adds no message
    events = []
    s.run_turn("one more", events.append)
    assert isinstance(events[-1], TurnRefused) and events[-1].message == events[-1].record.refused
    s.clear()
    after = s.run_turn("fresh start star")
    assert after.refused is None and after.reply and s.turns == [after]


def test_history_toggle_changes_what_is_sent_and_keeps_the_transcript(tiny):
    s = ChatSession(tiny, settings(system_prompt="sys"))
    s.run_turn("first star")
    s.run_turn("second planet")
    assert s.set_history() is False
    off = s.run_turn("third orbit")
    assert off.history is False and off.sent == [
        {"role": "system", "content": "sys"},
        {"role": "user", "content": "third orbit"},
    ]
    assert off.kept == [] and off.dropped == [0, 1, 2, 3] and len(s.messages) == 6
    s.set_history(True)
    on = s.run_turn("fourth mass")
    assert on.history is True and on.kept == [0, 1, 2, 3, 4, 5]
    assert [m["content"] for m in on.sent[1::2]][:3] == ["first star", "second planet", "third orbit"]


def test_strategy_switch_changes_the_next_prompt(tiny):
    s = ChatSession(tiny, settings(strategy="none", keep_messages=2))
    for i in range(3):
        s.run_turn(f"message {i}")
    assert s.set_strategy("truncate") == "truncate"
    r = s.run_turn("now truncated")
    assert r.strategy == "truncate" and r.kept == [4, 5] and r.dropped == [0, 1, 2, 3]
    assert s.set_strategy() == "window"  # no name: the next one


def test_stop_mid_reply_keeps_the_partial_reply_marked_stopped(tiny):
    s = ChatSession(tiny, settings(max_new_tokens=400))
    stop = threading.Event()
    deltas = []

    def on_event(e):
        if isinstance(e, ReplyDelta):
            deltas.append(e)
            stop.set()  # a user pressing Esc as the first token shows

    record = s.run_turn("tell me everything", on_event, stop)
    assert record.stopped and record.finish_reason == "stopped"
    assert 1 <= record.new_tokens < 400 and record.reply
    assert s.messages[-1].stopped and s.messages[-1].content == record.reply
    s.set_option("max_new_tokens", 4)
    follow = s.run_turn("and then?")  # the conversation goes on, the partial reply in the history
    assert not follow.stopped and {"role": "assistant", "content": record.reply} in follow.sent


def test_stop_while_the_model_writes_the_summary(tiny):
    s = ChatSession(tiny, settings(strategy="summarize", max_context=120, summary_tokens=24))
    s.run_turn("first star planet orbit mass light")
    s.run_turn("second star planet orbit mass light")
    stop = threading.Event()
    events = []

    def on_event(e):
        events.append(e)
        if isinstance(e, Summarizing):
            stop.set()

    record = s.run_turn("third star planet orbit mass light", on_event, stop)
    assert any(isinstance(e, Summarizing) for e in events) and not any(isinstance(e, SummaryUpdated) for e in events)
    assert record.stopped and record.reply == "" and s.summary.text == "" and s.messages[-1].stopped
    assert [type(e).__name__ for e in events][-2:] == ["TurnStarted", "TurnFinished"]


def test_stop_from_another_thread_while_iterating(tiny):
    s = ChatSession(tiny, settings(max_new_tokens=900))  # budget 1024 - 900 = 124 tokens
    stop = threading.Event()
    seen = []
    for e in s.send("stream until stopped", stop):
        seen.append(e)
        if isinstance(e, ReplyDelta):
            stop.set()
    record = seen[-1].record
    assert record.stopped and record.new_tokens < 900 and s.messages[-1].stopped


def test_bad_input_changes_nothing(tiny):
    s = ChatSession(tiny, settings())
    s.run_turn("hello")
    before = (list(s.messages), list(s.turns), s.settings)
    for text in ("", "   \n"):
        with pytest.raises(UserInputError, match="empty message"):
            s.run_turn(text)
    with pytest.raises(UserInputError, match="temperature"):
        s.set_option("temperature", "hot")
    with pytest.raises(UserInputError, match="max_new_tokens=1010 leaves 14"):
        s.set_option("max_new_tokens", 1010)
    with pytest.raises(UserInputError, match="unknown strategy"):
        s.set_strategy("forget")
    assert (list(s.messages), list(s.turns), s.settings) == before


def test_budget_is_context_minus_max_new_tokens_unless_max_context_is_smaller(tiny):
    s = ChatSession(tiny, settings(max_new_tokens=100))
    assert s.context_length == 1024 and s.budget == 924
    s.set_option("max_context", 300)
    assert s.budget == 300
    s.set_option("max_context", 5000)  # larger than the model allows: the model's limit wins
    assert s.budget == 924


def test_probe_is_the_log_likelihood_of_the_expected_reply(tiny):
    s = ChatSession(tiny, settings())
    sent = [{"role": "user", "content": "star"}]
    a = s.probe(sent, "planet orbit")
    assert a < 0 and a == pytest.approx(s.probe(sent, "planet orbit"))
    assert s.probe(sent, "planet orbit mass") < a  # one more token, lower likelihood


def test_fallback_format_for_a_model_without_chat_template(tiny_model, tmp_path):
    folder = Path(shutil.copytree(tiny_model, tmp_path / "base"))
    (folder / "chat_template.jinja").unlink()
    base = load_model(str(folder), device="cpu", dtype="float32")
    assert not base.info.chat_template
    s = ChatSession(base, settings(system_prompt="Be kind."))
    assert s.format.name.startswith("fallback") and s.format.stop_strings == FALLBACK_STOP
    s.run_turn("hello")
    r = s.run_turn("again")
    text = s.format.render(r.sent)
    assert text == "Be kind.\n\nUser: hello\nAssistant: " + s.messages[1].content + "\n\nUser: again\nAssistant:"
    assert r.prompt_tokens == len(base.tokenizer(text)["input_ids"])


def test_fallback_render_and_stop_string_cut():
    msgs = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    assert fallback_render(msgs, add_generation_prompt=False) == "User: hi\nAssistant: hello"
    assert fallback_render([], add_generation_prompt=True) == FALLBACK_ASSISTANT

    class Tok:
        chat_template = None

    from core.chat.generation import TextStream

    out = []
    stream = TextStream(_CharTokenizer(), lambda d, n: out.append(d), ("\nUser:",))
    stream.put(None)  # the prompt
    for ch in " Fine.\nUs":
        stream.put(_Ids([ord(ch)]))
    assert "".join(out) == "Fine."  # "\nUs" could start a stop string: held back
    for ch in "er: more":
        stream.put(_Ids([ord(ch)]))
    stream.end()
    assert stream.hit_stop_string and "".join(out) == "Fine." and stream.text() == "Fine."
    assert PromptFormat.for_tokenizer(Tok()).has_template is False


def _stream(text, stops):
    from core.chat.generation import TextStream

    out = []
    stream = TextStream(_CharTokenizer(), lambda d, n: out.append(d), stops)
    stream.put(None)  # the prompt
    shown = []
    for ch in text:
        stream.put(_Ids([ord(ch)]))
        shown.append("".join(out))
    stream.end()
    return stream, "".join(out), shown


def test_a_base_model_writing_the_users_turn_under_any_name_is_cut_there():
    # What gemma-3-270m wrote in the fallback format when told "Hello! My name is Alice." (issue 11, item 10)
    reply = "Hi, I'm here to help you.\nAlice: I have an idea.\nAssistant: What kind?\nAlice: A website."
    stream, out, shown = _stream(reply, FALLBACK_STOP)
    assert stream.hit_stop_string and out == stream.text() == "Hi, I'm here to help you."
    assert not any("Alice" in s for s in shown)  # the label is held back while it could still be one, never shown
    # a new line that is not a label goes through, once it cannot become one
    stream, out, _ = _stream("Two things:\n1. tea\nand Coffee: yes", FALLBACK_STOP)
    assert not stream.hit_stop_string and out == "Two things:\n1. tea\nand Coffee: yes"
    stream, out, _ = _stream("Sure.\nUser: next", FALLBACK_STOP)
    assert out == "Sure."


class _Ids(list):
    def reshape(self, *_):
        return self

    def tolist(self):
        return list(self)


class _CharTokenizer:
    def decode(self, ids, skip_special_tokens=True):
        return "".join(chr(i) for i in ids)


def test_end_of_generation_tokens_include_the_special_ones_a_gguf_leaves_out():
    """A converted Qwen2.5 instruct model's config names only <|im_end|>; its original config also ends on
    <|endoftext|>, which the model writes after a GSM8K answer (and then goes on with a made-up "Human:" turn)."""
    from types import SimpleNamespace

    from core.chat.generation import eos_ids

    ids = {"<|endoftext|>": 151643, "<|im_end|>": 151645, "</s>": 7}
    tok = SimpleNamespace(
        eos_token_id=151645, unk_token_id=None, all_special_tokens=["<|endoftext|>", "<|im_end|>"],
        added_tokens_decoder={}, convert_tokens_to_ids=ids.__getitem__,
    )  # fmt: skip
    model = SimpleNamespace(generation_config=SimpleNamespace(eos_token_id=151645))
    assert eos_ids(model, tok) == [151643, 151645]  # "</s>" is plain text for this tokenizer: not an end
