"""`llm-tui chat --batch` on a tiny model: transcripts, --compare-history probes, and bad inputs (exit 2)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_helpers import one_error_line

from core.chat.script import load_script, parse_script
from core.errors import UserInputError
from tui.chat_cli import run_chat

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _run(capsys, *args):
    code = run_chat(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_text_script_with_clear_writes_a_transcript(capsys, tiny_model, tmp_path):
    script = tmp_path / "s.txt"
    lines = [f"message {i} star planet orbit mass" for i in range(5)]
    script.write_text("# a comment\n" + "\n".join(lines[:3]) + "\n\n/clear\n" + "\n".join(lines[3:]) + "\n")
    out_file = tmp_path / "out" / "t.json"
    args = ["--batch", "-m", str(tiny_model), "--script", str(script), "-o", str(out_file), "--device", "cpu"]
    code, out, err = _run(capsys, *args, "--strategy", "none", "--max-context", "120", "--max-new-tokens", "8")
    assert code == 0, err
    t = json.loads(out_file.read_text())
    assert t["status"] == "complete" and t["budget"] == 120 and t["settings"]["strategy"] == "none"
    turns = t["turns"]
    assert [x["user"] for x in turns] == lines and [x["turn"] for x in turns] == [1, 2, 3, 4, 5]
    for x in turns:
        assert {"user", "reply", "prompt_tokens", "sent", "ttft_s", "tokens_per_s", "kept", "dropped"} <= set(x)
    refused = [x for x in turns if x["refused"]]
    assert refused and all(x["turn"] <= 3 for x in refused)  # over budget before /clear, fine after it
    assert turns[3]["refused"] is None and turns[3]["index"] == 1 and turns[3]["kept"] == []
    assert t["commands"] == [{"step": 4, "after_turn": 3, "command": "/clear", "lines": t["commands"][0]["lines"]}]
    assert "refused" in out and "transcript:" in out


def test_a_script_switches_models_and_the_transcript_says_which_wrote_each_reply(
    capsys, tiny_model, tiny_bytes_model, tmp_path
):
    script = tmp_path / "s.txt"
    script.write_text(f"Hello\n/model {tiny_bytes_model}\nHello again\n/model\n")
    out_file = tmp_path / "t.json"
    args = ["--batch", "-m", str(tiny_model), "--script", str(script), "-o", str(out_file), "--device", "cpu"]
    code, out, err = _run(capsys, *args, "--max-new-tokens", "3")
    assert code == 0, err
    t = json.loads(out_file.read_text())
    assert [x["model"] for x in t["turns"]] == [str(tiny_model), str(tiny_bytes_model)]
    assert len(t["turns"][1]["sent"]) == 4  # the conversation went on: system, hello, its reply, this message
    assert t["model"] == str(tiny_bytes_model)
    switch, show = t["commands"]
    assert any("ready on cpu" in line for line in switch["lines"]) and show["lines"][0].startswith(
        f"model {tiny_bytes_model}"
    )
    # /retry asks again in a script: the replaced turn stays in the transcript, marked
    script.write_text("Hello\n/retry\n")
    code, _, err = _run(capsys, *args, "--max-new-tokens", "3")
    assert code == 0, err
    t = json.loads(out_file.read_text())
    assert [x.get("taken_back", False) for x in t["turns"]] == [True, False] and t["turns"][1]["retry"]
    # /copy and /edit need the app: refused before the model loads
    script.write_text("Hello\n/copy\n")
    code, _, err = _run(capsys, *args)
    assert code == 2 and "works in the app only" in one_error_line(err)
    # a /model line that cannot name a model is refused before anything loads
    script.write_text("Hello\n/model ./nowhere/at-all\n")
    code, _, err = _run(capsys, *args)
    assert code == 2 and "nowhere" in one_error_line(err) and "line 2" in one_error_line(err)


def test_compare_history_writes_both_replies_and_probes(capsys, tiny_model, tmp_path):
    script = tmp_path / "alice.json"
    script.write_text(
        json.dumps(
            {
                "system": "Be brief.",
                "turns": [{"user": "My name is Alice."}, {"user": "What's my name?", "expect": "Your name is Alice."}],
            }
        )
    )
    out_file = tmp_path / "cmp.json"
    args = ["--batch", "-m", str(tiny_model), "--script", str(script), "-o", str(out_file), "--compare-history"]
    code, out, err = _run(capsys, *args, "--max-new-tokens", "4", "--device", "cpu")
    assert code == 0, err
    t = json.loads(out_file.read_text())
    assert t["compare_history"] is True and set(t["runs"]) == {"history_on", "history_off"}
    last = t["turns"][-1]
    assert last["expect"] == "Your name is Alice."
    assert isinstance(last["probe_history_on"], float) and isinstance(last["probe_history_off"], float)
    assert last["probe_history_on"] != last["probe_history_off"]
    assert len(last["sent_history_on"]) == 4 and len(last["sent_history_off"]) == 2
    assert last["sent_history_off"][0] == {"role": "system", "content": "Be brief."}
    assert "probe_history_on" not in t["turns"][0] and t["probe_summary"]["probed_turns"] == 1
    assert "recall probe" in out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--temperature", "warm"], "--temperature warm: temperature must be a number"),
        (["--max-context", "10"], "--max-context 10: max_context must be a whole number of 32 or more"),
        (["--strategy", "forget"], "argument --strategy: invalid choice"),
        (["--history", "maybe"], "argument --history: invalid choice"),
    ],
)
def test_bad_flags(capsys, tiny_model, tmp_path, extra, message):
    script = tmp_path / "s.txt"
    script.write_text("hello\n")
    args = ["--batch", "-m", str(tiny_model), "--script", str(script), "-o", str(tmp_path / "o.json"), *extra]
    code, _, err = _run(capsys, *args)
    assert code == 2 and message in one_error_line(err)
    assert not (tmp_path / "o.json").exists()


def test_bad_scripts_and_missing_arguments(capsys, tiny_model, tmp_path):
    out = str(tmp_path / "o.json")
    code, _, err = _run(capsys, "--batch", "-m", str(tiny_model), "--script", str(tmp_path / "none.txt"), "-o", out)
    assert code == 2 and "script not found" in one_error_line(err)
    bad = tmp_path / "bad.txt"
    bad.write_text("hello\n/frobnicate\n")
    code, _, err = _run(capsys, "--batch", "-m", str(tiny_model), "--script", str(bad), "-o", out)
    assert code == 2 and "bad.txt line 2: unknown command /frobnicate" in one_error_line(err)
    code, _, err = _run(capsys, "--batch", "-m", str(tiny_model), "--script", str(bad))
    assert code == 2 and "--batch needs --script FILE and --output OUT.json" in one_error_line(err)
    code, _, err = _run(capsys, "--script", str(bad), "-o", out)
    assert code == 2 and "needs --batch" in one_error_line(err)
    code, _, err = _run(capsys, "--batch", "-m", str(tmp_path / "nomodel.gguf"), "--script", str(bad), "-o", out)
    assert code == 2


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "not valid JSON"),
        ('{"turns": "hi"}', 'a JSON script is {"system"'),
        ('{"turns": [{"user": "a", "expected": "b"}]}', "unknown key 'expected'"),
        ('{"turns": [{"command": "/clear", "expect": "b"}]}', "'expect' belongs to a user message"),
        ('{"turns": [{"user": ""}]}', "empty message"),
        ('{"turns": [{"command": "/clear"}]}', "has no user messages"),
        ("# only a comment\n", "has no messages"),
    ],
)
def test_script_errors(text, message):
    with pytest.raises(UserInputError, match=message.replace("{", r"\{").replace("?", r"\?")):
        parse_script(text, "s")


def test_bundled_scripts_parse():
    scripts = Path(__file__).resolve().parents[1] / "bench" / "scripts"
    alice = load_script(scripts / "alice.json")
    assert alice.system and alice.steps[-1].expect == "Your name is Alice."
    long60 = load_script(scripts / "long60.txt")
    assert long60.messages == 60 and sum(not s.is_message for s in long60.steps) == 1
