"""`llm-tui report` over format-2 runs and several tasks: the models x tasks pages, one comparison per task with
two or more runs, GSM8K without letter pages, and format-1 with format-2 MMLU runs in one comparison."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from cli_helpers import one_error_line
from make_fixture_runs import ROOT, gsm8k_records, mmlu_records, write_v2_run, write_v2_set
from test_report import _call

from core.analysis import load_runs
from core.report import compare_tasks

MATRIX = ["matrix_heatmap.png", "matrix_bars.png", "matrix_time.png"]
MMLU = [  # one task's pages, MMLU with 3 subjects
    "accuracy_overall.png",
    "accuracy_by_subject.png",
    "overlap.png",
    "pairwise_jaccard.png",
    "pairwise_kappa.png",
    "letter_bias.png",
    "configurations.png",
]
ARC = [  # one subset: no per-subset page
    "accuracy_overall.png",
    "overlap.png",
    "pairwise_jaccard.png",
    "pairwise_kappa.png",
    "letter_bias.png",
    "configurations.png",
]


def _pages(pdf: Path) -> int:
    return len(re.findall(rb"/Type\s*/Page\b(?!s)", pdf.read_bytes()))


@pytest.fixture(scope="module")
def v2(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Path]:
    return write_v2_set(tmp_path_factory.mktemp("v2"))


def test_format_1_and_format_2_mmlu_runs_compare_on_the_same_questions(v2, tmp_path):
    out = tmp_path / "out"
    runs = [ROOT / "run-a", ROOT / "run-b", v2[("smollm2", "mmlu")], v2[("gemma", "mmlu")]]
    code, stdout, _err = _call([*runs, "--out", out, "--permutations", "200"])
    assert code == 0
    assert "compared 4 runs on 26 common questions" in stdout  # the same 26 (subject, index) questions
    assert "models x tasks" not in stdout  # one task: the report looks as before
    assert sorted(p.name for p in out.glob("*.png")) == sorted(MMLU)
    assert _pages(out / "report.pdf") == len(MMLU)
    data = json.loads((out / "analysis.json").read_text())
    assert data["analysis"]["task"] == "mmlu" and data["analysis"]["questions"] == 26
    assert data["analysis"]["notices"] == []  # no question differs between the formats
    assert data["matrix"]["tasks"] == ["mmlu"] and len(data["matrix"]["cells"]) == 4
    md = (out / "report.md").read_text()
    assert "4 runs of MMLU [mmlu] compared on the **26 questions they all answered**" in md
    assert "## Accuracy per subject" in md and "## Models x tasks" not in md


def test_two_tasks_write_the_matrix_pages_and_one_comparison_per_task(v2, tmp_path):
    out = tmp_path / "out"
    code, stdout, _err = _call([*v2.values(), "--out", out, "--permutations", "200"])
    assert code == 0
    assert "models x tasks: 2 model configurations x 2 tasks (4 runs: mmlu, arc_easy)" in stdout
    assert "mmlu: compared 2 runs on 26 common questions" in stdout
    assert "arc_easy: compared 2 runs on 40 common questions" in stdout
    expected = MATRIX + [f"mmlu-{n}" for n in MMLU] + [f"arc_easy-{n}" for n in ARC]
    assert sorted(p.name for p in out.glob("*.png")) == sorted(expected)
    for name in expected:
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    assert _pages(out / "report.pdf") == len(expected)
    data = json.loads((out / "analysis.json").read_text())
    assert set(data["tasks"]) == {"mmlu", "arc_easy"}
    assert data["tasks"]["arc_easy"]["analysis"]["metric"] == "acc_norm"
    cells = {(c["model"], c["task"]): c for c in data["matrix"]["cells"]}
    assert set(cells) == {(m, t) for m in ("smollm2-135m-instruct", "gemma-3-270m") for t in ("mmlu", "arc_easy")}
    arc = cells[("gemma-3-270m", "arc_easy")]
    assert arc["metric"] == "acc_norm" and arc["ci_method"] == "wilson" and arc["answered"] == 40
    assert arc["ci_low"] < arc["value"] < arc["ci_high"]
    md = (out / "report.md").read_text()
    for text in (
        "# llm-tui report: models x tasks",
        "## Models x tasks",
        "| model | MMLU [mmlu, acc] | ARC-Easy [arc_easy, acc_norm] |",
        "![models x tasks heatmap](matrix_heatmap.png)",
        "## Time per task",
        "## MMLU [mmlu]: 2 runs on their 26 common documents",
        "## ARC-Easy [arc_easy]: 2 runs on their 40 common documents",
        "### Accuracy per subject",
        "](arc_easy-letter_bias.png)",
    ):
        assert text in md, text
    assert re.search(
        r"\| gemma-3-270m \| [0-9.]+% \[[0-9.]+, [0-9.]+\] n=26 \| [0-9.]+% \[[0-9.]+, [0-9.]+\] n=40 \|", md
    )


def test_gsm8k_pages_leave_the_letters_out_and_say_why(v2, tmp_path):
    g1 = write_v2_run(tmp_path / "g1", "smollm2-135m-instruct", gsm8k_records(30, 0.3, 1), shots=8, wall=60.0)
    g2 = write_v2_run(tmp_path / "g2", "gemma-3-270m", gsm8k_records(30, 0.5, 2), shots=8, wall=40.0)
    out = tmp_path / "out"
    mmlu = [v2[("smollm2", "mmlu")], v2[("gemma", "mmlu")]]
    code, stdout, _err = _call([g1, g2, *mmlu, "--out", out, "--permutations", "200"])
    assert code == 0, stdout
    names = {p.name for p in out.glob("*.png")}
    assert "gsm8k-overlap.png" in names and "gsm8k-letter_bias.png" not in names
    assert "mmlu-letter_bias.png" in names
    md = (out / "report.md").read_text()
    gsm8k_part = md[md.index("## GSM8K") :]
    assert "Not applicable: answers are generated text." in gsm8k_part
    assert "The test with letter bias taken out is left out (not applicable: answers are generated text)" in md
    data = json.loads((out / "analysis.json").read_text())
    gsm = data["tasks"]["gsm8k"]["analysis"]
    assert gsm["letters"] == [] and gsm["overlap_by_letter"] is None
    assert data["matrix"]["metrics"]["gsm8k"] == "exact_match"
    # the same model on GSM8K (8-shot by default) and MMLU (0-shot) is one row
    assert len(data["matrix"]["models"]) == 2


def test_one_run_per_task_gives_the_matrix_only_and_a_task_without_common_documents_is_noted(v2, tmp_path):
    out = tmp_path / "out"
    code, stdout, _err = _call([v2[("smollm2", "mmlu")], v2[("gemma", "arc_easy")], "--out", out])
    assert code == 0
    assert sorted(p.name for p in out.glob("*.png")) == sorted(MATRIX)
    assert "note: one run each, so only in the models x tasks view: mmlu, arc_easy" in stdout
    virology = mmlu_records(0.5, 3)[20:]  # documents 20-25 are virology's
    anatomy = [r.model_copy(update={"subset": "anatomy"}) for r in mmlu_records(0.5, 4)[:5]]
    other = write_v2_run(tmp_path / "other", "gemma-3-270m", virology)
    lone = write_v2_run(tmp_path / "lone", "smollm2-135m-instruct", anatomy)
    runs = load_runs([other, lone, v2[("smollm2", "arc_easy")], v2[("gemma", "arc_easy")]])
    matrix, parts, notices = compare_tasks(runs, permutations=100)  # what write_report draws, without drawing
    assert [p.task for p in parts] == ["arc_easy"]
    assert notices[0].startswith("mmlu: no run-against-run comparison (the runs share no questions")
    assert len(matrix.cells) == 4


def test_bad_inputs_over_several_tasks_exit_2_with_one_line(v2, tmp_path):
    out = tmp_path / "out"
    runs = list(v2.values())
    code, stdout, stderr = _call([*runs, "--out", out, "--baseline", "nowhere"])
    assert code == 2 and stdout == "" and stderr.count("\n") == 1
    assert "not one of the runs" in one_error_line(stderr)
    code, stdout, stderr = _call([runs[0], "--out", out])
    assert code == 2 and "at least 2 runs" in one_error_line(stderr)
    assert not out.exists()
    # a baseline by folder applies to its own task only; by label, to every task that has it
    _matrix, parts, _notices = compare_tasks(load_runs(runs), baseline=v2[("gemma", "arc_easy")], permutations=100)
    bases = {p.task: (p.configs.baseline, p.configs.baseline_reason) for p in parts}
    assert bases == {"mmlu": ("smollm2-135m-instruct", "the first run given"), "arc_easy": ("gemma-3-270m", "chosen")}
    _matrix, parts, _notices = compare_tasks(load_runs(runs), baseline="gemma-3-270m", permutations=100)
    assert {p.configs.baseline_reason for p in parts} == {"chosen"}
