"""Networks made in code: random pruned MLPs and MLPs with planted modules.

Used by the tests and benchmarks, and handy for checking what the method sees
in networks whose structure is known.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "REFERENCE_WIDTHS",
    "planted_modular_mlp",
    "planted_modules_mlp",
    "prune_by_magnitude",
    "random_pruned_mlp",
]

REFERENCE_WIDTHS = (784, 256, 256, 256, 256, 10)


def prune_by_magnitude(w: np.ndarray, sparsity: float) -> np.ndarray:
    """Zero the ``round(sparsity * w.size)`` entries of smallest magnitude."""
    if not 0.0 <= sparsity < 1.0:
        raise ValueError(f"sparsity must be in [0, 1), got {sparsity}")
    n_zero = round(sparsity * w.size)
    out = w.copy()
    if n_zero:
        idx = np.argpartition(np.abs(w), n_zero - 1, axis=None)[:n_zero]
        out.flat[idx] = 0.0
    return out


def random_pruned_mlp(widths=REFERENCE_WIDTHS, sparsity=0.9, seed=0) -> list[np.ndarray]:
    """He-initialised Gaussian weights, each matrix pruned to ``sparsity`` by magnitude.

    With the defaults this is the reference network of the benchmarks: the
    paper's 784-256-256-256-256-10 MLP at 90% sparsity.
    """
    rng = np.random.default_rng(seed)
    return [
        prune_by_magnitude(rng.normal(0.0, np.sqrt(2.0 / a), size=(a, b)), sparsity)
        for a, b in zip(widths[:-1], widths[1:])
    ]


def planted_modular_mlp(widths, n_modules, noise=0.01, seed=0):
    """An MLP whose neurons of each layer are split into ``n_modules`` groups.

    Weights within a group are ~|N(0, 1)|, across groups ``noise`` times that. Group
    ``g`` of a layer of width n holds neurons ``i`` with ``i * n_modules // n == g``.

    Returns
    -------
    weights : list of arrays
    groups : list of int arrays, the planted module of every neuron per layer
    """
    rng = np.random.default_rng(seed)
    groups = [np.arange(n) * n_modules // n for n in widths]
    weights = []
    for l in range(len(widths) - 1):
        same = groups[l][:, None] == groups[l + 1][None, :]
        w = np.abs(rng.normal(size=(widths[l], widths[l + 1])))
        weights.append(np.where(same, w, noise * w))
    return weights, groups


def planted_modules_mlp(module_sizes, n_layers=3, noise=0.01, seed=0):
    """An MLP of ``n_layers`` layers whose every layer holds modules of the given sizes.

    As :func:`planted_modular_mlp`, with modules of any sizes: unit ``i`` of each layer
    is in module ``g`` for ``sum(module_sizes[:g]) <= i < sum(module_sizes[:g + 1])``.

    Returns
    -------
    weights : list of arrays
    groups : list of int arrays, the planted module of every neuron per layer
    """
    rng = np.random.default_rng(seed)
    group = np.repeat(np.arange(len(module_sizes)), module_sizes)
    same = group[:, None] == group[None, :]
    weights = []
    for _ in range(n_layers - 1):
        w = np.abs(rng.normal(size=same.shape))
        weights.append(np.where(same, w, noise * w))
    return weights, [group.copy() for _ in range(n_layers)]
