"""MT-Bench answers (issue 13, part 1): FastChat's answer format through llm-tui's chat engine, per-category
temperatures, history off for turn 2, and resume: killed midway (kill -9) then rerun, every question answered
exactly once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from cli_helpers import kill_9_when_journal_has, one_error_line

from core.mtbench import TEMPERATURE, Answer, Question, read_answers
from tui.cli import main

QUESTIONS = [
    Question(question_id=81 + i, category=c, turns=[f"Tell me about topic {i}.", "Now say it in one line."])
    for i, c in enumerate(["writing", "math", "stem", "coding", "roleplay", "reasoning"] * 2)
]


def _questions(tmp_path: Path) -> Path:
    path = tmp_path / "question.jsonl"
    path.write_text("".join(q.model_dump_json() + "\n" for q in QUESTIONS))
    return path


def _args(tiny_model: Path, tmp_path: Path, *extra: str) -> list[str]:
    return ["mtbench", "answer", "--model", str(tiny_model), "--questions", str(_questions(tmp_path)),
            "--max-new-tokens", "12", "--output", str(tmp_path / "model_answer"), "--quiet", *extra]  # fmt: skip


def test_answers_in_fastchat_format_with_history_off_for_turn_two(capsys, tiny_model, tmp_path):
    assert main(_args(tiny_model, tmp_path, "--history", "off", "--model-id", "tiny-nomem")) == 0
    path = tmp_path / "model_answer" / "tiny-nomem.jsonl"
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    assert [x["question_id"] for x in lines] == [q.question_id for q in QUESTIONS]
    for line, q in zip(lines, QUESTIONS, strict=True):
        assert set(line) >= {"question_id", "answer_id", "model_id", "choices", "tstamp"}
        assert line["model_id"] == "tiny-nomem" and len(line["choices"][0]["turns"]) == 2
        info = line["llm_tui"]
        assert info["history"] is False and info["temperature"] == TEMPERATURE[q.category]
        assert all(t["new_tokens"] <= 12 for t in info["turns"])
    assert len({x["answer_id"] for x in lines}) == len(lines)
    assert main(_args(tiny_model, tmp_path, "--model-id", "tiny")) == 0  # history on: turn 2 sees turn 1
    on = [json.loads(x) for x in (tmp_path / "model_answer" / "tiny.jsonl").read_text().splitlines()]
    for with_memory, without in zip(on, lines, strict=True):  # turn 2 with memory also carries turn 1 and its reply
        first = with_memory["llm_tui"]["turns"][0]["prompt_tokens"]
        assert with_memory["llm_tui"]["turns"][1]["prompt_tokens"] > without["llm_tui"]["turns"][1]["prompt_tokens"]
        assert with_memory["llm_tui"]["turns"][1]["prompt_tokens"] > first
    capsys.readouterr()


def test_killed_midway_then_rerun_answers_each_question_once(tiny_model, tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "tui.cli", *_args(tiny_model, tmp_path, "--model-id", "tiny")]
    answers = tmp_path / "model_answer" / "tiny.jsonl"
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    at_kill = kill_9_when_journal_has(proc, answers, 2)
    assert 2 <= at_kill < len(QUESTIONS)
    with answers.open("ab") as f:
        f.write(b'{"question_id": 99, "answer_id": "torn')  # a write cut by the kill
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "repaired a torn last line" in done.stdout
    lines = [json.loads(x) for x in answers.read_text().splitlines()]
    assert sorted(x["question_id"] for x in lines) == [q.question_id for q in QUESTIONS]  # each once
    parsed, _ = read_answers(answers)
    assert all(isinstance(a, Answer) for a in parsed.values()) and len(parsed) == len(QUESTIONS)
    again = subprocess.run(cmd, env=env, capture_output=True, text=True)  # a third run asks nothing
    assert again.returncode == 0 and "0 answered now" in again.stdout


def test_a_fastchat_answer_file_reads_and_bad_input_is_one_line(capsys, tiny_model, tmp_path):
    fastchat = tmp_path / "fc.jsonl"
    fastchat.write_text(json.dumps({"question_id": 81, "answer_id": "abc", "model_id": "vicuna",
                                    "choices": [{"index": 0, "turns": ["a", "b"]}], "tstamp": 1.0}) + "\n")  # fmt: skip
    parsed, _ = read_answers(fastchat)
    assert parsed[81].model_id == "vicuna" and parsed[81].llm_tui is None
    assert main(_args(tiny_model, tmp_path, "--limit", "0")) == 2
    assert "--limit 0" in one_error_line(capsys.readouterr().err)
    assert main(["mtbench", "judge"]) == 2
    assert "--answers" in one_error_line(capsys.readouterr().err)
    assert main(["mtbench", "grade"]) == 2
    assert "answer|judge|show" in one_error_line(capsys.readouterr().err)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question_id": "x"}\n')
    assert main(["mtbench", "answer", "--questions", str(bad), "--model", str(tiny_model), "--output",
                 str(tmp_path / "o")]) == 2  # fmt: skip
    assert "is not an MT-Bench question" in one_error_line(capsys.readouterr().err)
