"""p-values of many tests at once: Benjamini and Hochberg's false discovery rate for
tests of several networks, and the min-p permutation correction for one network tested
at several k against the same shuffled networks."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from ..network.checks import real_array

__all__ = ["benjamini_hochberg", "min_p_corrected"]


def benjamini_hochberg(p_values: npt.ArrayLike) -> np.ndarray:
    """p-values adjusted for the false discovery rate (Benjamini and Hochberg, 1995).

    With the m p-values sorted, ``p_(1) <= ... <= p_(m)``, the adjusted value of
    ``p_(i)`` is ``min_{j >= i} m p_(j) / j`` (at most ``p_(m) <= 1``). Rejecting every test whose
    adjusted p-value is <= q keeps the expected share of false rejections among
    the rejections at most q when the tests are independent (or positively
    dependent, as nulls of networks tested with the same settings may be).

    Parameters
    ----------
    p_values : array-like of shape (m,)
        p-values in [0, 1]; may be empty.

    Returns
    -------
    numpy.ndarray of shape (m,)
        The adjusted p-values, in the order of ``p_values`` (float64). Each is
        at least its p-value, and their order follows the p-values' order.

    Raises
    ------
    TypeError
        If the values are not real numbers.
    ValueError
        If ``p_values`` is not 1-D, or a value is NaN or outside [0, 1].

    Examples
    --------
    >>> from modcore.method.multiple_testing import benjamini_hochberg
    >>> benjamini_hochberg([0.01, 0.04, 0.03, 0.5]).round(4).tolist()
    [0.04, 0.0533, 0.0533, 0.5]
    """
    p = real_array(p_values, "p_values").astype(np.float64, copy=False)
    if p.ndim != 1:
        raise ValueError(f"p_values must be 1-D, got shape {p.shape}")
    if np.isnan(p).any() or (p < 0).any() or (p > 1).any():
        bad = p[np.isnan(p) | (p < 0) | (p > 1)][0]
        raise ValueError(f"p_values must be in [0, 1], got {bad}")
    m = p.size
    order = np.argsort(p, kind="stable")
    scaled = p[order] * m / np.arange(1, m + 1)
    # The running minimum from the largest p-value down makes the adjustment monotone.
    adjusted = np.minimum.accumulate(scaled[::-1])[::-1]
    out = np.empty(m)
    out[order] = adjusted
    return out


def min_p_corrected(observed: npt.ArrayLike, null: npt.ArrayLike) -> float:
    """The p-value of the best of several Monte Carlo tests that share their null draws.

    Test j compares ``observed[j]`` with column j of ``null`` (lower = more
    extreme), and row s of ``null`` is one null draw scored by every test (for
    :func:`modcore.ncut_curve`: shuffled network s clustered at every k). The
    statistic is the smallest of the tests' Monte Carlo p-values, and its
    distribution under the null is read off the draws themselves (Westfall and
    Young's min-p): the observation and the draws are ``m = n + 1`` rows that
    the null makes exchangeable; each row's p-value in test j is its rank
    ``#{rows <= it in column j} / m``, its statistic the smallest of those over
    j, and the corrected p-value the share of rows whose statistic is at most
    the observation's. It is valid (P(p <= a) <= a under the null) whatever
    the dependence between the tests, never below the smallest uncorrected
    p-value, and at most the number of tests times it (Bonferroni's bound).
    Ties count against the observation.

    Parameters
    ----------
    observed : array-like of shape (n_tests,)
        The observed statistic of each test.
    null : array-like of shape (n_draws, n_tests)
        The statistic of each null draw in each test.

    Returns
    -------
    float
        In ``[1 / (n_draws + 1), 1]``.

    Raises
    ------
    ValueError
        If the shapes do not match, there are no tests or no draws, or a value is NaN.

    Examples
    --------
    >>> import numpy as np
    >>> from modcore.method.multiple_testing import min_p_corrected
    >>> null = np.array([[1.0, 5.0], [2.0, 0.5], [3.0, 6.0]])
    >>> min_p_corrected([0.0, 4.0], null)  # ranks 1 and 2 of 4: min 1; draw 1 also has 1
    0.5
    """
    obs = real_array(observed, "observed").astype(np.float64, copy=False)
    draws = real_array(null, "null").astype(np.float64, copy=False)
    if obs.ndim != 1 or obs.size == 0:
        raise ValueError(f"observed must be 1-D with at least one test, got shape {obs.shape}")
    if draws.ndim != 2 or draws.shape[1] != obs.size or draws.shape[0] == 0:
        raise ValueError(
            f"null must have shape (n_draws >= 1, {obs.size}) to match observed, got {draws.shape}"
        )
    rows = np.vstack([obs, draws])
    if np.isnan(rows).any():
        raise ValueError("observed and null must not hold NaN")
    ordered = np.sort(rows, axis=0)
    # Rank of each row in each column, ties counted up (the number of rows <= it).
    ranks = np.column_stack(
        [np.searchsorted(ordered[:, j], rows[:, j], side="right") for j in range(obs.size)]
    )
    smallest = ranks.min(axis=1)
    return float(np.count_nonzero(smallest <= smallest[0]) / len(rows))
