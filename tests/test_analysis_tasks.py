"""core.analysis across tasks: the models x tasks matrix (values and intervals by hand), labels that ignore the
task, the mistake analysis refusing runs of two tasks, letter analyses skipped for generated answers, and
format-1 and format-2 MMLU runs lining up."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from make_fixture_runs import ROOT, arc_records, choice_record, gsm8k_record, mmlu_records, write_v2_run

from core.analysis import align, analyse, compare_configs, load_runs, task_matrix
from core.analysis.load import Run
from core.errors import UserInputError
from core.schema import RUN_FORMAT_V1, Accuracy, DocRecord, RunIdentity, RunResults, Timing
from core.tasks import get_task


def run_of(
    model: str,
    records: list[DocRecord],
    path: str | None = None,
    wall: float | None = None,
    **identity: Any,
) -> Run:
    """An in-memory run of ``records`` (all of one task); accuracy as the engine computes it."""
    task = get_task(records[0].task)
    ident = RunIdentity(**{"model": model, "device": "cpu", "dtype": "float32", "task": task.name, **identity})
    values = [r.metrics[task.primary_metric] for r in records]
    n = len(records)
    results = RunResults(
        identity=ident,
        task=task.info(),
        accuracy=Accuracy(micro=sum(values) / n, correct=sum(r.correct for r in records), answered=n, total=n),
        timing=Timing(wall_s=wall or 0.0, questions=n if wall else 0),
    )
    return Run(Path(path or f"/runs/{model}-{task.name}"), results, {r.key: r for r in records})


def mmlu(marks: str, subset: str = "astronomy") -> list[DocRecord]:
    """MMLU records from a string of 1 (right) / 0 (wrong); right answer A, wrong pick B."""
    return [
        choice_record("mmlu", subset, i, f"{subset} question {i}?", list("wxyz"), 0, 0 if m == "1" else 1)
        for i, m in enumerate(marks)
    ]


def gsm8k(marks: str) -> list[DocRecord]:
    """GSM8K records: 1 = right, 0 = a wrong number, x = no answer extracted."""
    return [gsm8k_record(i, 10 + i, 10 + i if m == "1" else None if m == "x" else 99) for i, m in enumerate(marks)]


def mc2(masses: list[float]) -> list[DocRecord]:
    return [
        DocRecord(
            task="truthfulqa_mc2",
            subset="truthfulqa_mc2",
            doc_id=i,
            question=f"q{i}",
            choices=list("abcd"),
            gold=[0, 1],
            answer="A,B",
            scores=[-1.0] * 4,
            predicted=0,
            pick="A",
            metrics={"acc": m},
            correct=m >= 0.5,
        )  # fmt: skip
        for i, m in enumerate(masses)
    ]


# ---- the models x tasks matrix ------------------------------------------------------------------------------


def test_matrix_values_and_wilson_intervals_by_hand():
    runs = [
        run_of("smol", gsm8k("1100"), wall=8.0),
        run_of("smol", mmlu("1110110011"), wall=2.0),
        run_of("gemma", mmlu("1111"), wall=1.0),
    ]
    m = task_matrix(runs)
    assert m.models == ("smol", "gemma")  # the same model on two tasks is one row
    assert m.tasks == ("mmlu", "gsm8k")  # the registry's order, not the order given
    assert m.metrics == {"mmlu": "acc", "gsm8k": "exact_match"}
    cell = m.cell("smol", "mmlu")
    # 7 of 10 right. Wilson, z = 1.96: centre = (0.7 + z^2/20) / (1 + z^2/10) = 0.892073 / 1.384146 = 0.644493,
    # half = z sqrt(0.7 * 0.3 / 10 + z^2 / 400) / 1.384146 = 1.959964 * 0.174939 / 1.384146 = 0.247716
    assert cell.value == pytest.approx(0.7)
    assert (cell.ci_low, cell.ci_high) == (pytest.approx(0.39678, abs=1e-5), pytest.approx(0.89221, abs=1e-5))
    assert (cell.ci_method, cell.correct, cell.answered, cell.total) == ("wilson", 7, 10, 10)
    assert cell.chance == pytest.approx(0.25)  # one right of four choices
    assert cell.questions_per_s == pytest.approx(5.0)  # 10 documents in 2 s
    g = m.cell("smol", "gsm8k")
    # 2 of 4: centre 0.5, half = z sqrt(0.0625 + z^2/64) / (1 + z^2/4) = 1.959964 * 0.350033 / 1.960365 = 0.349961
    assert g.value == pytest.approx(0.5)
    assert (g.ci_low, g.ci_high) == (pytest.approx(0.5 - 0.349961, abs=1e-5), pytest.approx(0.5 + 0.349961, abs=1e-5))
    assert g.chance is None and g.metric == "exact_match"
    assert m.value("gemma", "gsm8k") is None and m.cell("gemma", "gsm8k") is None
    assert m.value("gemma", "mmlu") == 1.0
    assert [c.model for c in m.runs_of("mmlu")] == ["smol", "gemma"]
    assert len(m.to_dict()["cells"]) == 3


def test_matrix_interval_of_a_probability_mass_is_normal():
    (cell,) = task_matrix([run_of("m", mc2([0.2, 0.4, 0.6, 0.8]))]).cells.values()
    # mean 0.5; sample sd = sqrt((0.09 + 0.01 + 0.01 + 0.09) / 3) = 0.258199; half = 1.959964 * 0.258199 / 2
    assert cell.value == pytest.approx(0.5)
    assert cell.ci_method == "normal"
    assert (cell.ci_low, cell.ci_high) == (pytest.approx(0.246970, abs=1e-6), pytest.approx(0.753030, abs=1e-6))
    assert cell.chance == pytest.approx(0.5)  # two true answers of four choices


def test_two_runs_of_one_model_and_task_are_two_rows_never_averaged():
    runs = [
        run_of("m", mmlu("1100"), path="/r/zero"),
        run_of("m", mmlu("1111"), path="/r/five", shots=5),
        run_of("m", arc_records("arc_easy", 12, 0.5, 1), path="/r/arc"),
        run_of("m", mmlu("0000"), path="/r/x", dtype="bfloat16"),
    ]
    m = task_matrix(runs)
    # dtype differs between runs of m: every label names it; shots differ between m's MMLU runs: every label
    # names them, so the ARC run (0-shot, float32) shares the first MMLU run's row.
    assert m.models == ("m float32 0-shot", "m float32 5-shot", "m bfloat16 0-shot")
    assert m.value("m float32 0-shot", "mmlu") == 0.5
    assert m.value("m float32 5-shot", "mmlu") == 1.0
    assert m.value("m bfloat16 0-shot", "mmlu") == 0.0
    assert m.cell("m float32 0-shot", "arc_easy").path == "/r/arc"
    assert len(m.cells) == 4


def test_identical_configurations_of_one_task_fall_back_to_folder_names_but_not_across_tasks():
    runs = [run_of("m", mmlu("10"), path="/r/a"), run_of("m", mmlu("11"), path="/r/b"), run_of("m", gsm8k("1"))]
    m = task_matrix(runs)
    assert [r.label for r in runs] == ["m [a]", "m [b]", "m"]
    assert set(m.cells) == {("m [a]", "mmlu"), ("m [b]", "mmlu"), ("m", "gsm8k")}


def test_chance_of_a_task_with_three_four_and_five_choices():
    records = arc_records("arc_challenge", 30, 0.5, 2)
    ks = [len(r.choices) for r in records]
    assert set(ks) == {3, 4, 5}
    (cell,) = task_matrix([run_of("m", records)]).cells.values()
    assert cell.chance == pytest.approx(sum(1 / k for k in ks) / len(ks))


# ---- one task at a time -------------------------------------------------------------------------------------


def test_align_refuses_runs_of_two_tasks_in_one_line():
    with pytest.raises(UserInputError) as err:
        align([run_of("a", mmlu("10")), run_of("b", gsm8k("10"))])
    message = str(err.value)
    assert "\n" not in message
    assert "mmlu" in message and "gsm8k" in message and "one task" in message and "models x tasks" in message
    with pytest.raises(UserInputError, match="different tasks"):
        analyse([run_of("a", mmlu("10")), run_of("b", mmlu("11")), run_of("c", gsm8k("10"))])


def test_letter_analyses_are_skipped_for_generated_answers():
    a = run_of("a", gsm8k("110x0x"))
    b = run_of("b", gsm8k("1000x1"))
    analysis = analyse([a, b], permutations=200)
    assert analysis.task == "gsm8k" and analysis.metric == "exact_match" and analysis.kind == "generate_until"
    assert analysis.letters == () and not analysis.letters_applicable
    assert analysis.letters_note == "not applicable: answers are generated text"
    assert analysis.overlap_by_letter is None
    assert analysis.chance is None
    (p,) = analysis.pairs
    assert (p.both_wrong, p.a_wrong_only, p.b_wrong_only, p.both_right) == (3, 1, 1, 1)  # docs 2-4; 5; 1; 0
    assert p.letter_agreement is None and p.same_wrong_letter is None and p.same_wrong_letter_p is None
    assert analysis.matrix("letter_agreement")[0][1] is None
    (m,) = analysis.mistakes
    assert m.subset == "gsm8k"
    assert [q.doc_id for q in m.all_wrong] == [2, 3, 4]
    assert m.all_wrong[0].answer == "12" and m.all_wrong[0].picks == ("99", "99")
    assert m.all_wrong[1].picks == ("[invalid]", "99")
    assert analysis.to_dict()["overlap_by_letter"] is None


def test_letters_of_a_five_choice_task_and_one_subset_strata():
    a = run_of("a", arc_records("arc_challenge", 30, 0.4, 3))
    b = run_of("b", arc_records("arc_challenge", 30, 0.6, 4))
    analysis = analyse([a, b], permutations=200)
    assert analysis.subsets == ("arc_challenge",) and analysis.subset_label == "subset"
    assert list(analysis.letters[0].truth) == list("ABCDE")
    assert sum(analysis.letters[0].truth.values()) == 30
    assert analysis.overlap.strata == "subset" and analysis.overlap_by_letter.strata == "subset+answer"
    assert list(analysis.overlap.by_subset) == ["arc_challenge"]


def test_several_right_answers_skip_letters_and_a_fractional_metric_is_noted():
    analysis = analyse([run_of("a", mc2([0.2, 0.7, 0.9])), run_of("b", mc2([0.6, 0.1, 0.8]))], permutations=200)
    assert analysis.letters == () and analysis.letters_note.startswith("not applicable: questions have several")
    assert any("at least 0.5" in n for n in analysis.notices)
    (p,) = analysis.pairs
    assert (p.both_wrong, p.both_right) == (0, 1)  # right = mass >= 0.5


def test_compare_configs_across_tasks_says_so():
    table = compare_configs([run_of("a", mmlu("10")), run_of("a", gsm8k("10"), dtype="bfloat16")])
    assert any("different tasks (mmlu, gsm8k)" in n for n in table.notes)


# ---- format 1 and format 2 together -------------------------------------------------------------------------


def test_committed_format_1_fixtures_load_typed_and_line_up_with_format_2(tmp_path):
    v2 = write_v2_run(tmp_path / "v2", "smollm2-135m-instruct", mmlu_records(0.4, 5))
    runs = load_runs([ROOT / "run-a", ROOT / "run-b", v2])
    assert [r.results.migrated_from for r in runs] == [RUN_FORMAT_V1, RUN_FORMAT_V1, None]
    assert all(r.task == "mmlu" for r in runs)
    record = runs[0].records[("astronomy", 1)]
    assert isinstance(record, DocRecord) and record.score_kind == "logit" and record.pick == "A"
    aligned = align(runs)
    assert len(aligned.keys) == 26 and aligned.notices == ()  # every (subject, index) is the same question
    assert aligned.choice_labels == tuple("ABCD")
    m = task_matrix(runs)
    assert m.tasks == ("mmlu",) and len(m.models) == 3
    assert m.cell(runs[0].label, "mmlu").value == pytest.approx(6 / 26, abs=1e-6)
