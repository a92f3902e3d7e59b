"""llama.cpp for real (issue 12): the bundled SmolLM2 GGUF served by xllamacpp on 127.0.0.1 and scored through the
`openai` backend, and the same file run in-process by the `llamacpp` backend. They agree with each other (one
llama.cpp, two ways in); ARC-Challenge is refused on both with the reason (no prompt log-probabilities).

The server is started and stopped by the test (its own process, 127.0.0.1 only, a bounded number of requests)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from cli_helpers import one_error_line, wait_for_journal, wait_for_output

from core import assets
from core.locations import cache_dir
from core.runs import QUESTIONS, RESULTS
from tui.cli import main

pytestmark = [pytest.mark.slow, pytest.mark.llamacpp]
pytest.importorskip("xllamacpp", reason="the [llamacpp] extra is not installed")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def gguf() -> Path:
    return assets.ensure("smollm2-135m-instruct", cache_dir(None))


def start_server(gguf: Path) -> tuple[subprocess.Popen, str]:
    """A llama.cpp server process on 127.0.0.1, once it says it serves (after the model loaded) and /health agrees."""
    port = _free_port()
    cmd = [sys.executable, "-m", "core.backends.llamacpp_server", str(gguf), str(port), "--threads", "2"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if not wait_for_output(proc, "serving ", timeout=120):
        stop_server(proc)
        raise AssertionError("the llama.cpp server did not start within 120 s")
    url = f"http://127.0.0.1:{port}"
    assert httpx.get(url + "/health", timeout=10).status_code == 200
    return proc, url + "/v1"


def stop_server(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="module")
def llama_server(gguf: Path):
    proc, url = start_server(gguf)
    try:
        yield url
    finally:
        stop_server(proc)


def _run(capsys, *args: str) -> tuple[int, str]:
    code = main(["--batch", *args])
    return code, capsys.readouterr().err


def _records(run: Path) -> dict[tuple[str, int], dict]:
    rows = [json.loads(x) for x in (run / QUESTIONS).read_text().splitlines()]
    return {(r["subset"], r["doc_id"]): r for r in rows}


def test_mmlu_on_the_llama_cpp_server_and_in_process_agree(capsys, llama_server, tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    # one request at a time on both sides, so that llama.cpp computes each prompt alone both ways (batches of
    # several prompts take other kernels: scores then differ by up to ~0.4 nats, the picks do not)
    code, err = _run(capsys, "--base-url", llama_server, "--subjects", "astronomy", "--limit", "8",
                     "--concurrency", "1", "--output", str(tmp_path / "server"))  # fmt: skip
    assert code == 0, err
    code, err = _run(capsys, "--backend", "llamacpp", "--subjects", "astronomy", "--limit", "8",
                     "--concurrency", "1", "--output", str(tmp_path / "inproc"))  # fmt: skip
    assert code == 0, err
    served, inproc = _records(tmp_path / "server"), _records(tmp_path / "inproc")
    assert len(served) == len(inproc) == 8
    for key, r in served.items():
        assert r["pick"] == inproc[key]["pick"]
        assert r["scores"] == pytest.approx(inproc[key]["scores"], abs=1e-3)  # one llama.cpp, same file
        assert all(s < 0 for s in r["scores"])
    a = json.loads((tmp_path / "server" / RESULTS).read_text())["identity"]
    b = json.loads((tmp_path / "inproc" / RESULTS).read_text())["identity"]
    assert (a["backend"], a["model"], a["device"]) == ("openai", "smollm2-135m-instruct", "server")
    assert (b["backend"], b["dtype"]) == ("llamacpp", "gguf")
    # resume refuses another backend in the same folder
    code, err = _run(capsys, "--subjects", "astronomy", "--limit", "8", "--output", str(tmp_path / "server"))
    assert code == 2 and "backend" in one_error_line(err)


def test_gsm8k_generates_on_the_server_and_arc_is_refused_with_the_reason(capsys, llama_server, tmp_path):
    code, err = _run(capsys, "--base-url", llama_server, "--task", "gsm8k", "--limit", "2", "--max-new-tokens",
                     "48", "--output", str(tmp_path / "gsm8k"))  # fmt: skip
    assert code == 0, err
    records = list(_records(tmp_path / "gsm8k").values())
    assert len(records) == 2 and all(r["generated"] is not None and r["generated_tokens"] > 0 for r in records)
    for backend in (["--base-url", llama_server], ["--backend", "llamacpp"]):
        code, err = _run(capsys, *backend, "--task", "arc_challenge", "--limit", "2",
                         "--output", str(tmp_path / "arc"))  # fmt: skip
        line = one_error_line(err)
        assert code == 2 and "arc_challenge cannot run" in line and "log-probabilities" in line
        assert not (tmp_path / "arc").exists()


def run_losing_a_replica(url: str, gguf: Path, run: Path, args: list[str], after: int) -> tuple[int, str, int]:
    """`llm-tui --batch` on ``url`` and a second llama.cpp server of ``gguf`` as replicas; the second is SIGKILLed
    (no goodbye) once ``after`` documents are journaled. The command's exit code and output, and the journal's
    lines at the kill."""
    doomed, doomed_url = start_server(gguf)
    cli = [sys.executable, "-m", "tui.cli", "--batch", "--base-url", url, "--base-url", doomed_url, *args,
           "--output", str(run)]  # fmt: skip
    proc = subprocess.Popen(cli, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=dict(os.environ, OMP_NUM_THREADS="1"))  # fmt: skip
    journal = run / QUESTIONS
    try:
        wait_for_journal(proc, journal, after)
        doomed.kill()
        doomed.wait()
        at_kill = journal.read_bytes().count(b"\n") if journal.exists() else 0
        out, _ = proc.communicate(timeout=600)
    finally:
        if doomed.poll() is None:
            stop_server(doomed)
    return proc.returncode, out, at_kill


def test_two_replicas_share_a_run_one_killed_midway_and_predictions_match(capsys, gguf, llama_server, tmp_path):
    """The same 24 MMLU questions: one server; two replicas of it, one SIGKILLed once 8 are journaled; and
    llama.cpp in-process. Each document once, the same predictions all three ways."""
    args = ["--subjects", "astronomy", "--limit", "24", "--concurrency", "1", "--batch-size", "2"]
    code, err = _run(capsys, "--base-url", llama_server, *args, "--output", str(tmp_path / "one"))
    assert code == 0, err
    code, err = _run(capsys, "--backend", "llamacpp", *args, "--output", str(tmp_path / "inproc"))
    assert code == 0, err
    run = tmp_path / "two"
    code, err, at_kill = run_losing_a_replica(llama_server, gguf, run, args, after=8)
    assert code == 0, err
    assert 8 <= at_kill < 24  # killed midway
    assert "stopped answering" in err or "retrying" in err  # the hand-over was said
    one, two, inproc = _records(tmp_path / "one"), _records(run), _records(tmp_path / "inproc")
    lines = (run / QUESTIONS).read_text().splitlines()
    assert len(lines) == len(two) == 24  # each document once
    assert {k: r["pick"] for k, r in two.items()} == {k: r["pick"] for k, r in one.items()}
    assert {k: r["pick"] for k, r in inproc.items()} == {k: r["pick"] for k, r in one.items()}
    for key, r in two.items():  # llama.cpp's prompt cache changes how much of a prompt is computed, and so the
        # kernels' batch sizes: the scores move by up to ~0.25 nats between runs of one server, the picks do not
        assert r["scores"] == pytest.approx(one[key]["scores"], abs=0.5)


def test_a_chat_script_through_the_server_and_in_process(capsys, llama_server, tmp_path):
    from tui.chat_cli import run_chat

    script = tmp_path / "script.txt"
    script.write_text("Hello! My name is Alice.\nWhat is my name?\n")
    replies = {}
    for name, backend in (("server", ["--base-url", llama_server]), ("inproc", ["--backend", "llamacpp"])):
        out = tmp_path / f"{name}.json"
        code = run_chat(["--batch", *backend, "--script", str(script), "--output", str(out), "--max-new-tokens", "40"])
        assert code == 0, capsys.readouterr().err
        transcript = json.loads(out.read_text())
        turns = transcript["turns"]
        assert len(turns) == 2 and all(t["reply"] and t["new_tokens"] > 0 and t["tokens_per_s"] for t in turns)
        assert turns[1]["prompt_tokens"] > turns[0]["prompt_tokens"]  # the history went with the second message
        replies[name] = [t["reply"] for t in turns]
    assert replies["server"] == replies["inproc"]  # greedy, one llama.cpp: the same words


def test_mtbench_judged_end_to_end_by_a_llama_cpp_server(capsys, llama_server, tmp_path):
    """MT-Bench answers (llama.cpp in-process) judged by a real judge on loopback (the llama.cpp server): FastChat's
    lines, each (question, model, turn) once, a rerun judges nothing. SmolLM2's ratings mean little; the plumbing
    is what is tested."""
    from core.mtbench import Question
    from core.mtbench.judge import Judgment

    questions = tmp_path / "question.jsonl"
    qs = [Question(question_id=81, category="writing", turns=["Write one sentence about rain.", "Now about snow."]),
          Question(question_id=111, category="math", turns=["What is 2+3?", "And 2*3?"])]  # fmt: skip
    questions.write_text("".join(q.model_dump_json() + "\n" for q in qs))
    answers = tmp_path / "model_answer"
    assert main(["mtbench", "answer", "--model", "smollm2-135m-instruct", "--backend", "llamacpp", "--questions",
                 str(questions), "--max-new-tokens", "24", "--output", str(answers), "--quiet"]) == 0  # fmt: skip
    judge = ["mtbench", "judge", "--answers", str(answers), "--judge", llama_server, "--questions", str(questions),
             "--max-tokens", "48", "--output", str(tmp_path / "model_judgment"), "--concurrency", "1"]  # fmt: skip
    assert main(judge) == 0
    path = tmp_path / "model_judgment" / "smollm2-135m-instruct_single.jsonl"
    lines = [Judgment.model_validate_json(x) for x in path.read_text().splitlines()]
    assert sorted((j.question_id, j.turn) for j in lines) == [(81, 1), (81, 2), (111, 1), (111, 2)]
    assert {j.judge for j in lines} == {("smollm2-135m-instruct", n) for n in
                                        ("single-v1", "single-v1-multi-turn", "single-math-v1",
                                         "single-math-v1-multi-turn")}  # fmt: skip
    for j in lines:
        assert j.judgment.strip() and (j.score == -1 or 1 <= j.score <= 10)
        assert j.llm_tui is not None and j.llm_tui.attempts in (1, 2)
    assert "What is 2+3?" in next(j.user_prompt for j in lines if j.question_id == 111)
    capsys.readouterr()
    assert main(judge) == 0
    assert "0 judged now" in capsys.readouterr().out
    assert len(path.read_text().splitlines()) == 4
