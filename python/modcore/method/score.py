"""Scores of a given partition of a network's units: n-cut and Newman's modularity."""

from __future__ import annotations

import numpy as np

from .._core import modularity as core_modularity
from .._core import ncut as core_ncut
from ..common.types import InputShape, LabelsLike, NetworkLike
from ..network.convert import as_network
from .settings import ClusterSettings

__all__ = ["modularity", "ncut"]


def ncut(
    network: NetworkLike,
    labels: LabelsLike,
    *,
    drop: str = "isolated",
    normalize: str | None = None,
    input_shape: InputShape = None,
) -> float:
    """Normalized cut of a partition of the network's units.

    n-cut = sum over modules A of cut(A, rest) / vol(A), where edges weigh
    ``|w|``; modules with no volume contribute 0. Lower means more modular.

    Parameters
    ----------
    network : Network, list of 2-D arrays, torch module, state dict, path or scipy.sparse matrix
        As in :func:`modcore.spectral_cluster`.
    labels : list of 1-D int arrays, or one 1-D int array
        ``labels[g]`` has one module id per unit of group ``g`` (layer ``g`` of
        an MLP), as in :attr:`Clustering.labels`; a single array is accepted
        for a network of one group (a precomputed adjacency). Any integer ids;
        units the graph leaves out (see ``drop``) may have -1, and their labels
        are not read.
    drop, normalize : default="isolated", None
        How the network becomes the graph, as in :func:`modcore.spectral_cluster`:
        pass the values the labels were found with.
    input_shape : tuple of int, optional
        For tracing a torch module, as in :func:`modcore.spectral_cluster`.

    Returns
    -------
    float
        The n-cut, between 0 and the number of distinct labels.

    Raises
    ------
    ValueError
        If the labels do not match the group sizes, or a connected unit has a
        negative label.
    TypeError
        If labels are not integers.

    Examples
    --------
    >>> import numpy as np, modcore
    >>> w = [np.array([[1.0, 0.0], [0.0, 1.0]])]
    >>> modcore.ncut(w, [np.array([0, 1]), np.array([0, 1])])
    0.0
    """
    return _partition_score(core_ncut, network, labels, drop, normalize, input_shape)


def modularity(
    network: NetworkLike,
    labels: LabelsLike,
    *,
    drop: str = "isolated",
    normalize: str | None = None,
    input_shape: InputShape = None,
) -> float:
    """Newman's weighted modularity Q of a partition of the network's units.

    Q = sum over modules A of [w(A) / m - (vol(A) / 2m)^2], where w(A) is the
    weight of the edges inside A, vol(A) the sum of its units' degrees and m the
    total edge weight, on the graph of ``|w|`` (Newman 2004; resolution 1, as
    ``networkx.algorithms.community.modularity``). Higher means more modular;
    a single module has Q = 0.

    Parameters
    ----------
    network : Network, list of 2-D arrays, torch module, state dict, path or scipy.sparse matrix
        As in :func:`modcore.spectral_cluster`.
    labels : list of 1-D int arrays, or one 1-D int array
        As in :func:`modcore.ncut`.
    drop, normalize : default="isolated", None
        As in :func:`modcore.ncut`.
    input_shape : tuple of int, optional
        For tracing a torch module, as in :func:`modcore.spectral_cluster`.

    Returns
    -------
    float
        Q, in [-1/2, 1).

    Raises
    ------
    ValueError, TypeError
        As :func:`modcore.ncut`.

    Examples
    --------
    >>> import numpy as np, modcore
    >>> w = [np.array([[1.0, 0.0], [0.0, 1.0]])]
    >>> modcore.modularity(w, [np.array([0, 1]), np.array([0, 1])])
    0.5
    """
    return _partition_score(core_modularity, network, labels, drop, normalize, input_shape)


def _partition_score(score, network, labels, drop, normalize, input_shape) -> float:
    """``score`` (the core's ncut or modularity) of the labels on the network's graph."""
    network = as_network(network, input_shape=input_shape)
    graph_args = ClusterSettings(drop=drop, normalize=normalize).graph_args()
    return float(score(*network.to_core(), _compact_labels(network, labels), **graph_args))


def _compact_labels(network, labels) -> np.ndarray:
    """Labels over all units, checked against the groups, as compact ids (-1 kept)."""
    sizes = network.sizes
    if isinstance(labels, np.ndarray) and labels.ndim == 1 and len(sizes) == 1:
        labels = [labels]
    if isinstance(labels, (str, bytes)) or not hasattr(labels, "__len__"):
        raise TypeError(f"labels must be a list of 1-D int arrays, got {type(labels).__name__}")
    if len(labels) != len(sizes):
        raise ValueError(
            f"labels must have one array per group of units ({len(sizes)}), got {len(labels)}"
        )
    parts = []
    for g, (lab, size) in enumerate(zip(labels, sizes)):
        lab = np.asarray(lab)
        if lab.ndim != 1 or lab.shape[0] != size:
            raise ValueError(f"labels[{g}] must have shape ({size},), got {lab.shape}")
        if lab.size and lab.dtype.kind not in "iu":
            raise TypeError(f"labels[{g}] must be integers, got dtype {lab.dtype}")
        parts.append(lab.astype(np.int64))
    flat = np.concatenate(parts)
    # Compact ids, so label values (say 10**9) never size an allocation.
    compact = flat.copy()
    ok = flat >= 0
    compact[ok] = np.unique(flat[ok], return_inverse=True)[1]
    return compact
