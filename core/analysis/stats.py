"""Statistics for comparing runs. The standard ones come from scipy and statsmodels (Wilson interval, chi-square
tail, exact binomial / McNemar test, Cohen's kappa); what no library offers for this question (the Poisson-binomial
distribution of "how many runs got it wrong", bin pooling for its chi-square) is computed here with numpy.

Every function is checked against hand-computed values in tests/test_analysis.py.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

Z95 = 1.959963984540054  # the two-sided 95% normal quantile
MCNEMAR_EXACT_BELOW = 25  # discordant pairs; below this McNemar uses the exact binomial test


def wilson(correct: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a proportion (95% by default); (0, 1) when n is 0.

    Chosen over the normal (Wald) interval because it stays inside [0, 1] and keeps its coverage near 0%
    and 100% and for small n, which is where small models on small subjects live.
    """
    if n <= 0:
        return 0.0, 1.0
    from statsmodels.stats.proportion import proportion_confint

    lo, hi = proportion_confint(correct, n, alpha=1 - confidence, method="wilson")
    return max(0.0, float(lo)), min(1.0, float(hi))


def chi2_sf(x: float, df: int) -> float:
    """P(X >= x) for a chi-square variable with ``df`` degrees of freedom."""
    if df < 1:
        raise ValueError(f"degrees of freedom must be >= 1, got {df}")
    if x <= 0 or math.isnan(x):
        return 1.0
    from scipy.stats import chi2

    return float(chi2.sf(x, df))


def binomial_two_sided_half(k: int, n: int) -> float:
    """Exact two-sided p-value of k successes in n trials with p = 1/2."""
    if n == 0:
        return 1.0
    from scipy.stats import binomtest

    return float(binomtest(k, n, 0.5, alternative="two-sided").pvalue)


@dataclass(frozen=True)
class McNemar:
    """McNemar's test of two runs' accuracy on the same questions.

    ``a_only`` = questions run A got right and B wrong, ``b_only`` = the reverse; only these discordant
    questions carry information about which run is better. With fewer than 25 discordant questions the
    exact binomial test (discordant split ~ Binomial(n, 1/2)) is used, since the chi-square approximation
    is poor there; from 25 on, the chi-square statistic with Edwards' continuity correction
    (|b - c| - 1)^2 / (b + c) on 1 degree of freedom, which is then close to the exact test
    (statsmodels' ``mcnemar``, exact or corrected).
    """

    a_only: int
    b_only: int
    method: str  # "exact binomial", "chi-square (continuity-corrected)" or "no discordant questions"
    statistic: float | None  # the chi-square value, None for the exact test
    p_value: float  # two-sided

    @property
    def discordant(self) -> int:
        return self.a_only + self.b_only


def mcnemar(a_only: int, b_only: int) -> McNemar:
    n = a_only + b_only
    if n == 0:
        return McNemar(a_only, b_only, "no discordant questions", None, 1.0)
    from statsmodels.stats.contingency_tables import mcnemar as sm_mcnemar

    table = [[0, a_only], [b_only, 0]]  # only the discordant cells matter
    if n < MCNEMAR_EXACT_BELOW:
        return McNemar(a_only, b_only, "exact binomial", None, float(sm_mcnemar(table, exact=True).pvalue))
    result = sm_mcnemar(table, exact=False, correction=True)
    return McNemar(a_only, b_only, "chi-square (continuity-corrected)", float(result.statistic), float(result.pvalue))


def cohen_kappa(both_right: int, a_right_only: int, b_right_only: int, both_wrong: int) -> float | None:
    """Cohen's kappa for two raters with two categories (here: correct / incorrect). None when undefined
    (both runs constant, so agreement by chance is certain)."""
    n = both_right + a_right_only + b_right_only + both_wrong
    if n == 0:
        return None
    a_right = (both_right + a_right_only) / n
    b_right = (both_right + b_right_only) / n
    if a_right * b_right + (1 - a_right) * (1 - b_right) >= 1:
        return None
    from statsmodels.stats.inter_rater import cohens_kappa

    table = np.array([[both_right, a_right_only], [b_right_only, both_wrong]], dtype=float)
    return float(cohens_kappa(table, return_results=False))


def poisson_binomial(probs: Sequence[float]) -> list[float]:
    """P(K = k), k = 0..len(probs), for a sum of independent Bernoulli(p_i) variables (exact recursion)."""
    pmf = np.zeros(len(probs) + 1)
    pmf[0] = 1.0
    for i, p in enumerate(probs):
        pmf[1 : i + 2] = pmf[1 : i + 2] * (1 - p) + pmf[: i + 1] * p
        pmf[0] *= 1 - p
    return pmf.tolist()


def poisson_binomial_sf(k: int, probs: Sequence[float]) -> float:
    """P(K >= k) for the Poisson-binomial sum of independent Bernoulli(p_i)."""
    if k <= 0:
        return 1.0
    return min(1.0, sum(poisson_binomial(probs)[k:]))


def pool_bins(expected: Sequence[float], minimum: float = 5.0) -> list[tuple[int, int]]:
    """Adjacent bins (lo, hi inclusive) merged left to right until each expects >= ``minimum``.

    A remainder that falls short is merged into the last bin (the usual rule of thumb for chi-square).
    """
    bins: list[tuple[int, int]] = []
    start, acc = 0, 0.0
    for k, e in enumerate(expected):
        acc += e
        if acc >= minimum:
            bins.append((start, k))
            start, acc = k + 1, 0.0
    if start < len(expected):
        if bins:
            bins[-1] = (bins[-1][0], len(expected) - 1)
        else:
            bins.append((0, len(expected) - 1))
    return bins


def pooled(values: Sequence[float], bins: Sequence[tuple[int, int]]) -> list[float]:
    return [float(sum(values[lo : hi + 1])) for lo, hi in bins]


def pearson_chi2(observed: Sequence[float], expected: Sequence[float]) -> float:
    """Pearson's statistic sum (O - E)^2 / E; a cell with E = 0 and O > 0 makes it infinite."""
    total = 0.0
    for o, e in zip(observed, expected, strict=True):
        if e > 0:
            total += (o - e) ** 2 / e
        elif o > 0:
            return math.inf
    return total


def mean_ci(values: Sequence[float], confidence: float = 0.95) -> tuple[float, float, float]:
    """Mean and its Student-t confidence interval (95% by default); the interval is the mean itself for n < 2.

    MT-Bench's per-model scores are means of 1-10 ratings over a few dozen questions: the t interval is the
    textbook interval for such a mean (a bootstrap gives nearly the same at these n, at far more cost).
    """
    n = len(values)
    if n == 0:
        raise ValueError("no values")
    arr = np.asarray(values, dtype=float)
    mean = float(arr.mean())
    if n < 2:
        return mean, mean, mean
    from scipy.stats import t

    half = float(t.ppf(0.5 + confidence / 2, n - 1) * arr.std(ddof=1) / math.sqrt(n))
    return mean, mean - half, mean + half
