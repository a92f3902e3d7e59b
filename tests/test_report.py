"""`llm-tui report` (tui.report_cli.run_report) and core.report on small synthetic run folders."""

from __future__ import annotations

import contextlib
import io
import json
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest
from cli_helpers import one_error_line

from core.schema import RUN_FORMAT_V1
from tui.report_cli import run_report

SUBJECTS = {"astronomy": 30, "anatomy": 20}
CHARTS = [
    "accuracy_overall.png",
    "accuracy_by_subject.png",
    "overlap.png",
    "pairwise_jaccard.png",
    "pairwise_kappa.png",
    "letter_bias.png",
    "configurations.png",
]


def write_run(
    folder: Path,
    model: str,
    seed: int,
    dtype: str = "float32",
    quant: str = "none",
    subjects: dict[str, int] | None = None,
    wall: float = 2.0,
) -> Path:
    """A format-1 run folder (MMLU, as llm-tui wrote them before the task layer): results.json and
    questions.jsonl. Reports over format-2 runs and several tasks: tests/test_report_tasks.py."""
    rng = random.Random(seed)
    truth = random.Random(0)  # the same questions and answers in every run
    subjects = subjects or SUBJECTS
    records = []
    per_subject = {}
    for s, n in subjects.items():
        correct = 0
        for i in range(n):
            answer = truth.choice("ABCD")
            hard = i % 3 == 0
            wrong = [x for x in "ABCD" if x != answer]
            predicted = answer if rng.random() > (0.9 if hard else 0.5) else rng.choice(wrong)
            correct += predicted == answer
            records.append({"subject": s, "index": i, "question": f"{s} question {i}?", "choices": list("wxyz"),
                            "answer": answer, "predicted": predicted, "correct": predicted == answer,
                            "probs": [0.25] * 4, "scores": [0.0] * 4})  # fmt: skip
        timing = {"wall_s": wall * n / 50, "cpu_s": 2 * wall * n / 50, "gpu_s": None, "questions": n,
                  "prompt_tokens": 90 * n, "questions_per_s": 50 / wall, "tokens_per_s": 4500 / wall,
                  "peak_rss_bytes": 10**9, "peak_gpu_bytes": None}  # fmt: skip
        per_subject[s] = {"category": "stem", "total": n, "answered": n, "correct": correct,
                          "accuracy": correct / n, "timing": timing}  # fmt: skip
    total = sum(subjects.values())
    correct = sum(v["correct"] for v in per_subject.values())
    results = {
        "format": RUN_FORMAT_V1,
        "status": "complete",
        "identity": {
            "model": model,
            "device": "cpu",
            "dtype": dtype,
            "quant": quant,
            "data": {"source": "bundled", "sha256": "x"},
            "subjects": list(subjects),
        },  # fmt: skip
        "machine": {"cpu": "Test CPU", "cpu_count": 2, "device": "cpu", "gpu": None},
        "model": {"memory_bytes": 2 * 10**8},
        "accuracy": {"micro": correct / total, "correct": correct, "answered": total, "total": total},
        "subjects": per_subject,
        "timing": {"wall_s": wall, "cpu_s": 2 * wall, "questions": total, "load_s": 1.5},
    }
    folder.mkdir(parents=True)
    (folder / "results.json").write_text(json.dumps(results))
    (folder / "questions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return folder


def _call(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = run_report([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path], int, str]:
    root = tmp_path_factory.mktemp("report")
    runs = [
        write_run(root / "smol-f32", "smollm2", 1),
        write_run(root / "smol-bf16", "smollm2", 2, dtype="bfloat16", wall=1.0),
        write_run(root / "gemma", "gemma-3-270m", 3, wall=3.0),
    ]
    out = root / "out"
    code, stdout, _err = _call([*runs, "--out", out, "--baseline", runs[1], "--permutations", "500"])
    return out, runs, code, stdout


def test_report_writes_pdf_pngs_markdown_and_json(written):
    out, _runs, code, stdout = written
    assert code == 0
    for name in CHARTS:
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    pdf = (out / "report.pdf").read_bytes()
    assert pdf.startswith(b"%PDF")
    # one page per chart: count the page objects (/Type /Page, not the /Type /Pages tree node)
    assert len(re.findall(rb"/Type\s*/Page\b(?!s)", pdf)) == len(CHARTS)
    assert f"report.pdf ({len(CHARTS)} pages)" in stdout
    assert "compared 3 runs on 50 common questions" in stdout
    analysis = json.loads((out / "analysis.json").read_text())
    assert analysis["analysis"]["questions"] == 50
    assert len(analysis["analysis"]["pairs"]) == 3


def test_markdown_has_the_tables_and_the_p_value_line(written):
    out, _runs, _code, _stdout = written
    md = (out / "report.md").read_text()
    assert re.search(r"Null: independent errors at per-subject rates\. Permutation test p (=|≤) [0-9.e-]+\*\*", md)
    assert "Chi-square over pooled bins" in md
    for heading in ("## Runs", "## Accuracy per subject", "## Pairwise agreement", "McNemar",
                    "## Answer-letter bias", "## Configurations"):  # fmt: skip
        assert heading in md
    for name in CHARTS:
        assert f"]({name})" in md
    # labels tell the two smollm2 configurations apart; the chosen baseline is named
    assert "smollm2 float32" in md and "smollm2 bfloat16" in md
    assert "Baseline: **smollm2 bfloat16** (chosen)" in md
    assert "(x2.00)" in md  # smollm2 float32 took 2 s against the baseline's 1 s
    assert md.count("| smollm2") >= 3


def test_shared_hard_questions_show_in_the_overlap_test(written):
    # every run errs on a third of the questions (i % 3 == 0) with probability 0.9: clearly shared
    out, _runs, _code, stdout = written
    analysis = json.loads((out / "analysis.json").read_text())["analysis"]
    assert analysis["overlap"]["verdict"] == "shared"
    assert analysis["overlap"]["p_value"] < 0.01
    assert "mistakes: mistakes fall on the same questions" in stdout


def _one_line_error(code: int, stdout: str, stderr: str) -> str:
    assert code == 2
    assert stdout == ""
    assert stderr.count("\n") == 1, stderr
    return one_error_line(stderr)


def test_bad_inputs_exit_2_with_one_line(tmp_path):
    a = write_run(tmp_path / "a", "smollm2", 1)
    other = write_run(tmp_path / "b", "gemma", 2, subjects={"virology": 5})
    c = write_run(tmp_path / "c", "gemma", 3)
    out = tmp_path / "out"
    assert "at least 2 runs" in _one_line_error(*_call([a, "--out", out]))
    assert "share no questions" in _one_line_error(*_call([a, other, "--out", out]))
    assert "does not exist" in _one_line_error(*_call([a, tmp_path / "missing", "--out", out]))
    assert "not one of the runs" in _one_line_error(*_call([a, c, "--out", out, "--baseline", "zz"]))
    assert "--out" in _one_line_error(*_call([a, other]))
    assert "is a file" in _one_line_error(*_call([a, tmp_path / "a" / "results.json", "--out", out]))
    (tmp_path / "file").write_text("x")
    assert "is a file" in _one_line_error(*_call([a, c, "--out", tmp_path / "file"]))
    assert not out.exists()  # nothing is written before the input is known to be good


def test_importing_core_analysis_and_report_does_not_import_matplotlib():
    code = "import core.analysis, core.report, tui.report_cli; import sys; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
