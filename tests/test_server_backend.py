"""The OpenAI-compatible server backend (issue 12) against scripted servers on 127.0.0.1: exact scores from echo and
top log-probabilities, refusals with the reason, retries on 429/500/timeouts/cut answers/malformed JSON, a stop
with a clear error and a resume, replicas that share a run and take over from one that dies, and the API key
sent but never written anywhere."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from cli_helpers import one_error_line
from fake_server import FakeServer, expected_choice_loglik, expected_letter_logliks

from core.config import EvalConfig
from core.evaluate import plan
from core.runs import QUESTIONS, RESULTS
from tui.cli import main

ALL = "astronomy,anatomy,virology"  # the test file's subjects: 28 documents
PROBE = "The sky is blue"  # the prompt of the backend's echo probe at connect time


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["--batch", *args])
    out, err = capsys.readouterr()
    return code, out, err


def journal(run_dir: Path) -> list[dict]:
    path = run_dir / QUESTIONS
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def requests(task: str, data: Path, subsets: str | None = None) -> dict[tuple[str, int], object]:
    """What each document's request is, built by the task as the run builds it (0-shot, no chat template)."""
    p = plan(EvalConfig(task=task, data=str(data), subsets=subsets), data.parent, lambda e: None, None)
    return {(d.subset, d.doc_id): p.task.build(d, [], None) for docs in p.docs.values() for d in docs}


def assert_exact_letters(run_dir: Path, mmlu_file: Path) -> None:
    """All 28 documents journaled once, each letter's score the server's log-probability for it."""
    records = journal(run_dir)
    assert len(records) == 28 and len(set(keys(records))) == 28
    built = requests("mmlu", mmlu_file, ALL)
    for r in records:
        context = built[(r["subset"], r["doc_id"])].contexts[0]
        assert r["scores"] == pytest.approx(expected_letter_logliks(context), abs=1e-6)


def documents_sent(server: FakeServer) -> int:
    return sum(1 for _, prompt in server.seen if prompt != PROBE)


def keys(records: list[dict]) -> list[tuple[str, int]]:
    return [(r["subset"], r["doc_id"]) for r in records]


def test_mmlu_through_a_server_scores_the_letters_exactly(capsys, mmlu_file, tmp_path):
    with FakeServer(echo=False) as server:
        code, out, err = run(capsys, "--base-url", server.url, "--data", str(mmlu_file), "--subjects", ALL,
                             "--output", str(tmp_path / "run"))  # fmt: skip
    assert code == 0, err
    assert_exact_letters(tmp_path / "run", mmlu_file)
    results = json.loads((tmp_path / "run" / RESULTS).read_text())
    assert results["identity"]["backend"] == "openai" and results["identity"]["model"] == "fake-model"
    assert results["identity"]["device"] == "server" and results["config"]["base_url"] == server.url


def test_choice_loglik_uses_echo_and_is_refused_with_the_reason_without_it(capsys, task_files, tmp_path):
    with FakeServer(echo=True) as server:
        code, _, err = run(capsys, "--base-url", server.url, "--task", "arc_challenge",
                           "--data", str(task_files["arc_challenge"]), "--output", str(tmp_path / "arc"))  # fmt: skip
    assert code == 0, err
    records = journal(tmp_path / "arc")
    built = requests("arc_challenge", task_files["arc_challenge"])
    assert len(records) == len(built)
    for r in records:
        pairs = built[(r["subset"], r["doc_id"])].pairs()
        assert r["scores"] == pytest.approx([expected_choice_loglik(c, x) for c, x in pairs], abs=1e-5)
    with FakeServer(echo=False) as server:
        code, _, err = run(capsys, "--base-url", server.url, "--task", "arc_challenge",
                           "--data", str(task_files["arc_challenge"]),
                           "--output", str(tmp_path / "refused"))  # fmt: skip
        assert server.count <= 3  # the models list and the echo probe: no document was sent
    assert code == 2
    line = one_error_line(err)
    assert "arc_challenge cannot run on this server" in line and "echo" in line
    assert not (tmp_path / "refused").exists()


def test_faults_are_retried_and_each_document_is_journaled_once(capsys, mmlu_file, tmp_path):
    faults = {3: "429", 5: "500", 7: "json", 9: "cut", 11: "slow", 12: "429", 20: "500"}
    with FakeServer(echo=False, faults=faults, slow_s=2.0) as server:
        code, out, err = run(capsys, "--base-url", server.url, "--data", str(mmlu_file), "--subjects", ALL,
                             "--concurrency", "3", "--request-timeout", "1",
                             "--output", str(tmp_path / "run"))  # fmt: skip
        answered = len(server.seen)
        assert server.count >= 30 + len(faults)  # every scripted fault was met (and retried)
    assert code == 0, err
    assert_exact_letters(tmp_path / "run", mmlu_file)
    assert answered >= 28
    assert "retrying" in out + err  # the retries are said, not hidden


def test_a_server_that_keeps_failing_stops_the_run_clearly_and_it_resumes(capsys, mmlu_file, tmp_path, monkeypatch):
    import core.backends.server as srv

    monkeypatch.setattr(srv.ServerSpec, "__init__", _fast_retries(srv.ServerSpec.__init__))
    always = {n: "500" for n in range(12, 200)}  # the first documents go through, then every request fails
    with FakeServer(echo=False, faults=always) as server:
        code, _, err = run(capsys, "--base-url", server.url, "--data", str(mmlu_file), "--subjects", ALL,
                           "--batch-size", "4", "--concurrency", "1", "--output", str(tmp_path / "run"))  # fmt: skip
    assert code == 1 or code == 2
    line = one_error_line(err)
    assert "HTTP 500" in line and "resume" in line
    first = journal(tmp_path / "run")
    assert 0 < len(first) < 28
    results = json.loads((tmp_path / "run" / RESULTS).read_text())
    assert results["status"] == "failed"
    with FakeServer(echo=False) as server:  # the server is back (another port): resume with it
        code, _, err = run(capsys, "--base-url", server.url, "--data", str(mmlu_file), "--subjects", ALL,
                           "--output", str(tmp_path / "run"))  # fmt: skip
        sent = documents_sent(server)
    assert code == 0, err
    records = journal(tmp_path / "run")
    assert len(records) == 28 and len(set(keys(records))) == 28
    assert sent == 28 - len(first)  # only what was missing was asked again


def _fast_retries(original):
    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        object.__setattr__(self, "retries", 2)

    return init


def test_replicas_share_the_documents_and_one_that_dies_hands_over(capsys, mmlu_file, tmp_path):
    with FakeServer(echo=False) as a, FakeServer(echo=False, max_requests=8) as b:
        # b answers its first requests, then only 503s: as good as dead, its documents go to a
        code, out, err = run(capsys, "--base-url", a.url, "--base-url", b.url, "--data", str(mmlu_file),
                             "--subjects", ALL, "--output", str(tmp_path / "run"))  # fmt: skip
        served = (len(a.seen), len(b.seen))
    assert code == 0, err
    records = journal(tmp_path / "run")
    assert len(records) == 28 and len(set(keys(records))) == 28
    assert served[0] > 0 and served[1] > 0  # both replicas answered documents


def test_a_replica_that_goes_away_hands_its_requests_to_the_others(capsys, mmlu_file, tmp_path):
    a = FakeServer(echo=False).__enter__()
    b = FakeServer(echo=False).__enter__()
    b_url = b.url
    b.stop()  # refused connections from the start of the documents (after the connect check it is gone)
    try:
        code, out, err = run(capsys, "--base-url", a.url, "--base-url", b_url, "--data", str(mmlu_file),
                             "--subjects", ALL, "--output", str(tmp_path / "run"))  # fmt: skip
    finally:
        a.stop()
    assert code == 0, err
    assert len(journal(tmp_path / "run")) == 28
    assert "stopped answering" in out + err


def test_the_api_key_is_sent_and_written_nowhere(capsys, mmlu_file, tmp_path, monkeypatch):
    secret = "sk-test-3b1f9e0c7d2a"
    monkeypatch.setenv("MY_SERVER_KEY", secret)
    with FakeServer(echo=False, api_key=secret) as server:
        code, out, err = run(capsys, "--base-url", server.url, "--api-key-env", "MY_SERVER_KEY", "--data",
                             str(mmlu_file), "--subjects", "virology", "--output", str(tmp_path / "run"))  # fmt: skip
        assert set(server.auth) == {f"Bearer {secret}"}
    assert code == 0, err
    for path in (tmp_path / "run").rglob("*"):
        if path.is_file():
            assert secret not in path.read_text(errors="replace"), path
    assert secret not in out + err
    results = json.loads((tmp_path / "run" / RESULTS).read_text())
    assert results["config"]["api_key_env"] == "MY_SERVER_KEY"
    # a wrong key: one line naming the HTTP error, exit 2 or 1, nothing journaled
    monkeypatch.setenv("MY_SERVER_KEY", "wrong")
    with FakeServer(echo=False, api_key=secret) as server:
        code, _, err = run(capsys, "--base-url", server.url, "--api-key-env", "MY_SERVER_KEY", "--data",
                           str(mmlu_file), "--subjects", "virology", "--output", str(tmp_path / "run2"))  # fmt: skip
    assert code != 0 and "HTTP 401" in one_error_line(err) and "wrong" not in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--backend", "openai"], "--backend openai needs --base-url"),
        (["--base-url", "127.0.0.1:8000"], "use an http:// or https:// address"),
        (["--backend", "transformers", "--base-url", "http://127.0.0.1:9/v1"], "add --backend openai"),
        (["--base-url", "http://127.0.0.1:9/v1", "--dtype", "bfloat16"], "drop --dtype and --quant"),
        (["--base-url", "http://127.0.0.1:9/v1", "--api-key-env", "NO_SUCH_VAR_FOR_LLM_TUI"], "empty or unset"),
        (["--base-url", "http://127.0.0.1:9/v1", "--concurrency", "0"], "--concurrency 0"),
    ],
)
def test_bad_server_options_are_one_line(capsys, mmlu_file, tmp_path, args, message):
    code, _, err = run(capsys, *args, "--data", str(mmlu_file), "--subjects", "virology",
                       "--output", str(tmp_path / "run"))  # fmt: skip
    assert code == 2 and message in one_error_line(err)
    assert not (tmp_path / "run").exists()


def test_an_unreachable_server_is_one_line_before_any_folder(capsys, mmlu_file, tmp_path, monkeypatch):
    import core.backends.server as srv

    monkeypatch.setattr(srv.ServerSpec, "__init__", _fast_retries(srv.ServerSpec.__init__))
    with FakeServer() as server:
        url = server.url
    code, _, err = run(capsys, "--base-url", url, "--data", str(mmlu_file), "--subjects", "virology",
                       "--output", str(tmp_path / "run"))  # fmt: skip
    line = one_error_line(err)
    assert code != 0 and "connection failed" in line and url in line
    assert not (tmp_path / "run").exists()


def test_a_chat_script_streams_from_a_server_and_a_cut_stream_is_one_clear_line(capsys, tmp_path, tiny_model):
    from tui.chat_cli import run_chat

    script = tmp_path / "script.txt"
    script.write_text("Hello! My name is Alice.\nWhat is my name?\n")
    with FakeServer(echo=False) as server:
        code = run_chat(["--batch", "--base-url", server.url, "--tokenizer", str(tiny_model), "--script",
                         str(script), "--output", str(tmp_path / "t.json"), "--max-new-tokens", "20"])  # fmt: skip
        sent = [p for _, p in server.seen if p != PROBE]
    out, err = capsys.readouterr()
    assert code == 0, err
    transcript = json.loads((tmp_path / "t.json").read_text())
    assert [t["reply"] for t in transcript["turns"]] == ["Hello, Alice! How can I help?"] * 2
    assert all(t["model"] == "fake-model" and t["new_tokens"] == 9 for t in transcript["turns"])
    assert all(isinstance(p, list) and all(isinstance(x, int) for x in p) for p in sent)  # token ids, planned here
    assert len(sent[1]) == transcript["turns"][1]["prompt_tokens"]  # the meter counts what was sent
    with FakeServer(echo=False, faults={3: "streamcut"}) as server:  # the second turn's stream drops midway
        code = run_chat(["--batch", "--base-url", server.url, "--tokenizer", str(tiny_model), "--script",
                         str(script), "--output", str(tmp_path / "cut.json")])  # fmt: skip
    out, err = capsys.readouterr()
    assert code != 0 and "stream was cut" in one_error_line(err)
    kept = json.loads((tmp_path / "cut.json").read_text())
    assert len(kept["turns"]) == 1 and kept["turns"][0]["reply"] == "Hello, Alice! How can I help?"


def test_chat_over_a_server_needs_a_tokenizer(capsys, tmp_path):
    from tui.chat_cli import run_chat

    script = tmp_path / "script.txt"
    script.write_text("Hello\n")
    with FakeServer(echo=False, model="some-org-model-that-is-not-here") as server:
        code = run_chat(["--batch", "--base-url", server.url, "--script", str(script),
                         "--output", str(tmp_path / "t.json")])  # fmt: skip
    _, err = capsys.readouterr()
    assert code == 2 and "--tokenizer" in one_error_line(err)


def test_without_the_llamacpp_extra_the_backend_says_how_to_install_it(
    capsys, mmlu_file, tmp_path, monkeypatch, tiny_model
):
    monkeypatch.setitem(sys.modules, "xllamacpp", None)  # as if it were not installed: import fails
    code, _, err = run(capsys, "--backend", "llamacpp", "--data", str(mmlu_file), "--subjects", "virology",
                       "--output", str(tmp_path / "run"))  # fmt: skip
    line = one_error_line(err)
    assert code == 2 and "pip install -e '.[llamacpp]'" in line
    assert not (tmp_path / "run").exists()
    # everything else still works: the transformers backend runs
    code, _, err = run(capsys, "--model", str(tiny_model), "--data", str(mmlu_file), "--subjects", "virology",
                       "--limit", "2", "--output", str(tmp_path / "hf"))  # fmt: skip
    assert code == 0, err


def test_device_map_auto_is_for_cuda_and_for_transformers(capsys, mmlu_file, tmp_path):
    """--device-map auto (layers over local GPUs) cannot be tried here (no GPU): it is refused on the CPU with the
    reason, and with a server, before anything is made."""
    code, _, err = run(capsys, "--device-map", "auto", "--device", "cpu", "--data", str(mmlu_file), "--subjects",
                       "virology", "--output", str(tmp_path / "run"))  # fmt: skip
    assert code == 2 and "spreads a model over local GPUs" in one_error_line(err)
    code, _, err = run(capsys, "--device-map", "auto", "--base-url", "http://127.0.0.1:9/v1", "--data",
                       str(mmlu_file), "--output", str(tmp_path / "run"))  # fmt: skip
    assert code == 2 and "--device-map is for --backend transformers" in one_error_line(err)
    assert not (tmp_path / "run").exists()
