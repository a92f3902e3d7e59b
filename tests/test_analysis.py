"""core.analysis: statistics against hand-computed values, loading/alignment errors, configurations.

Every expected number below is worked out by hand in the comments, not by calling the code under test.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from core.analysis import Run, align, analyse, compare_configs, load_runs, mcnemar, overlap_test, wilson
from core.analysis.load import assign_labels
from core.analysis.stats import chi2_sf, cohen_kappa, poisson_binomial, pool_bins
from core.errors import UserInputError
from core.runs import RunStore
from core.schema import DocRecord, ModelInfo, RunIdentity, RunResults, SubsetResult, Timing


def make_run(
    model: str,
    wrong: dict[str, list[bool]],
    answers: dict[str, list[str]] | None = None,
    predicted: dict[str, list[str]] | None = None,
    path: str | None = None,
    **identity: Any,
) -> Run:
    """An MMLU run whose question i of subject s is wrong when wrong[s][i]; right answers default to A, wrong
    predictions to B (override with ``answers`` / ``predicted``)."""
    records = {}
    for s, marks in wrong.items():
        for i, w in enumerate(marks):
            answer = answers[s][i] if answers else "A"
            if predicted:
                pred = predicted[s][i]
            else:
                pred = "B" if answer == "A" else "A"
                pred = pred if w else answer
            assert (pred != answer) == w
            records[(s, i)] = DocRecord(
                task="mmlu", subset=s, doc_id=i, question=f"{s} question {i}?", choices=["w", "x", "y", "z"],
                gold="ABCD".index(answer), answer=answer, predicted="ABCD".index(pred), pick=pred,
                metrics={"acc": float(not w)}, correct=not w,
            )  # fmt: skip
    ident = RunIdentity(**{"model": model, "device": "cpu", "dtype": "float32", "quant": "none", **identity})
    return Run(Path(path or f"/runs/{model}"), RunResults(identity=ident), records)


# ---- the small statistics -------------------------------------------------------------------------------


def test_chi2_sf_matches_table_critical_values():
    # The textbook 5% critical values of the chi-square distribution for 1..5 degrees of freedom.
    for df, x in [(1, 3.841458820694124), (2, 5.991464547107979), (3, 7.814727903251178), (4, 9.487729036781154)]:
        assert chi2_sf(x, df) == pytest.approx(0.05, abs=1e-12)
    assert chi2_sf(11.070497693516351, 5) == pytest.approx(0.05, abs=1e-12)
    # df = 2 is the exponential: P(X >= x) = exp(-x/2).
    assert chi2_sf(3.0, 2) == pytest.approx(math.exp(-1.5))
    assert chi2_sf(0.0, 3) == 1.0
    assert chi2_sf(math.inf, 3) == 0.0


def test_wilson_interval_by_hand():
    # 8/10: centre = (0.8 + z^2/20) / (1 + z^2/10), half = z sqrt(0.016 + z^2/400) / (1 + z^2/10), z = 1.96
    lo, hi = wilson(8, 10)
    assert lo == pytest.approx(0.4902, abs=1e-4)
    assert hi == pytest.approx(0.9433, abs=1e-4)
    # 0/10: the interval is [0, z^2 / (n + z^2)] = [0, 3.8415 / 13.8415]
    lo, hi = wilson(0, 10)
    assert lo == 0.0
    assert hi == pytest.approx(3.841459 / 13.841459, abs=1e-6)


def test_mcnemar_exact_below_25_discordant_and_chi_square_from_25():
    # 0 vs 7 discordant: two-sided exact binomial = 2 * (1/2)^7 = 0.015625
    m = mcnemar(0, 7)
    assert (m.method, m.p_value, m.statistic) == ("exact binomial", 0.015625, None)
    # 3 vs 7: 2 * (C(10,0)+C(10,1)+C(10,2)+C(10,3)) / 2^10 = 2 * 176 / 1024
    assert mcnemar(3, 7).p_value == pytest.approx(352 / 1024)
    # 24 discordant is still exact; 12 vs 12 is p = 1
    assert mcnemar(12, 12).method == "exact binomial"
    assert mcnemar(12, 12).p_value == 1.0
    # 30 vs 10: (|30 - 10| - 1)^2 / 40 = 361 / 40 = 9.025 on 1 df, p = 0.0026631 (chi-square table)
    m = mcnemar(30, 10)
    assert m.method == "chi-square (continuity-corrected)"
    assert m.statistic == pytest.approx(9.025)
    assert m.p_value == pytest.approx(0.0026631, abs=1e-6)
    assert mcnemar(13, 12).method.startswith("chi-square")  # 25 discordant
    assert mcnemar(0, 0).p_value == 1.0


def test_kappa_poisson_binomial_and_bin_pooling_by_hand():
    assert cohen_kappa(10, 0, 0, 0) is None  # both always right: kappa undefined
    # agreement 0.7, chance 0.6*0.7 + 0.4*0.3 = 0.54 -> (0.7 - 0.54) / 0.46 = 8/23
    assert cohen_kappa(5, 1, 2, 2) == pytest.approx(8 / 23)
    # p = 0.2, 0.7, 0.1: P0 = .8*.3*.9, P3 = .2*.7*.1, P1 = .2*.3*.9 + .8*.7*.9 + .8*.3*.1
    pmf = poisson_binomial([0.2, 0.7, 0.1])
    assert pmf == pytest.approx([0.216, 0.582, 0.188, 0.014])
    assert pool_bins([3, 10, 6, 2]) == [(0, 1), (2, 3)]
    assert pool_bins([1, 1]) == [(0, 1)]
    assert pool_bins([8.5, 10, 1.5]) == [(0, 0), (1, 2)]


# ---- two runs with known wrong sets ---------------------------------------------------------------------

# 20 questions, right answer always A. Run "a" is wrong on 0..9, run "b" on 0..2.
A_WRONG = [i < 10 for i in range(20)]
B_WRONG = [i < 3 for i in range(20)]
A_PRED = list("BBCDBCDBCD") + ["A"] * 10  # a's wrong letters: B x4, C x3, D x3
B_PRED = list("BCC") + ["A"] * 17  # b's wrong letters: B x1, C x2


@pytest.fixture
def pair_runs() -> list[Run]:
    return [
        make_run("a", {"astronomy": A_WRONG}, predicted={"astronomy": A_PRED}),
        make_run("b", {"astronomy": B_WRONG}, predicted={"astronomy": B_PRED}),
    ]


def test_pairwise_statistics_of_known_wrong_sets(pair_runs):
    analysis = analyse(pair_runs, permutations=200)
    (p,) = analysis.pairs
    assert (p.a, p.b) == ("a", "b")
    assert (p.both_wrong, p.a_wrong_only, p.b_wrong_only, p.both_right) == (3, 7, 0, 10)
    assert p.jaccard == pytest.approx(3 / 10)  # |{0,1,2}| / |{0..9}|
    assert p.agreement == pytest.approx(13 / 20)  # 3 both wrong + 10 both right
    # kappa: a right 0.5, b right 0.85; chance = 0.5*0.85 + 0.5*0.15 = 0.5; (0.65 - 0.5) / 0.5 = 0.3
    assert p.kappa == pytest.approx(0.3)
    # same letter: q0 (B,B), q2 (C,C) and the 10 questions both got right (A,A) = 12 of 20
    assert p.letter_agreement == pytest.approx(12 / 20)
    # both wrong on q0..q2 with letters (B,B), (B,C), (C,C): 2 of 3 the same wrong letter.
    assert (p.same_wrong_letter, p.same_wrong_letter_rate) == (2, pytest.approx(2 / 3))
    # chance per question (truth A): P_a(B)P_b(B) + P_a(C)P_b(C) + P_a(D)P_b(D) = .4/3 + .3*2/3 + 0 = 1/3
    assert p.same_wrong_letter_chance == pytest.approx(1 / 3)
    # P(at least 2 of 3 at 1/3) = 3 (1/3)^2 (2/3) + (1/3)^3 = 7/27
    assert p.same_wrong_letter_p == pytest.approx(7 / 27)
    # McNemar: a right & b wrong = 0, a wrong & b right = 7 -> exact, 2 / 2^7
    assert (p.mcnemar.a_only, p.mcnemar.b_only) == (0, 7)
    assert p.mcnemar.p_value == pytest.approx(0.015625)
    assert p.difference == pytest.approx(0.5 - 0.85)
    a, b = analysis.runs
    assert (a.overall.correct, a.overall.questions) == (10, 20)
    assert (a.overall.ci_low, a.overall.ci_high) == pytest.approx(wilson(10, 20))
    assert analysis.matrix("jaccard") == [[1.0, pytest.approx(0.3)], [pytest.approx(0.3), 1.0]]


def test_overlap_distribution_and_permutation_test_by_hand(pair_runs):
    test = overlap_test(align(pair_runs), permutations=20000, seed=1)
    # k runs wrong: 10 questions none, 7 one (a only), 3 both
    assert test.observed == (10, 7, 3)
    # rates 0.5 and 0.15 on every question: P0 = .5*.85, P1 = .5*.85 + .5*.15, P2 = .5*.15; x 20 questions
    assert test.expected == pytest.approx((8.5, 10.0, 1.5))
    assert test.shared_wrong == 3
    assert test.shared_wrong_expected == pytest.approx(10 * 3 / 20)
    # Under the shuffles the overlap is hypergeometric: P(>= 3 of b's 3 wrongs among a's 10 of 20)
    # = C(10,3) / C(20,3) = 120 / 1140.
    assert test.p_more == pytest.approx(120 / 1140, abs=0.01)
    assert test.p_fewer == 1.0
    assert test.p_value == pytest.approx(2 * 120 / 1140, abs=0.02)
    assert test.verdict == "independent" and not test.systematic
    # pooled bins (0), (1-2): chi2 = 1.5^2/8.5 + 1.5^2/11.5; 2 bins - 2 = 0 df, so no asymptotic p
    assert test.bins == ((0, 0), (1, 2))
    assert test.chi2 == pytest.approx(2.25 / 8.5 + 2.25 / 11.5)
    assert test.chi2_p is None and test.chi2_df == 0


def test_hard_questions_per_subject(pair_runs):
    (m,) = analyse(pair_runs, permutations=100).mistakes
    assert [q.doc_id for q in m.all_wrong] == [0, 1, 2]
    assert m.all_wrong[1].picks == ("B", "C") and m.all_wrong[1].answer == "A"
    assert m.all_wrong_expected == pytest.approx(20 * 0.5 * 0.15)
    assert [q.doc_id for q in m.only_one_right] == list(range(3, 10))
    assert {q.right_by for q in m.only_one_right} == {"b"}
    assert m.only_right_by == {"a": 0, "b": 7}
    assert m.only_one_right_expected == pytest.approx(20 * (0.5 * 0.15 + 0.85 * 0.5))


def test_letter_bias_chi_square_by_hand():
    answers = list("AAAABBCCDD")
    predicted = list("AAAAAAABCD")  # A x7, B, C, D x1
    run = make_run(
        "m", {"anatomy": [p != a for p, a in zip(predicted, answers, strict=True)]}, {"anatomy": answers},
        {"anatomy": predicted},
    )  # fmt: skip
    other = make_run("n", {"anatomy": [False] * 10}, {"anatomy": answers})
    bias = analyse([run, other], permutations=100).letters
    assert bias[0].predicted == {"A": 7, "B": 1, "C": 1, "D": 1}
    assert bias[0].truth == {"A": 4, "B": 2, "C": 2, "D": 2}
    # (7-4)^2/4 + 3 * (1-2)^2/2 = 2.25 + 1.5 = 3.75 on 3 df -> p = 0.28976 (chi-square table)
    assert bias[0].chi2 == pytest.approx(3.75)
    assert bias[0].df == 3
    assert bias[0].p_value == pytest.approx(0.289756, abs=1e-6)
    assert bias[0].favourite == "A"
    assert bias[1].chi2 == 0.0 and bias[1].p_value == 1.0  # always right: letters exactly as the truth


# ---- loading and alignment ------------------------------------------------------------------------------


def test_refuses_fewer_than_two_runs_and_no_common_questions():
    one = make_run("a", {"astronomy": [True, False]})
    with pytest.raises(UserInputError, match="at least 2 runs") as e:
        analyse([one])
    assert "\n" not in str(e.value)
    other = make_run("b", {"anatomy": [True, False]})
    with pytest.raises(UserInputError, match="share no questions.*same --subjects") as e:
        analyse([one, other])
    assert "\n" not in str(e.value)


def test_questions_that_differ_between_runs_are_left_out_with_a_notice():
    a = make_run("a", {"astronomy": [True, False, False]})
    b = make_run("b", {"astronomy": [False, False, True, True]})  # one more question
    b.records[("astronomy", 1)] = b.records[("astronomy", 1)].model_copy(update={"question": "another question"})
    aligned = align([a, b])
    assert aligned.keys == (("astronomy", 0), ("astronomy", 2))
    assert any("differ in text" in n for n in aligned.notices)
    assert any("all runs answered" in n for n in aligned.notices)


def test_labels_name_what_differs():
    runs = [
        make_run("smollm2", {"s": [True]}, path="/r/1", dtype="float32"),
        make_run("smollm2", {"s": [True]}, path="/r/2", dtype="bfloat16"),
        make_run("gemma", {"s": [True]}, path="/r/3"),
    ]
    align(runs)
    assert [r.label for r in runs] == ["smollm2 float32", "smollm2 bfloat16", "gemma"]


def test_labels_name_prompt_differences_and_fall_back_to_every_folder_name():
    runs = [
        make_run("smollm2", {"s": [True]}, path="/r/plain"),
        make_run("smollm2", {"s": [True]}, path="/r/chat", chat_template=True),
        make_run("smollm2", {"s": [True]}, path="/r/five", shots=5),
    ]
    assign_labels(runs)
    assert [r.label for r in runs] == [
        "smollm2 0-shot plain-prompt",
        "smollm2 0-shot chat-template",
        "smollm2 5-shot plain-prompt",
    ]
    twins = [make_run("m", {"s": [True]}, path="/r/a"), make_run("m", {"s": [True]}, path="/r/b")]
    assign_labels(twins)
    assert [r.label for r in twins] == ["m [a]", "m [b]"]  # both named, not only the first


def _write_folder(path: Path, run: Run) -> Path:
    store = RunStore(path)
    store.open(run.results.identity)
    store.write_results(run.results)
    store.append(list(run.records.values()))
    return path


def test_load_runs_errors_and_reads_without_repairing(tmp_path):
    a = _write_folder(tmp_path / "a", make_run("a", {"astronomy": [True, False]}))
    with pytest.raises(UserInputError, match="does not exist"):
        load_runs([a, tmp_path / "missing"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserInputError, match="no results.json"):
        load_runs([a, tmp_path / "empty"])
    with pytest.raises(UserInputError, match="given twice"):
        load_runs([a, a])
    torn = a / "questions.jsonl"
    torn.write_bytes(torn.read_bytes() + b'{"task": "mmlu", "subset": "astro')
    before = torn.read_bytes()
    (run,) = load_runs([a])
    assert len(run.records) == 2
    assert torn.read_bytes() == before  # a report never changes a run folder
    assert not (a / "questions.jsonl.torn").exists()
    blank = _write_folder(tmp_path / "blank", make_run("b", {}))
    with pytest.raises(UserInputError, match="no answered questions"):
        load_runs([blank])


# ---- configuration comparison ---------------------------------------------------------------------------


def _timed(run: Run, wall: float, peak: int, gpu: float | None = None) -> Run:
    timing = Timing(wall_s=wall, cpu_s=2 * wall, gpu_s=gpu, questions=4, prompt_tokens=400, peak_rss_bytes=peak)
    run.results.subsets = {"astronomy": SubsetResult(timing=timing)}
    run.results.timing = timing.model_copy(update={"load_s": 1.0})
    run.results.model = ModelInfo(memory_bytes=peak // 4)
    return run


def test_configuration_table_ratios_to_the_float32_cpu_baseline():
    runs = [
        _timed(make_run("m", {"astronomy": [True, True, False, False]}, path="/r/bf16", dtype="bfloat16"), 2.0, 800),
        _timed(make_run("m", {"astronomy": [True, False, False, False]}, path="/r/f32"), 4.0, 1000),
        _timed(make_run("m", {"astronomy": [True, True, True, False]}, path="/r/4bit", quant="4bit"), 8.0, 500),
    ]
    table = compare_configs(runs)
    assert (table.baseline, table.baseline_reason) == ("m float32", "the float32 CPU run")
    assert [r.label for r in table.rows] == ["m bfloat16", "m float32", "m float32 4bit"]
    assert table.same_model
    bf16, f32, q4 = table.rows
    assert f32.ratios["wall_s"] == 1.0
    assert bf16.ratios["wall_s"] == pytest.approx(0.5)  # 2 s / 4 s
    assert bf16.ratios["questions_per_s"] == pytest.approx(2.0)  # 4 q / 2 s vs 4 q / 4 s
    assert q4.ratios["peak_rss_bytes"] == pytest.approx(0.5)
    assert q4.ratios["gpu_s"] is None  # not measured on CPU
    assert (bf16.accuracy, f32.accuracy, q4.accuracy) == (0.5, 0.75, 0.25)
    assert q4.accuracy_delta == pytest.approx(-0.5)
    assert q4.ratios["accuracy"] == pytest.approx(0.25 / 0.75)
    assert compare_configs(runs, baseline="/r/4bit").baseline_row.path == "/r/4bit"
    with pytest.raises(UserInputError, match="not one of the runs"):
        compare_configs(runs, baseline="/r/elsewhere")
    first = compare_configs(runs[:1] + runs[2:])
    assert first.baseline_reason == "the first run given"
