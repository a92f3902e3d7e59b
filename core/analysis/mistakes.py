"""Mistake patterns across runs of one task on their common documents: are errors shared (systematic) or random?

    analysis = analyse(load_runs(paths))        # or analyse(align(runs))
    analysis.overlap.p_value, analysis.pairs[0].kappa, analysis.letters[0].p_value, ...

Everything is computed on the documents all runs answered (see ``load.align``). "Wrong" means the record is not
``correct`` (the task's primary metric read as right/wrong). Strata are the task's subsets (MMLU's subjects;
one subset for most tasks). The letter analyses (letter bias, same wrong letter, the per-right-letter overlap
test) need choice labels: for generative tasks (GSM8K) and questions with several right answers they are left
out, and ``Analysis.letters_note`` says why.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from .load import Aligned, Run, align
from .stats import (
    McNemar,
    chi2_sf,
    cohen_kappa,
    mcnemar,
    pearson_chi2,
    poisson_binomial,
    poisson_binomial_sf,
    pool_bins,
    pooled,
    wilson,
)

DEFAULT_PERMUTATIONS = 5000
ALPHA = 0.05
VERDICTS = {  # OverlapTest.verdict -> what it means, in words
    "shared": "mistakes fall on the same questions more often than independent errors would (systematic)",
    "avoided": "the runs share fewer mistakes than independent errors would (they fail on different questions)",
    "independent": "consistent with independent errors (no evidence of shared mistakes at the 5% level)",
}


@dataclass(frozen=True)
class Accuracy:
    correct: int
    questions: int
    accuracy: float | None
    ci_low: float  # Wilson 95% interval
    ci_high: float


@dataclass(frozen=True)
class RunSummary:
    """One run on the common questions."""

    label: str  # short unique name used in every table and chart
    path: str
    model: str
    device: str
    dtype: str
    quant: str
    overall: Accuracy  # share right on the common questions, with a Wilson 95% interval
    subsets: dict[str, Accuracy]
    reported_accuracy: float | None  # results.json's primary metric (micro) over everything this run answered


@dataclass(frozen=True)
class OverlapTest:
    """How many runs got each question wrong, observed vs expected if runs erred independently.

    The null model: each run errs independently of the others, at its own error rate within each stratum
    (``strata`` = "subset": its wrong count in a subset over that subset's common documents; or
    "subset+answer": within a subset and right letter, which takes letter bias out of the comparison).
    For a question the number of runs wrong is then Poisson-binomial(p_1, ..., p_N) at its stratum's
    rates; ``expected`` sums these over questions.

    The decision (``p_value``) is a permutation test: each run's wrong/right marks are shuffled among the
    questions of each stratum, independently per run, which keeps every run's per-stratum error count
    exactly and destroys only the alignment between runs: it samples the null itself, conditioned on the
    rates, and is valid for any number of questions (no large-sample approximation, unlike the
    chi-square). Its statistic is ``shared_wrong``, the number of (question, pair of runs) with both runs
    wrong; with the rates fixed this is the variance of the count, i.e. exactly "do mistakes pile up on
    the same questions". ``p_more`` tests more sharing than chance (systematic: the same questions are
    hard), ``p_fewer`` less (runs that avoid each other's mistakes, e.g. opposite letter biases);
    ``p_value`` is two-sided: min(1, 2 min(p_more, p_fewer)).

    The chi-square comparison of the whole distribution is reported too: bins pooled until each expects
    >= 5, degrees of freedom = bins - 2 (the total and the mean are fixed by the fitted rates). Its
    asymptotic p-value (``chi2_p``) is approximate for that reason, so ``chi2_permutation_p`` gives the
    same statistic's p-value from the permutation distribution.
    """

    labels: tuple[str, ...]
    strata: str  # "subset" or "subset+answer"
    questions: int
    observed: tuple[int, ...]  # observed[k] = questions that exactly k runs got wrong, k = 0..N
    expected: tuple[float, ...]  # the same, expected under independence
    shared_wrong: int  # sum over pairs of runs of the questions both got wrong
    shared_wrong_expected: float  # its expectation under independence
    p_more: float  # permutation p, one-sided: more shared mistakes than independence gives
    p_fewer: float  # permutation p, one-sided: fewer shared mistakes
    p_value: float  # two-sided permutation p
    permutations: int
    seed: int
    chi2: float | None  # Pearson's statistic over pooled bins (None with a single bin)
    chi2_df: int
    chi2_p: float | None  # asymptotic chi-square p-value (None when df < 1)
    chi2_permutation_p: float | None  # the chi-square statistic's p-value under the permutations
    bins: tuple[tuple[int, int], ...]  # the pooled bins (lo, hi) of k
    by_subset: dict[str, dict[str, list[float]]]  # subset -> {"observed": [...], "expected": [...]}

    @property
    def verdict(self) -> str:
        """ "shared" (mistakes coincide more than chance), "avoided" (less) or "independent" (at 5%)."""
        if self.p_value >= ALPHA:
            return "independent"
        return "shared" if self.shared_wrong > self.shared_wrong_expected else "avoided"

    @property
    def systematic(self) -> bool:
        """True when mistakes fall on the same questions more than independent errors explain (p < 0.05)."""
        return self.verdict == "shared"

    @property
    def p_floor(self) -> float:
        """The smallest two-sided p-value this many permutations can give (2 / (permutations + 1))."""
        return min(1.0, 2 / (self.permutations + 1))

    @property
    def excess_shared(self) -> float | None:
        """Observed / expected shared mistakes (1 = as independent runs would)."""
        return self.shared_wrong / self.shared_wrong_expected if self.shared_wrong_expected else None


@dataclass(frozen=True)
class PairStats:
    """Two runs (a, b) on the common questions."""

    a: str
    b: str
    questions: int
    both_wrong: int
    a_wrong_only: int  # a wrong, b right
    b_wrong_only: int  # b wrong, a right
    both_right: int
    jaccard: float | None  # |wrong_a & wrong_b| / |wrong_a | wrong_b|; None when neither is ever wrong
    agreement: float  # share of questions where both are right or both are wrong
    kappa: float | None  # Cohen's kappa on correct/incorrect (not on the letters)
    letter_agreement: float | None  # share of questions where both chose the same letter (None: no letters)
    same_wrong_letter: int | None  # questions both got wrong with the same wrong letter (None: no letters)
    same_wrong_letter_rate: float | None  # same_wrong_letter / both_wrong
    same_wrong_letter_chance: float | None  # the rate expected by chance (see ``pairwise``)
    same_wrong_letter_p: float | None  # one-sided: P(at least this many matches by chance)
    accuracy_a: float
    accuracy_b: float
    mcnemar: McNemar  # a_only = a right and b wrong; b_only = b right and a wrong

    @property
    def difference(self) -> float:
        """accuracy_a - accuracy_b on these questions."""
        return self.accuracy_a - self.accuracy_b


@dataclass(frozen=True)
class QuestionRef:
    subset: str
    doc_id: int
    question: str
    answer: str  # the right answer's label (a letter, or GSM8K's number)
    picks: tuple[str, ...]  # each run's answer, in run order
    right_by: str | None = None  # for "only one run right": that run's label


@dataclass(frozen=True)
class SubsetMistakes:
    """Per subset: the questions every run got wrong, and those only one run got right."""

    subset: str
    questions: int
    all_wrong: tuple[QuestionRef, ...]
    all_wrong_expected: float  # under independence at the per-subset rates
    only_one_right: tuple[QuestionRef, ...]
    only_one_right_expected: float
    only_right_by: dict[str, int]  # run label -> how many of only_one_right it was


@dataclass(frozen=True)
class LetterBias:
    """A run's predicted letters against the right letters of the same questions.

    The chi-square goodness of fit compares the predicted counts with what a run choosing letters in the
    truth's proportions would give (n x truth share); letters the truth never uses are left out of the
    degrees of freedom (and a prediction of such a letter makes the statistic infinite).
    """

    label: str
    questions: int
    predicted: dict[str, int]  # letter -> how often the run chose it
    truth: dict[str, int]  # letter -> how often it is the right answer
    chi2: float
    df: int
    p_value: float | None
    favourite: str  # the most predicted letter

    def share(self, letter: str, of: str = "predicted") -> float:
        counts = self.predicted if of == "predicted" else self.truth
        return counts.get(letter, 0) / self.questions if self.questions else 0.0


@dataclass(frozen=True)
class Analysis:
    task: str  # the task's name ("mmlu", "gsm8k"...)
    task_title: str  # "MMLU", "GSM8K (chain of thought)"
    metric: str  # the task's primary metric, which decides right/wrong
    kind: str  # "letter_choice", "choice_loglik" or "generate_until"
    subset_label: str  # what the task calls a subset ("subject" for MMLU)
    runs: tuple[RunSummary, ...]
    subsets: tuple[str, ...]
    questions: int  # common documents
    chance: float | None  # the score of uniform random picks on these documents (None: generative)
    overlap: OverlapTest  # null: independent errors at per-subset rates (the headline test)
    overlap_by_letter: OverlapTest | None  # null: per-subset-and-right-letter rates; None without letters
    pairs: tuple[PairStats, ...]  # every unordered pair, in run order (0,1), (0,2), ..., (1,2), ...
    mistakes: tuple[SubsetMistakes, ...]
    letters: tuple[LetterBias, ...]  # empty when letters_note is set
    letters_note: str | None  # why the letter analyses do not apply ("not applicable: ..."), else None
    notices: tuple[str, ...]

    @property
    def letters_applicable(self) -> bool:
        return self.letters_note is None

    @property
    def labels(self) -> list[str]:
        return [r.label for r in self.runs]

    def pair(self, a: str, b: str) -> PairStats:
        for p in self.pairs:
            if (p.a, p.b) in ((a, b), (b, a)):
                return p
        raise KeyError((a, b))

    def matrix(self, name: str) -> list[list[float | None]]:
        """A symmetric run x run matrix of a PairStats field (jaccard, agreement, kappa, letter_agreement,
        same_wrong_letter_rate...), with 1.0 on the diagonal (a run against itself)."""
        labels = self.labels
        out: list[list[float | None]] = [[None] * len(labels) for _ in labels]
        for i in range(len(labels)):
            out[i][i] = 1.0
        for p in self.pairs:
            i, j = labels.index(p.a), labels.index(p.b)
            value = getattr(p, name)
            out[i][j] = out[j][i] = value
        return out

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for name in ("overlap", "overlap_by_letter"):
            test: OverlapTest | None = getattr(self, name)
            if test is not None:
                data[name]["verdict"] = test.verdict
        return data


def _accuracy(correct: int, n: int) -> Accuracy:
    lo, hi = wilson(correct, n)
    return Accuracy(correct, n, correct / n if n else None, lo, hi)


def summaries(aligned: Aligned) -> list[RunSummary]:
    out = []
    slices = aligned.subset_slices()
    for r, run in enumerate(aligned.runs):
        right = ~aligned.wrong[r]
        subsets = {s: _accuracy(int(right[idx].sum()), len(idx)) for s, idx in slices.items()}
        out.append(
            RunSummary(
                run.label,
                str(run.path),
                run.model,
                run.device,
                run.dtype,
                run.quant,
                _accuracy(int(right.sum()), right.size),
                subsets,
                run.results.accuracy.micro,
            )
        )
    return out


def _rates(aligned: Aligned) -> dict[str, np.ndarray]:
    """Per subset, each run's error rate on that subset's common documents."""
    return {s: aligned.wrong[:, idx].mean(axis=1) for s, idx in aligned.subset_slices().items()}


STRATA = ("subset", "subset+answer")


def _strata(aligned: Aligned, strata: str) -> dict[str, np.ndarray]:
    if strata == "subset":
        return aligned.subset_slices()
    if strata == "subset+answer":
        answers = np.array(aligned.answers)
        out = {}
        for s, idx in aligned.subset_slices().items():
            for letter in sorted(set(answers[idx].tolist())):
                out[f"{s}/{letter}"] = idx[answers[idx] == letter]
        return out
    raise ValueError(f"strata must be one of {STRATA}, got {strata!r}")


def overlap_test(
    aligned: Aligned, permutations: int = DEFAULT_PERMUTATIONS, seed: int = 0, strata: str = "subset"
) -> OverlapTest:
    """The observed vs independent distribution of "how many runs got this question wrong", and its tests."""
    n_runs = len(aligned.runs)
    groups = _strata(aligned, strata)
    counts = aligned.wrong.sum(axis=0)
    observed = np.bincount(counts, minlength=n_runs + 1)
    expected_q = np.zeros((len(aligned.keys), n_runs + 1))  # per question, P(k runs wrong)
    shared_expected = 0.0
    for idx in groups.values():
        w = aligned.wrong[:, idx].sum(axis=1).astype(float)
        expected_q[idx] = poisson_binomial((w / len(idx)).tolist())
        shared_expected += float((w.sum() ** 2 - (w**2).sum()) / 2 / len(idx))
    expected = expected_q.sum(axis=0)
    by_subset = {
        s: {
            "observed": np.bincount(counts[idx], minlength=n_runs + 1).astype(float).tolist(),
            "expected": expected_q[idx].sum(axis=0).tolist(),
        }
        for s, idx in aligned.subset_slices().items()
    }
    shared = int(((counts.astype(np.int64) ** 2).sum() - counts.sum()) // 2)

    bins = pool_bins(expected.tolist())
    exp_pooled = pooled(expected.tolist(), bins)
    chi2 = pearson_chi2(pooled(observed.tolist(), bins), exp_pooled) if len(bins) >= 2 else None
    df = len(bins) - 2
    chi2_p = chi2_sf(chi2, df) if chi2 is not None and df >= 1 else None

    perm_shared, perm_hist = _permute(aligned, groups, permutations, seed)
    p_more = (1 + int((perm_shared >= shared).sum())) / (permutations + 1)
    p_fewer = (1 + int((perm_shared <= shared).sum())) / (permutations + 1)
    chi2_perm_p = None
    if chi2 is not None:
        hist = np.stack([perm_hist[:, lo : hi + 1].sum(axis=1) for lo, hi in bins], axis=1)
        e = np.array(exp_pooled)  # every pooled bin expects >= 5 when there are two or more
        perm_chi2 = ((hist - e) ** 2 / e).sum(axis=1)
        chi2_perm_p = (1 + int((perm_chi2 >= chi2 - 1e-9).sum())) / (permutations + 1)
    return OverlapTest(
        labels=tuple(aligned.labels),
        strata=strata,
        questions=len(aligned.keys),
        observed=tuple(int(x) for x in observed),
        expected=tuple(float(x) for x in expected),
        shared_wrong=shared,
        shared_wrong_expected=shared_expected,
        p_more=p_more,
        p_fewer=p_fewer,
        p_value=min(1.0, 2 * min(p_more, p_fewer)),
        permutations=permutations,
        seed=seed,
        chi2=chi2,
        chi2_df=max(df, 0),
        chi2_p=chi2_p,
        chi2_permutation_p=chi2_perm_p,
        bins=tuple(bins),
        by_subset=by_subset,
    )


def _permute(
    aligned: Aligned, groups: dict[str, np.ndarray], permutations: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Shared-mistake counts and "k runs wrong" histograms under within-stratum shuffles of each run.

    Run 0 stays in place (shuffling every run gives the same distribution of the statistics).
    """
    if permutations < 1:
        raise ValueError("permutations must be >= 1")
    rng = np.random.default_rng(seed)
    n_runs = len(aligned.runs)
    shared = np.zeros(permutations, dtype=np.int64)
    hist = np.zeros((permutations, n_runs + 1), dtype=np.int64)
    for idx in groups.values():
        block = aligned.wrong[:, idx]
        n = block.shape[1]
        chunk = max(1, min(permutations, 4_000_000 // max(1, n * n_runs)))
        for start in range(0, permutations, chunk):
            m = min(chunk, permutations - start)
            k = np.broadcast_to(block[0].astype(np.int16), (m, n)).copy()
            for r in range(1, n_runs):
                row = np.zeros((m, n), dtype=np.int16)
                row[:, : int(block[r].sum())] = 1
                k += rng.permuted(row, axis=1)
            k64 = k.astype(np.int64)
            shared[start : start + m] += ((k64 * k64).sum(axis=1) - k64.sum(axis=1)) // 2
            for value in range(n_runs + 1):
                hist[start : start + m, value] += (k == value).sum(axis=1)
    return shared, hist


def _wrong_letter_chance(aligned: Aligned) -> list[dict[str, dict[str, float]]]:
    """Per run: P(letter | wrong, right letter = t), estimated from the run's own wrong answers."""
    labels = aligned.choice_labels
    answers = np.array(aligned.answers)
    out = []
    for r in range(len(aligned.runs)):
        table: dict[str, dict[str, float]] = {}
        for t in labels:
            picks = aligned.picks[r][aligned.wrong[r] & (answers == t)]
            total = len(picks)
            table[t] = {x: float((picks == x).sum()) / total for x in labels if x != t} if total else {}
        out.append(table)
    return out


def pairwise(aligned: Aligned) -> list[PairStats]:
    """Every pair of runs.

    Same wrong letter: among questions both runs got wrong, how often they chose the same (wrong) letter.
    Its chance rate for a question whose right letter is t is sum_l P_a(l | wrong, t) P_b(l | wrong, t),
    each run's wrong-letter preferences estimated from its own wrong answers on questions with right letter
    t (so a shared bias towards "A" is not mistaken for shared reasoning); uniform guessing among four choices
    would give 1/3. ``same_wrong_letter_p`` is the exact Poisson-binomial tail of the matches under that chance.
    Without choice labels (generative tasks) the letter fields are None.
    """
    letters = aligned.letters_applicable
    labels = aligned.choice_labels
    chance_tables = _wrong_letter_chance(aligned) if letters else []
    answers = np.array(aligned.answers)
    n = len(aligned.keys)
    out = []
    for a in range(len(aligned.runs)):
        for b in range(a + 1, len(aligned.runs)):
            wa, wb = aligned.wrong[a], aligned.wrong[b]
            both_wrong = int((wa & wb).sum())
            a_only = int((wa & ~wb).sum())
            b_only = int((~wa & wb).sum())
            both_right = n - both_wrong - a_only - b_only
            union = both_wrong + a_only + b_only
            letter_agreement = same = same_rate = same_chance = same_p = None
            if letters:
                pa, pb = aligned.picks[a], aligned.picks[b]
                bw = np.flatnonzero(wa & wb)
                same = int((pa[bw] == pb[bw]).sum())
                ta, tb = chance_tables[a], chance_tables[b]
                probs = [
                    sum(ta.get(answers[q], {}).get(x, 0.0) * tb.get(answers[q], {}).get(x, 0.0) for x in labels)
                    for q in bw
                ]
                letter_agreement = float((pa == pb).mean())
                same_rate = same / both_wrong if both_wrong else None
                same_chance = float(np.mean(probs)) if probs else None
                same_p = poisson_binomial_sf(same, probs) if probs else None
            out.append(
                PairStats(
                    a=aligned.runs[a].label,
                    b=aligned.runs[b].label,
                    questions=n,
                    both_wrong=both_wrong,
                    a_wrong_only=a_only,
                    b_wrong_only=b_only,
                    both_right=both_right,
                    jaccard=both_wrong / union if union else None,
                    agreement=(both_wrong + both_right) / n,
                    kappa=cohen_kappa(both_right, b_only, a_only, both_wrong),
                    letter_agreement=letter_agreement,
                    same_wrong_letter=same,
                    same_wrong_letter_rate=same_rate,
                    same_wrong_letter_chance=same_chance,
                    same_wrong_letter_p=same_p,
                    accuracy_a=1 - float(wa.mean()),
                    accuracy_b=1 - float(wb.mean()),
                    mcnemar=mcnemar(b_only, a_only),
                )
            )
    return out


def hard_questions(aligned: Aligned) -> list[SubsetMistakes]:
    rates = _rates(aligned)
    labels = aligned.labels
    out = []
    for s, idx in aligned.subset_slices().items():
        w = aligned.wrong[:, idx]
        counts = w.sum(axis=0)
        p = rates[s]
        all_wrong_p = float(np.prod(p))
        one_right_p = float(sum((1 - p[r]) * np.prod(np.delete(p, r)) for r in range(len(p))))

        def ref(j: int, right_by: str | None = None, idx: np.ndarray = idx) -> QuestionRef:
            q = int(idx[j])
            subset, doc_id = aligned.keys[q]
            picks = tuple(str(x) for x in aligned.picks[:, q])
            return QuestionRef(subset, doc_id, aligned.questions[q], aligned.answers[q], picks, right_by)

        all_wrong = tuple(ref(int(j)) for j in np.flatnonzero(counts == len(labels)))
        only = []
        by: dict[str, int] = {label: 0 for label in labels}
        for j in np.flatnonzero(counts == len(labels) - 1):
            r = int(np.flatnonzero(~w[:, j])[0])
            by[labels[r]] += 1
            only.append(ref(int(j), labels[r]))
        out.append(
            SubsetMistakes(s, len(idx), all_wrong, all_wrong_p * len(idx), tuple(only), one_right_p * len(idx), by)
        )
    return out


def letter_bias(aligned: Aligned) -> list[LetterBias]:
    """Each run's letters against the right letters; [] when the task has no choice labels."""
    if not aligned.letters_applicable:
        return []
    labels = aligned.choice_labels
    answers = np.array(aligned.answers)
    truth = {x: int((answers == x).sum()) for x in labels}
    n = len(answers)
    out = []
    for r, run in enumerate(aligned.runs):
        pred = {x: int((aligned.picks[r] == x).sum()) for x in labels}
        used = [x for x in labels if truth[x] > 0]
        chi2 = pearson_chi2([pred[x] for x in labels], [truth[x] for x in labels])
        df = len(used) - 1
        p = (0.0 if math.isinf(chi2) else chi2_sf(chi2, df)) if df >= 1 else None
        favourite = max(labels, key=lambda x: (pred[x], -labels.index(x)))
        out.append(LetterBias(run.label, n, pred, truth, chi2, df, p, favourite))
    return out


def analyse(runs: Sequence[Run] | Aligned, permutations: int = DEFAULT_PERMUTATIONS, seed: int = 0) -> Analysis:
    """Everything above, on the documents the runs have in common (UserInputError if fewer than 2 runs, runs
    of different tasks, or none in common)."""
    aligned = runs if isinstance(runs, Aligned) else align(runs)
    task = aligned.task
    by_letter = None
    if aligned.letters_applicable:
        by_letter = overlap_test(aligned, permutations, seed, strata="subset+answer")
    return Analysis(
        task=task.name,
        task_title=task.title,
        metric=task.primary_metric,
        kind=task.kind,
        subset_label=task.subset_label,
        runs=tuple(summaries(aligned)),
        subsets=aligned.subsets,
        questions=len(aligned.keys),
        chance=aligned.chance,
        overlap=overlap_test(aligned, permutations, seed),
        overlap_by_letter=by_letter,
        pairs=tuple(pairwise(aligned)),
        mistakes=tuple(hard_questions(aligned)),
        letters=tuple(letter_bias(aligned)),
        letters_note=aligned.letters_note,
        notices=aligned.notices,
    )
