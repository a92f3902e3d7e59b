"""kill -9 in the middle of a run, then the same command again: every document exactly once, and the same
records as a run that was never interrupted. Real subprocesses on the tiny model, for the scoring kinds the
real-model tests do not cover cheaply (multiple-input log-likelihoods, generation)."""

import json
import os
import random
import subprocess
import sys

import pytest
from cli_helpers import kill_9_when_journal_has

WORDS = "star planet orbit mass light galaxy bone muscle virus cell energy moon comet nerve host".split()


def _rows(task: str, n: int) -> list[dict]:
    rng = random.Random(7)

    def text(lo, hi):
        return " ".join(rng.choice(WORDS) for _ in range(rng.randint(lo, hi)))

    if task == "winogrande":
        return [
            {
                "sentence": f"{text(2, 9)} _ {text(2, 9)}.",
                "option1": text(1, 2),
                "option2": text(1, 2),
                "answer": "12"[i % 2],
            }
            for i in range(n)
        ]
    return [{"question": text(4, 12) + "?", "answer": f"#### {i}"} for i in range(n)]


def _journal(run):
    path = run / "questions.jsonl"
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


@pytest.mark.parametrize(("task", "extra"), [("winogrande", []), ("gsm8k", ["--shots", "0", "--max-new-tokens", "3"])])
def test_kill_9_then_rerun_scores_each_document_once_and_the_same(tiny_model, tmp_path, task, extra):
    data = tmp_path / f"{task}.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in _rows(task, 400)))
    cmd = [sys.executable, "-m", "tui.cli", "--batch", "--model", str(tiny_model), "--task", task, "--data", str(data),
           "--batch-size", "2", "--device", "cpu", "--dtype", "float32", *extra]  # fmt: skip
    env = dict(os.environ, OMP_NUM_THREADS="1")
    ref = subprocess.run([*cmd, "-o", str(tmp_path / "ref")], capture_output=True, text=True, env=env, timeout=600)
    assert ref.returncode == 0, ref.stderr
    run = tmp_path / "run"
    proc = subprocess.Popen([*cmd, "-o", str(run)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    killed_at = kill_9_when_journal_has(proc, run / "questions.jsonl", 20)
    assert 20 <= killed_at < 400, f"the run was not interrupted mid-way ({killed_at} lines)"
    again = subprocess.run([*cmd, "-o", str(run)], capture_output=True, text=True, env=env, timeout=600)
    assert again.returncode == 0, again.stderr
    assert "resuming run" in again.stdout
    recs = _journal(run)
    assert len(recs) == len({r["doc_id"] for r in recs}) == 400
    reference = {r["doc_id"]: r for r in _journal(tmp_path / "ref")}
    assert {r["doc_id"]: r for r in recs} == reference  # scores, generated text, metrics: all the same
    a = json.loads((tmp_path / "ref" / "results.json").read_text())
    b = json.loads((run / "results.json").read_text())
    assert a["metrics"] == b["metrics"] and a["accuracy"] == b["accuracy"] and len(b["sessions"]) == 2
