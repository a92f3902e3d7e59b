"""The chat engine on the real SmolLM2-135M-Instruct (offline asset): memory shows, budgets hold, stop works.

Kept short (small max_new_tokens, a few turns): about 30 s on two idle CPU cores.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from core.chat import ChatSession, ChatSettings, GenerationSettings, ReplyDelta, TurnFinished
from core.chat.headless import compare_history, play_script
from core.chat.script import load_script, parse_script

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_torch_thread")]
SCRIPTS = Path(__file__).resolve().parents[1] / "bench" / "scripts"


@pytest.fixture(scope="module")
def smollm2():
    from core.models import load_model

    return load_model("smollm2-135m-instruct", device="cpu")


def _settings(**kw) -> ChatSettings:
    return ChatSettings(generation=GenerationSettings(max_new_tokens=kw.pop("max_new_tokens", 16)), **kw)


def test_alice_recall_probe_is_higher_with_history(smollm2, tmp_path):
    script = load_script(SCRIPTS / "alice.json")
    t = compare_history(smollm2, _settings(system_prompt=script.system, max_new_tokens=16), script)
    last = t["turns"][-1]
    assert last["expect"] == "Your name is Alice."
    assert last["probe_history_on"] > last["probe_history_off"] + 1.0  # e (2.7x) or more likelier with memory
    assert any("Alice" in m["content"] for m in last["sent_history_on"])
    assert not any("Alice" in m["content"] for m in last["sent_history_off"])


@pytest.mark.parametrize("strategy", ["window", "summarize"])
def test_long_conversation_stays_within_a_small_budget(smollm2, strategy):
    lines = [x for x in (SCRIPTS / "long60.txt").read_text().splitlines() if x and x[0] not in "#/"][:7]
    session = ChatSession(smollm2, _settings(strategy=strategy, max_context=160, summary_tokens=32, max_new_tokens=12))
    t = play_script(session, parse_script("\n".join(lines)))
    prompts = [x["prompt_tokens"] for x in t["turns"]]
    assert all(x["refused"] is None for x in t["turns"]) and max(prompts) <= 160
    assert t["turns"][-1]["dropped"] or t["turns"][-1]["summarized"]
    if strategy == "summarize":
        assert t["summary"]["text"] and t["summary"]["upto"] > 0
        assert t["summary"]["text"] in t["turns"][-1]["sent"][0]["content"]
    json.dumps(t)  # the transcript is plain JSON


def test_none_refuses_then_carries_on_after_clear(smollm2):
    lines = ["Tell me about the moon."] * 3 + ["/clear", "Hello again."]
    session = ChatSession(smollm2, _settings(strategy="none", max_context=80, max_new_tokens=12))
    t = play_script(session, parse_script("\n".join(lines)))
    refused = [x for x in t["turns"] if x["refused"]]
    assert refused and "80-token budget" in refused[0]["refused"]
    assert t["turns"][-1]["refused"] is None and t["turns"][-1]["reply"]


def test_streams_token_by_token_and_stops_mid_reply(smollm2):
    session = ChatSession(smollm2, _settings(max_new_tokens=100))
    stop = threading.Event()
    deltas = []
    for e in session.send("Write a long story about a dragon.", stop):
        if isinstance(e, ReplyDelta):
            deltas.append(e.text)
            if len(deltas) == 5:
                stop.set()
        elif isinstance(e, TurnFinished):
            record = e.record
    assert record.stopped and 5 <= record.new_tokens < 100
    assert "".join(deltas).strip() == record.reply and session.messages[-1].stopped
