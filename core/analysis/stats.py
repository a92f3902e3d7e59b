"""Small exact statistics in plain Python and numpy (no scipy): intervals, tail probabilities, agreement.

Every function here is checked against hand-computed values in tests/test_analysis.py.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

Z95 = 1.959963984540054  # the two-sided 95% normal quantile
MCNEMAR_EXACT_BELOW = 25  # discordant pairs; below this McNemar uses the exact binomial test


def wilson(correct: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a proportion (95% by default); (0, 1) when n is 0.

    Chosen over the normal (Wald) interval because it stays inside [0, 1] and keeps its coverage near 0%
    and 100% and for small n, which is where small models on small subjects live.
    """
    if n <= 0:
        return 0.0, 1.0
    p = correct / n
    z2 = z * z
    denom = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def chi2_sf(x: float, df: int) -> float:
    """P(X >= x) for a chi-square variable with an integer number of degrees of freedom (closed forms)."""
    if df < 1:
        raise ValueError(f"degrees of freedom must be >= 1, got {df}")
    if x <= 0 or math.isnan(x):
        return 1.0
    if math.isinf(x):
        return 0.0
    half = x / 2
    if df % 2 == 0:  # e^(-x/2) * sum_{k < df/2} (x/2)^k / k!
        log_term, total = -half, 0.0
        for k in range(df // 2):
            if k:
                log_term += math.log(half) - math.log(k)
            total += math.exp(log_term)
        return min(1.0, total)
    # odd: erfc(sqrt(x/2)) + sqrt(2/pi) e^(-x/2) sum_{k=1..(df-1)/2} x^(k-1/2) / (1*3*...*(2k-1))
    total = math.erfc(math.sqrt(half))
    log_term = -half + 0.5 * math.log(2 / math.pi) + 0.5 * math.log(x)
    for k in range(1, (df - 1) // 2 + 1):
        if k > 1:
            log_term += math.log(x) - math.log(2 * k - 1)
        total += math.exp(log_term)
    return min(1.0, total)


def binomial_two_sided_half(k: int, n: int) -> float:
    """Exact two-sided p-value of k successes in n trials with p = 1/2 (the symmetric case)."""
    if n == 0:
        return 1.0
    low = min(k, n - k)
    tail = sum(math.comb(n, i) for i in range(low + 1))
    return min(1.0, 2 * tail / 2**n)


@dataclass(frozen=True)
class McNemar:
    """McNemar's test of two runs' accuracy on the same questions.

    ``a_only`` = questions run A got right and B wrong, ``b_only`` = the reverse; only these discordant
    questions carry information about which run is better. With fewer than 25 discordant questions the
    exact binomial test (discordant split ~ Binomial(n, 1/2)) is used, since the chi-square approximation
    is poor there; from 25 on, the chi-square statistic with Edwards' continuity correction
    (|b - c| - 1)^2 / (b + c) on 1 degree of freedom, which is then close to the exact test.
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
    if n < MCNEMAR_EXACT_BELOW:
        return McNemar(a_only, b_only, "exact binomial", None, binomial_two_sided_half(a_only, n))
    stat = (abs(a_only - b_only) - 1) ** 2 / n
    return McNemar(a_only, b_only, "chi-square (continuity-corrected)", stat, chi2_sf(stat, 1))


def cohen_kappa(both_right: int, a_right_only: int, b_right_only: int, both_wrong: int) -> float | None:
    """Cohen's kappa for two raters with two categories (here: correct / incorrect). None when undefined."""
    n = both_right + a_right_only + b_right_only + both_wrong
    if n == 0:
        return None
    observed = (both_right + both_wrong) / n
    a_right = (both_right + a_right_only) / n
    b_right = (both_right + b_right_only) / n
    expected = a_right * b_right + (1 - a_right) * (1 - b_right)
    if expected >= 1:
        return None  # both runs constant (all right or all wrong): agreement by chance is certain
    return (observed - expected) / (1 - expected)


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
