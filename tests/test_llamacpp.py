"""llama.cpp for real (issue 12): the bundled SmolLM2 GGUF served by xllamacpp on 127.0.0.1 and scored through the
`openai` backend, and the same file run in-process by the `llamacpp` backend. They agree with each other (one
llama.cpp, two ways in); ARC-Challenge is refused on both with the reason (no prompt log-probabilities).

The server is started and stopped by the test (its own process, 127.0.0.1 only, a bounded number of requests)."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from cli_helpers import one_error_line

from core import assets
from core.locations import cache_dir
from core.runs import QUESTIONS, RESULTS
from tui.cli import main

pytestmark = [pytest.mark.slow, pytest.mark.llamacpp]
pytest.importorskip("xllamacpp", reason="the [llamacpp] extra is not installed")

SERVE = """
import signal, sys
import xllamacpp as xlc
p = xlc.CommonParams()
p.model.path = sys.argv[1]
p.model_alias = {"smollm2"}  # a set of names
p.n_ctx = 4096
p.n_parallel = 2
p.cpuparams.n_threads = 2
p.cpuparams_batch.n_threads = 2
p.hostnames = ["127.0.0.1"]
p.port = int(sys.argv[2])
p.verbosity = -1
server = xlc.Server(p)
print("ready", flush=True)
signal.sigwait({signal.SIGTERM, signal.SIGINT})
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def gguf() -> Path:
    return assets.ensure("smollm2-135m-instruct", cache_dir(None))


@pytest.fixture(scope="module")
def llama_server(gguf: Path):
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-c", SERVE, str(gguf), str(port)], stdout=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, "the llama.cpp server exited"
            time.sleep(0.2)  # a process starting, not a UI: polled until /health answers
        yield url + "/v1"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


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
    assert (a["backend"], a["model"], a["device"]) == ("openai", "smollm2", "server")
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
