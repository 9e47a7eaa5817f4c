"""The network as a graph, and the n-cut of a given partition of it."""

from __future__ import annotations

import numpy as np

from . import _core
from .io import check_weights

__all__ = ["ncut"]


def ncut(weights, labels) -> float:
    """Normalized cut of a partition of the network's neurons.

    n-cut = sum over modules A of cut(A, rest) / vol(A), where edges weigh
    ``|W_l[i, j]|``; modules with no volume contribute 0. Lower means more modular.

    Parameters
    ----------
    weights : list of 2-D arrays
        ``weights[l]`` of shape ``(n_l, n_{l+1})``.
    labels : list of 1-D int arrays
        ``labels[l]`` has one module id (>= 0) per neuron of layer ``l``
        (``len(weights) + 1`` arrays). Neurons with no edges may have -1, as in
        :attr:`Clustering.labels`.

    Returns
    -------
    float
        The n-cut, between 0 and the number of distinct labels.

    Raises
    ------
    ValueError
        If the labels do not match the layer sizes, or a connected neuron has a
        negative label.

    Examples
    --------
    >>> import numpy as np, modcore
    >>> w = [np.array([[1.0, 0.0], [0.0, 1.0]])]
    >>> modcore.ncut(w, [np.array([0, 1]), np.array([0, 1])])
    0.0
    """
    weights = check_weights(weights)
    sizes = [weights[0].shape[0]] + [w.shape[1] for w in weights]
    if len(labels) != len(sizes):
        raise ValueError(
            f"labels must have one array per layer of neurons ({len(sizes)}), got {len(labels)}"
        )
    flat = []
    for l, (lab, size) in enumerate(zip(labels, sizes)):
        lab = np.asarray(lab)
        if lab.ndim != 1 or lab.shape[0] != size:
            raise ValueError(f"labels[{l}] must have shape ({size},), got {lab.shape}")
        if lab.size and not np.issubdtype(lab.dtype, np.integer):
            raise TypeError(f"labels[{l}] must be integers, got dtype {lab.dtype}")
        flat.append(lab.astype(np.int64))
    return float(_core.ncut(weights, np.concatenate(flat)))
