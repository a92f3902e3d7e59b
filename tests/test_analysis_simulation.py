"""The overlap test on simulated runs: independent errors are not flagged, a shared hard subset is.

Deterministic (fixed seeds for both the simulation and the permutations), so these never flake; the
thresholds leave room: with independent errors about 1 seed in 20 is expected below 0.05.
"""

from __future__ import annotations

import random
from pathlib import Path

from core.analysis import Run, align, analyse, overlap_test
from core.schema import DocRecord, RunIdentity, RunResults

SUBJECTS = {"astronomy": 120, "anatomy": 80, "virology": 100}
# Per-run, per-subject error rates that differ a lot between subjects: subject difficulty alone makes runs
# err together when pooled; the test must not call that systematic (it conditions on per-subject rates).
RATES = [
    {"astronomy": 0.70, "anatomy": 0.30, "virology": 0.50},
    {"astronomy": 0.60, "anatomy": 0.20, "virology": 0.75},
    {"astronomy": 0.80, "anatomy": 0.45, "virology": 0.35},
]


def _run(name: str, wrong: dict[tuple[str, int], bool], answers: dict, predicted: dict | None = None) -> Run:
    records = {}
    for key, w in wrong.items():
        answer = answers[key]
        pred = predicted[key] if predicted else ("B" if answer == "A" else "A") if w else answer
        records[key] = DocRecord(
            task="mmlu", subset=key[0], doc_id=key[1], question=f"q{key}", choices=list("wxyz"),
            gold="ABCD".index(answer), answer=answer, pick=pred, metrics={"acc": float(pred == answer)},
            correct=pred == answer,
        )  # fmt: skip
    identity = RunIdentity(model=name, device="cpu", dtype="float32")
    return Run(Path(name), RunResults(identity=identity), records)


def _answers(rng: random.Random) -> dict[tuple[str, int], str]:
    return {(s, i): rng.choice("ABCD") for s, n in SUBJECTS.items() for i in range(n)}


def independent_runs(seed: int) -> list[Run]:
    rng = random.Random(seed)
    answers = _answers(rng)
    return [_run(f"m{r}", {k: rng.random() < rates[k[0]] for k in answers}, answers) for r, rates in enumerate(RATES)]


def hard_subset_runs(seed: int, hard_share: float = 0.25) -> list[Run]:
    """Each run is wrong on a shared hard quarter with probability 0.9, elsewhere at 0.35."""
    rng = random.Random(seed)
    answers = _answers(rng)
    hard = {k for k in answers if rng.random() < hard_share}
    return [_run(f"m{r}", {k: rng.random() < (0.9 if k in hard else 0.35) for k in answers}, answers) for r in range(3)]


def test_independent_errors_are_not_flagged_as_systematic():
    p_values = [overlap_test(align(independent_runs(seed)), permutations=1000, seed=seed).p_value for seed in range(20)]
    assert sum(p > 0.05 for p in p_values) >= 16, p_values
    # and never strongly
    assert min(p_values) > 0.001, p_values


def test_a_shared_hard_subset_is_flagged():
    for seed in range(3):
        test = overlap_test(align(hard_subset_runs(seed)), permutations=5000, seed=seed)
        assert test.p_value < 0.001, (seed, test.p_value)
        assert test.verdict == "shared" and test.systematic
        assert test.shared_wrong > 1.2 * test.shared_wrong_expected
        # the pile-up shows at the ends of the distribution: more "all wrong" and "none wrong" than expected
        assert test.observed[3] > test.expected[3] and test.observed[0] > test.expected[0]
        assert test.chi2_permutation_p is not None and test.chi2_permutation_p < 0.001


def test_opposite_letter_biases_are_explained_by_the_letter_strata():
    """Run 0 nearly always answers A, run 1 nearly always D: each is right only on "its" letter, so they
    rarely share mistakes (per-subject test: "avoided"), but within a right letter nothing is left."""
    rng = random.Random(7)
    answers = _answers(rng)
    runs = []
    for r, favourite in enumerate("AD"):
        predicted = {k: favourite if rng.random() < 0.9 else rng.choice("ABCD") for k in answers}
        runs.append(_run(f"biased{r}", {k: predicted[k] != answers[k] for k in answers}, answers, predicted))
    analysis = analyse(runs, permutations=2000, seed=3)
    assert analysis.overlap.verdict == "avoided" and analysis.overlap.p_value < 0.001
    assert analysis.overlap_by_letter.p_value > 0.05
    assert analysis.pairs[0].kappa < 0
    assert [b.favourite for b in analysis.letters] == ["A", "D"]
    assert all(b.p_value < 1e-10 for b in analysis.letters)
