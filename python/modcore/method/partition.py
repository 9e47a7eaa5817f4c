"""Agreement of two partitions of the same items: normalized mutual information and the
adjusted Rand index, as scikit-learn defines them (the one copy, used by stability and by
the comparison of functional with weight modules)."""

from __future__ import annotations

import numpy as np

__all__ = ["adjusted_rand_score", "normalized_mutual_info_score"]


def normalized_mutual_info_score(labels_a, labels_b) -> float:
    """Normalized mutual information of two partitions of the same items.

    ``MI(a, b) / ((H(a) + H(b)) / 2)`` with natural logarithms (scikit-learn's
    default, arithmetic normalization); 1.0 when both put everything in one
    module, 0.0 when the mutual information is 0.

    Parameters
    ----------
    labels_a, labels_b : 1-D int arrays of equal length
        Module ids (any integers).

    Returns
    -------
    float
        In [0, 1]; 1 for identical partitions up to renaming.

    Raises
    ------
    ValueError, TypeError
        Arrays that are not 1-D integers of one length.

    Examples
    --------
    >>> from modcore.method.partition import normalized_mutual_info_score
    >>> normalized_mutual_info_score([0, 0, 1, 1], [5, 5, 2, 2])
    1.0
    """
    a, b = _check_pair(labels_a, labels_b)
    counts, na, nb = _contingency(a, b)
    if na.size == nb.size and na.size <= 1:
        return 1.0
    # MI = H(a) + H(b) - H(a, b): identical partitions give exactly 1.
    h_a, h_b = _entropy(na), _entropy(nb)
    mi = h_a + h_b - _entropy(counts.ravel())
    if mi <= 0 or na.size == 1 or nb.size == 1:
        return 0.0
    return float(min(mi / ((h_a + h_b) / 2), 1.0))


def adjusted_rand_score(labels_a, labels_b) -> float:
    """Adjusted Rand index of two partitions (Hubert and Arabie, 1985).

    ``(index - expected) / (max - expected)`` over pairs of items, with
    ``index = sum C(n_ij, 2)``, ``expected = sum C(a_i, 2) sum C(b_j, 2) / C(n, 2)``
    and ``max = (sum C(a_i, 2) + sum C(b_j, 2)) / 2``; 1.0 for identical
    partitions (also when both are all singletons or one module), about 0 for
    independent ones, negative below chance.

    Parameters
    ----------
    labels_a, labels_b : 1-D int arrays of equal length

    Returns
    -------
    float

    Raises
    ------
    ValueError, TypeError
        Arrays that are not 1-D integers of one length.

    Examples
    --------
    >>> from modcore.method.partition import adjusted_rand_score
    >>> adjusted_rand_score([0, 0, 1, 1], [1, 1, 0, 0])
    1.0
    """
    a, b = _check_pair(labels_a, labels_b)
    counts, na, nb = _contingency(a, b)
    pairs = lambda c: int(np.sum(c.astype(np.int64) * (c.astype(np.int64) - 1) // 2))  # noqa: E731
    index, sum_a, sum_b = pairs(counts[counts > 0]), pairs(na), pairs(nb)
    total = a.size * (a.size - 1) // 2
    # In exact integers: expected = sum_a * sum_b / total, max = (sum_a + sum_b) / 2.
    numerator = 2 * (index * total - sum_a * sum_b)
    denominator = (sum_a + sum_b) * total - 2 * sum_a * sum_b
    if denominator == 0:
        return 1.0
    return numerator / denominator


def _check_pair(a, b) -> tuple:
    a, b = np.asarray(a), np.asarray(b)
    for name, x in (("labels_a", a), ("labels_b", b)):
        if x.ndim != 1:
            raise ValueError(f"{name} must be 1-D, got shape {x.shape}")
        if x.size and x.dtype.kind not in "iu":
            raise TypeError(f"{name} must be integers, got dtype {x.dtype}")
    if a.size != b.size:
        raise ValueError(f"labels_a and labels_b differ in length ({a.size} and {b.size})")
    return a, b


def _contingency(a, b) -> tuple:
    _, ia = np.unique(a, return_inverse=True)
    _, ib = np.unique(b, return_inverse=True)
    ka, kb = int(ia.max(initial=-1)) + 1, int(ib.max(initial=-1)) + 1
    counts = np.bincount(ia * kb + ib, minlength=ka * kb).reshape(ka, kb)
    return counts, counts.sum(axis=1), counts.sum(axis=0)


def _entropy(counts: np.ndarray) -> float:
    # Sorted, so that equal multisets of counts give bit-equal entropies.
    p = np.sort(counts[counts > 0]) / counts.sum()
    return float(-np.sum(p * np.log(p)))
