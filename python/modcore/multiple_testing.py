"""p-values of many tests at once: Benjamini and Hochberg's false discovery rate."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from .io import real_array

__all__ = ["benjamini_hochberg"]


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
    >>> from modcore.multiple_testing import benjamini_hochberg
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
