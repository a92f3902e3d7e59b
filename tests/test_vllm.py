"""vLLM itself (the CPU build, in its own environment, installed by the test set-up) serving SmolLM2 on 127.0.0.1,
scored through the `openai` backend (issue 12): MMLU, ARC-Challenge through prompt log-probabilities (echo) in
agreement with the `transformers` backend at the same dtype, a chat script, and a run shared with a llama.cpp server
of the same model that is killed midway. One vLLM server for the whole session (it takes 1.5-2.5 minutes to start
on 2 cores); ``-m "not vllm"`` skips these."""

from __future__ import annotations

import json
import os

import pytest
from test_llamacpp import _records, _run, run_losing_a_replica
from vllm_server import VllmServer

from core import assets
from core.locations import cache_dir
from core.models import convert_gguf
from core.runs import QUESTIONS

pytestmark = [pytest.mark.slow, pytest.mark.vllm]
NAME = "smollm2-135m-instruct"  # served under llm-tui's alias, so a chat finds the tokenizer


class _Running:
    def __init__(self, url: str) -> None:
        self.url = url


@pytest.fixture(scope="session")
def vllm(tmp_path_factory):
    if os.environ.get("LLM_TUI_VLLM_URL"):  # a developer's vLLM already serving NAME: no second start
        yield _Running(os.environ["LLM_TUI_VLLM_URL"])
        return
    cache = cache_dir(None)
    folder = convert_gguf(assets.ensure(NAME, cache), cache)  # the safetensors folder llm-tui converts the GGUF to
    log = tmp_path_factory.mktemp("vllm") / "server.log"
    server = VllmServer(folder, NAME, log).start()
    try:
        yield server
    finally:
        server.stop()


def test_arc_over_vllm_agrees_with_transformers_at_the_same_dtype(capsys, vllm, tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    code, err = _run(capsys, "--base-url", vllm.url, "--task", "arc_challenge", "--limit", "100",
                     "--output", str(tmp_path / "vllm"))  # fmt: skip
    assert code == 0, err
    code, err = _run(capsys, "--task", "arc_challenge", "--limit", "100", "--dtype", "bfloat16",
                     "--output", str(tmp_path / "hf"))  # fmt: skip
    assert code == 0, err
    served, local = _records(tmp_path / "vllm"), _records(tmp_path / "hf")
    assert served.keys() == local.keys() and len(served) == 100
    same = sum(served[k]["predicted_norm"] == local[k]["predicted_norm"] for k in served)  # acc_norm: ARC's metric
    assert same >= 98, f"{same}/100 predictions agree"
    worst = max(abs(a - b) for k in served for a, b in zip(served[k]["scores"], local[k]["scores"], strict=True))
    assert worst < 1.5  # bfloat16 noise over a whole continuation, not another model


def test_mmlu_and_a_chat_script_over_vllm(capsys, vllm, tmp_path):
    from tui.chat_cli import run_chat

    code, err = _run(capsys, "--base-url", vllm.url, "--subjects", "astronomy", "--limit", "10",
                     "--output", str(tmp_path / "mmlu"))  # fmt: skip
    assert code == 0, err
    records = _records(tmp_path / "mmlu")
    assert len(records) == 10 and all(len(r["scores"]) == 4 and max(r["scores"]) < 0 for r in records.values())
    script = tmp_path / "script.txt"
    script.write_text("Hello! My name is Alice.\nWhat is my name?\n")
    code = run_chat(["--batch", "--base-url", vllm.url, "--script", str(script), "--output", str(tmp_path / "t.json"),
                     "--max-new-tokens", "32"])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    turns = json.loads((tmp_path / "t.json").read_text())["turns"]
    assert len(turns) == 2 and all(t["reply"] and t["new_tokens"] > 0 and t["model"] == NAME for t in turns)


def test_a_run_shared_by_vllm_and_a_llama_cpp_server_survives_losing_one(capsys, vllm, tmp_path):
    gguf = assets.ensure(NAME, cache_dir(None))
    run = tmp_path / "shared"  # vLLM and the same model in llama.cpp, under the same name; llama.cpp is lost
    args = ["--subjects", "astronomy", "--limit", "30", "--concurrency", "1", "--batch-size", "2"]
    code, out, at_kill = run_losing_a_replica(vllm.url, gguf, run, args, after=6)
    assert code == 0, out
    assert 6 <= at_kill < 30
    lines = (run / QUESTIONS).read_text().splitlines()
    assert len(lines) == len(_records(run)) == 30  # each document once
