"""Spectral clustering of a network into modules."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from . import _core
from .io import check_n_jobs, check_positive_int, check_seed, check_weights

__all__ = ["Clustering", "spectral_cluster", "labels_by_layer"]

EIGEN_METHODS = ("auto", "bipartite", "full", "dense")


def check_eigen_method(eigen_method: str) -> str:
    if eigen_method not in EIGEN_METHODS:
        raise ValueError(f"eigen_method must be one of {EIGEN_METHODS}, got {eigen_method!r}")
    return eigen_method


@dataclass(frozen=True, repr=False)
class Clustering:
    """Modules of a network found by spectral clustering.

    Attributes
    ----------
    labels : list of int arrays
        ``labels[l][i]`` is the module of neuron ``i`` of layer ``l``; -1 for
        neurons with no edges (dropped before clustering).
    ncut : float
        Normalized cut of the partition (lower is more modular, 0 <= ncut <= k).
    eigenvalues : array
        The k largest eigenvalues of the normalized adjacency, descending (1 minus
        the k smallest of the normalized Laplacian).
    n_clusters, seed : int
        The parameters used (``seed`` is the integer actually used).
    n_components : int
        Connected components of the graph of live neurons. With ``n_components >=
        n_clusters`` every module is a union of whole components and ncut is 0.
    inertia : float
        k-means inertia of the embedding (0 when components were packed directly).
    """

    labels: list
    ncut: float
    eigenvalues: np.ndarray
    n_clusters: int
    seed: int
    n_components: int
    inertia: float

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["labels"] = [lab.tolist() for lab in self.labels]
        d["eigenvalues"] = self.eigenvalues.tolist()
        return d

    def __repr__(self) -> str:
        sizes = np.bincount(np.concatenate(self.labels).clip(min=0) if self.labels else [],
                            minlength=self.n_clusters)
        return (
            f"Clustering(ncut={self.ncut:.4f}, n_clusters={self.n_clusters}, "
            f"module sizes={sizes.tolist()}, n_components={self.n_components}, seed={self.seed})"
        )


def labels_by_layer(core_result: dict) -> list:
    """Per-layer label arrays (-1 for dropped neurons) from _core's per-node labels."""
    sizes = core_result["layer_sizes"]
    out = [np.full(int(s), -1, dtype=np.int64) for s in sizes]
    for layer in range(len(sizes)):
        sel = core_result["node_layer"] == layer
        out[layer][core_result["node_index"][sel]] = core_result["labels"][sel]
    return out


def spectral_cluster(
    weights,
    n_clusters: int = 12,
    n_init: int = 10,
    seed=None,
    n_jobs=None,
    max_iter: int = 300,
    tol: float = 1e-6,
    eigen_method: str = "auto",
) -> Clustering:
    """Cluster a network's neurons into modules by spectral clustering.

    The network is the graph with one node per neuron and edge weights
    ``|W_l[i, j]|`` (biases ignored; neurons without edges dropped). Nodes are
    embedded by the top ``n_clusters`` eigenvectors of the normalized adjacency
    ``D^-1/2 A D^-1/2`` scaled by ``D^-1/2`` (scikit-learn's spectral embedding),
    then grouped by k-means (k-means++, ``n_init`` restarts, lowest inertia).

    Parameters
    ----------
    weights : list of 2-D arrays
        ``weights[l]`` of shape ``(n_l, n_{l+1})`` (transpose torch's ``(out, in)``).
    n_clusters : int, default 12
        Number of modules k, 2 <= k <= number of connected neurons.
    n_init : int, default 10
        k-means restarts.
    seed : None, int or numpy.random.Generator
        Same seed, same result, whatever ``n_jobs``.
    n_jobs : int or None
        Threads for the k-means restarts (None: all cores).
    max_iter : int, default 300
        Lloyd iterations per restart.
    tol : float, default 1e-6
        Relative residual tolerance of the Lanczos eigensolver.
    eigen_method : {"auto", "bipartite", "full", "dense"}
        "bipartite" solves the smaller C C^T problem of the bipartite graph, "full"
        runs Lanczos on the whole normalized adjacency, "dense" a full
        eigendecomposition; "auto" picks "dense" for <= 300 nodes, else "bipartite".

    Returns
    -------
    Clustering

    Raises
    ------
    ValueError
        Invalid weights (see :func:`modcore.io.check_weights`), a network with no
        non-zero weights, or ``n_clusters`` outside [2, number of connected neurons].
    TypeError
        Non-numeric weights, or parameters of the wrong type.
    RuntimeError
        If the eigensolver does not converge.

    Examples
    --------
    >>> import numpy as np, modcore
    >>> w = [np.kron(np.eye(2), np.ones((3, 3))) for _ in range(2)]
    >>> modcore.spectral_cluster(w, n_clusters=2, seed=0).ncut
    0.0
    """
    weights = check_weights(weights)
    n_clusters = check_positive_int(n_clusters, "n_clusters", minimum=2)
    n_init = check_positive_int(n_init, "n_init")
    max_iter = check_positive_int(max_iter, "max_iter")
    if not isinstance(tol, (int, float)) or not 0 < tol < 1:
        raise ValueError(f"tol must be a float in (0, 1), got {tol!r}")
    check_eigen_method(eigen_method)
    seed = check_seed(seed)
    res = _core.cluster(weights, n_clusters, n_init, max_iter, float(tol), eigen_method, seed,
                        check_n_jobs(n_jobs))
    return Clustering(
        labels=labels_by_layer(res),
        ncut=float(res["ncut"]),
        eigenvalues=res["eigenvalues"],
        n_clusters=n_clusters,
        seed=seed,
        n_components=int(res["n_components"]),
        inertia=float(res["inertia"]),
    )
