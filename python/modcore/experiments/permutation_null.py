"""Modules against a per-unit attribution: NMI, adjusted Rand and the NMI's permutation
null, as the transformer experiments score MLP neurons' modules against the task or the
frequency each neuron serves."""

from __future__ import annotations

import numpy as np

from ..method.stability import compare_partitions

__all__ = ["nmi_permutation_test"]


def nmi_permutation_test(labels, truth, rng: np.random.Generator, n_perm: int = 1000) -> tuple:
    """``(nmi, ari, p, null95)`` of ``labels`` against ``truth`` over the same units.

    ``p = (1 + #{null >= nmi}) / (n_perm + 1)``, the null being the NMI of ``labels``
    against ``n_perm`` permutations of ``truth`` drawn from ``rng``; ``null95`` its 95th
    percentile (NaN when ``n_perm`` is 0, where p is 1).
    """
    agree = compare_partitions(labels, truth)
    nmi = agree.normalized_mutual_info
    null = np.array(
        [
            compare_partitions(labels, rng.permutation(truth)).normalized_mutual_info
            for _ in range(n_perm)
        ]
    )
    p = (1 + np.count_nonzero(null >= nmi)) / (n_perm + 1)
    null95 = float(np.quantile(null, 0.95)) if n_perm else float("nan")
    return nmi, agree.adjusted_rand, p, null95
