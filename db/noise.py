"""When is a difference of two cells' means more than the noise of their seeds?

One rule, used by the two-sweep comparison and by the "best of a column" mark: Welch's t-test (two
independent samples of seeds, unequal variances, Welch-Satterthwaite degrees of freedom), its 95%
confidence interval for the difference of the means. A difference is *within the noise* when that
interval contains 0 (equivalently p >= 0.05). Assumptions: the seeds of each cell are independent
draws and their scores roughly normal; with 2-3 seeds per cell the test has little power, so
"within the noise" means "not shown to differ", not "equal". A cell of one seed has no estimate of
its noise: nothing is decided (None).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy.special import stdtr, stdtrit  # Student's t: scipy.special loads in a third of scipy.stats' time

LEVEL = 0.95


@dataclass(frozen=True)
class Difference:
    difference: float  # mean a - mean b
    low: float  # the 95% confidence interval of the difference
    high: float
    p: float  # two-sided p-value of Welch's t-test

    @property
    def within_noise(self) -> bool:
        return self.low <= 0.0 <= self.high


def welch(mean_a: float, std_a: float, n_a: int, mean_b: float, std_b: float, n_b: int) -> Difference | None:
    """The difference of two means (sample stds, ddof 1) with its Welch interval; None when a side has
    fewer than two seeds or a value is missing."""
    values = (mean_a, std_a, mean_b, std_b)
    if n_a is None or n_b is None or n_a < 2 or n_b < 2 or any(v is None or math.isnan(v) for v in values):
        return None
    diff = mean_a - mean_b
    va, vb = std_a ** 2 / n_a, std_b ** 2 / n_b
    se = math.sqrt(va + vb)
    if se == 0.0:  # no spread on either side: the means are the whole story
        return Difference(diff, diff, diff, 1.0 if diff == 0 else 0.0)
    dof = (va + vb) ** 2 / (va ** 2 / (n_a - 1) + vb ** 2 / (n_b - 1))
    half = stdtrit(dof, 0.5 + LEVEL / 2) * se  # the t quantile (stats.t.ppf)
    p = 2 * stdtr(dof, -abs(diff) / se)  # the two-sided tail (2 * stats.t.sf)
    return Difference(diff, diff - half, diff + half, float(p))


def tied_with_best(values: list[float | None], stds: list[float | None] | None = None,
                   ns: list[int | None] | None = None, excluded: list[bool] | None = None) -> list[bool]:
    """Which rows of a column are its best: the highest mean, and the rows whose difference from it is
    within the noise (by `welch`; rows without seeds' stds tie only when equal). None of them when
    every row with a value ties (the column has no best), and never an `excluded` row (e.g. one with
    no valid output)."""
    count = len(values)
    stds, ns, excluded = stds or [None] * count, ns or [None] * count, excluded or [False] * count
    rows = [i for i, v in enumerate(values) if v is not None and not math.isnan(v) and not excluded[i]]
    present = [i for i, v in enumerate(values) if v is not None and not math.isnan(v)]
    if len(present) < 2 or not rows:
        return [False] * count
    top = max(rows, key=lambda i: values[i])

    def ties(i: int) -> bool:
        if values[i] == values[top]:
            return True
        test = welch(values[top], stds[top], ns[top], values[i], stds[i], ns[i])
        return test is not None and test.within_noise

    best = [i in rows and ties(i) for i in range(count)]
    everyone = all(i in rows and best[i] for i in present)
    return [False] * count if everyone else best
