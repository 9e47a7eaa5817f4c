"""Network-level lesion tests: do the sub-modules, taken together, matter more than
random sets of units, and do they serve some classes more than others?

The definitions are those of Filan et al.'s code (clusterability_in_neural_networks,
``src/lesion/experimentation.py``, ``do_lesion_hypo_tests``, with ``compute_pvalue``,
``chi2_categorical_test`` and ``combine_ps`` of ``src/utils.py``), read and
re-derived here. For each sub-module ``s`` (every non-empty one, whatever its
size or importance) with per-class accuracies ``a_s[c]`` when lesioned, the
intact network's ``b[c]``, and ``R`` random same-size lesions of its layer
``r_sk[c]`` (the same ``R`` for every sub-module):

Mean
    ``m_s = mean_c a_s[c]``, the class-averaged accuracy (equal to the overall
    accuracy only on a balanced test set), and ``m_sk`` likewise. Its
    percentile ``P_s = (1 + #{k : m_sk < m_s}) / (R + 1)``: small when the
    sub-module's lesion is worse than the random ones (a tie counts for the
    sub-module).
Spread (the authors' "range"; is the damage concentrated on some classes?)
    The change per class ``d_s[c] = a_s[c] - b[c]``, normalized by its mean,
    ``d_s / mean_c d_s``, and its range ``S_s = max_c - min_c`` of that. Its
    percentile ``Q_s = (1 + #{k : S_sk > S_s}) / (R + 1)``: small when the
    sub-module's damage is more uneven across classes than random lesions'.
    The normalization is undefined when the mean change is 0: the spread is
    then 0 if no class changed, and +inf if some did (changes that cancel),
    which the authors' code left as NaN and counted as rarer than any random
    lesion. A mean within rounding of 0 (at most ``1e-12`` times the largest
    change: class accuracies like 0.001 are not exact in binary, so changes
    that cancel leave a residue near 1e-17) counts as 0; the authors' code
    divided by such residues, whence their effect factors of 1e11 and inf.
Combined over the sub-modules
    - chi-square: each percentile is one of ``R + 1`` values, ``(rank + 1) /
      (R + 1)`` with rank 0..R, all equally likely under the null that a
      sub-module is no different from a random set of its size; Pearson's
      chi-square test of the counts of each rank against equal counts (``R``
      degrees of freedom; with few sub-modules per rank the chi-square
      approximation is poor, as it was in the paper).
    - Fisher's method on the percentiles shifted by half a grid step,
      ``P - 1 / (2 (R + 1))``, so that they are centred like uniform p-values:
      ``-2 sum log p`` against chi-square with ``2 n`` degrees of freedom.
Effect factors
    ``mean_s (mean_k m_sk) / m_s``: above 1 when the sub-modules' lesions cost
    more than random ones (ratio of accuracies); and ``mean_s (mean_k S_sk) /
    S_s``: below 1 when their damage is more class-specific. NaN terms (0 / 0,
    inf / inf) are left out of the means.

Classes without test examples have no accuracy and are left out. scipy computes
the two combined p-values (it comes with the ``torch`` extra).

Ties count for the sub-module in both percentiles, as in the authors' code: a
network whose lesions change nothing at all (every lesion ties with every
random one) gets the smallest percentile ``1 / (R + 1)`` for every sub-module
and "significant" combined p-values. Read the p-values with the effect factors,
which are then exactly 1 (mean) and NaN (spread).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["NetworkTests", "network_tests", "percentile", "spread", "rank_chi2_p", "fisher_p"]


@dataclass(frozen=True, repr=False)
class NetworkTests:
    """The network-level tests of one lesion study (see the module docstring).

    Attributes
    ----------
    n_random : int
        Random lesions per sub-module used here (the first ``R`` of each).
    mean_percentiles, spread_percentiles : float arrays, one per sub-module
        ``P_s`` and ``Q_s``, in the order of :attr:`LesionStudy.single`.
    mean_chi2_p, spread_chi2_p : float
        Chi-square tests of the percentiles' ranks against uniform.
    mean_fisher_p, spread_fisher_p : float
        Fisher's combination of the (half-step shifted) percentiles.
    mean_effect, spread_effect : float
        The effect factors.
    """

    n_random: int
    mean_percentiles: np.ndarray
    spread_percentiles: np.ndarray
    mean_chi2_p: float
    spread_chi2_p: float
    mean_fisher_p: float
    spread_fisher_p: float
    mean_effect: float
    spread_effect: float

    def to_dict(self) -> dict:
        return {
            "n_random": self.n_random,
            "mean_percentiles": self.mean_percentiles.tolist(),
            "spread_percentiles": self.spread_percentiles.tolist(),
            **{
                k: getattr(self, k)
                for k in (
                    "mean_chi2_p",
                    "spread_chi2_p",
                    "mean_fisher_p",
                    "spread_fisher_p",
                    "mean_effect",
                    "spread_effect",
                )
            },
        }

    def __repr__(self) -> str:
        return (
            f"NetworkTests(mean: chi2 p={self.mean_chi2_p:.3g}, Fisher p="
            f"{self.mean_fisher_p:.3g}, effect {self.mean_effect:.3f}; spread: chi2 p="
            f"{self.spread_chi2_p:.3g}, Fisher p={self.spread_fisher_p:.3g}, effect "
            f"{self.spread_effect:.3f}; {len(self.mean_percentiles)} sub-modules, "
            f"R={self.n_random})"
        )


def percentile(value: float, sample, *, side: str = "left") -> float:
    """``(1 + #{sample < value}) / (n + 1)`` (``side="left"``) or with ``>`` (``"right"``).

    Examples
    --------
    >>> percentile(0.5, [0.1, 0.5, 0.9])
    0.5
    >>> percentile(0.5, [0.1, 0.5, 0.9], side="right")
    0.5
    """
    sample = np.asarray(sample, dtype=float)
    beyond = sample < value if side == "left" else sample > value
    return (1 + int(beyond.sum())) / (len(sample) + 1)


def spread(changes: np.ndarray) -> np.ndarray:
    """Range over the last axis of ``changes / mean(changes)``; 0 or +inf when the mean
    is 0 (within ``1e-12`` of the largest change).

    Examples
    --------
    >>> spread(np.array([[-0.25, -0.75], [0.0, 0.0], [0.1, -0.1]])).tolist()
    [1.0, 0.0, inf]
    >>> spread(np.array([0.01, -0.001, -0.009])).item()  # the mean is 5.8e-19 in floats
    inf
    """
    changes = np.asarray(changes, dtype=float)
    mean = changes.mean(axis=-1, keepdims=True)
    largest = np.abs(changes).max(axis=-1, keepdims=True)
    zero = (np.abs(mean) <= 1e-12 * largest)[..., 0]
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.ptp(changes / mean, axis=-1)
    return np.where(zero, np.where(largest[..., 0] > 0, np.inf, 0.0), out)


def rank_chi2_p(percentiles, n_random: int) -> float:
    """Chi-square test of the percentiles' ranks (``R + 1`` equally likely values)
    against equal counts; NaN percentiles are left out."""
    from scipy.stats import chisquare

    p = np.asarray(percentiles, dtype=float)
    p = p[~np.isnan(p)]
    if len(p) == 0:
        return math.nan
    ranks = np.rint(p * (n_random + 1) - 1).astype(np.int64)
    counts = np.bincount(ranks, minlength=n_random + 1)
    return float(chisquare(counts, np.full(len(counts), counts.mean())).pvalue)


def fisher_p(percentiles, n_random: int) -> float:
    """Fisher's method on the percentiles shifted down by half a step ``1 / (2 (R + 1))``;
    NaN percentiles are left out."""
    from scipy.stats import combine_pvalues

    p = np.asarray(percentiles, dtype=float)
    p = p[~np.isnan(p)]
    if len(p) == 0:
        return math.nan
    return float(combine_pvalues(p - 0.5 / (n_random + 1), method="fisher").pvalue)


def network_tests(base: npt.ArrayLike, true: npt.ArrayLike, random: npt.ArrayLike) -> NetworkTests:
    """The network-level tests from per-class accuracies.

    Parameters
    ----------
    base : float array of shape (n_classes,)
        The intact network's accuracy per class.
    true : float array of shape (n_submodules, n_classes)
        Each sub-module's lesion.
    random : float array of shape (n_submodules, R, n_classes)
        Its random same-size lesions.

    Returns
    -------
    NetworkTests

    Examples
    --------
    >>> import numpy as np
    >>> base = np.array([0.9, 0.9])
    >>> true = np.array([[0.1, 0.9], [0.5, 0.5]])
    >>> random = np.tile([0.8, 0.9], (2, 4, 1))  # 4 random lesions of each sub-module
    >>> tests = network_tests(base, true, random)
    >>> tests.mean_percentiles.tolist(), tests.spread_percentiles.tolist()
    ([0.2, 0.2], [0.2, 1.0])
    """
    base = np.asarray(base, dtype=float)
    true = np.asarray(true, dtype=float)
    random = np.asarray(random, dtype=float)
    if (
        true.ndim != 2
        or random.ndim != 3
        or base.shape != true.shape[1:]
        or random.shape[::2] != true.shape
    ):
        raise ValueError(
            f"expected base (C,), true (S, C) and random (S, R, C), got "
            f"{base.shape}, {true.shape} and {random.shape}"
        )
    keep = ~np.isnan(base)
    base, true, random = base[keep], true[:, keep], random[:, :, keep]
    n_random = random.shape[1]
    m_true, m_rand = true.mean(axis=-1), random.mean(axis=-1)
    s_true, s_rand = spread(true - base), spread(random - base)
    p_mean = np.array([percentile(v, r) for v, r in zip(m_true, m_rand)])
    p_spread = np.array([percentile(v, r, side="right") for v, r in zip(s_true, s_rand)])
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_ratio = m_rand.mean(axis=1) / m_true
        spread_ratio = s_rand.mean(axis=1) / s_true
    return NetworkTests(
        n_random=n_random,
        mean_percentiles=p_mean,
        spread_percentiles=p_spread,
        mean_chi2_p=rank_chi2_p(p_mean, n_random),
        spread_chi2_p=rank_chi2_p(p_spread, n_random),
        mean_fisher_p=fisher_p(p_mean, n_random),
        spread_fisher_p=fisher_p(p_spread, n_random),
        mean_effect=_nanmean(mean_ratio),
        spread_effect=_nanmean(spread_ratio),
    )


def _nanmean(values: np.ndarray) -> float:
    values = values[~np.isnan(values)]
    return float(values.mean()) if len(values) else math.nan
