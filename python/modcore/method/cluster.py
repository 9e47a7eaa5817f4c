"""Spectral clustering of a network into modules."""

from __future__ import annotations

import dataclasses
import numbers
import warnings
from dataclasses import dataclass

import numpy as np

from .._core import cluster as core_cluster
from ..common import display
from ..common.types import InputShape, NetworkLike, SeedLike
from ..network.checks import check_n_jobs, check_positive_int, check_seed
from ..network.convert import as_network
from ..network.network import Network

__all__ = [
    "Clustering",
    "ClusterSettings",
    "FloatingUnitsWarning",
    "spectral_cluster",
    "check_settings",
]

EIGEN_METHODS = ("auto", "bipartite", "full", "dense")
DROPS = ("isolated", "unreachable")
NORMALIZES = (None, "rescale")
ASSIGN_LABELS = ("cluster_qr", "kmeans")
SELECT_BY = ("inertia", "ncut")
# Bounds that keep every value inside the C++ int range with room to spare; the
# real limits (k <= live units, ...) are checked against the network itself.
MAX_CLUSTERS = 2**31 - 1
MAX_INIT = 100_000
MAX_ITER = 10_000_000


@dataclass(frozen=True)
class ClusterSettings:
    """The clustering parameters, checked, shared by the network and every shuffle.

    Every field changes results, so all of them identify a null (the sweep's
    resume key must hold them all).
    """

    n_clusters: int = 12
    n_init: int = 10
    max_iter: int = 300
    tol: float = 1e-5
    eigen_method: str = "auto"
    assign_labels: str = "cluster_qr"
    refine: bool = True
    select_by: str = "inertia"
    drop: str = "isolated"
    normalize: str | None = None

    def graph_args(self) -> dict:
        """How ``_core`` turns the network (and each shuffled one) into the graph."""
        return {"drop": self.drop, "normalize": self.normalize or "none"}

    def core_args(self) -> tuple[int, int, int, float, str, str, bool, str]:
        return (
            self.n_clusters,
            self.n_init,
            self.max_iter,
            self.tol,
            self.eigen_method,
            self.select_by,
            self.refine,
            self.assign_labels,
        )


def check_settings(
    *,
    n_clusters=12,
    n_init=10,
    max_iter=300,
    tol=1e-5,
    eigen_method="auto",
    assign_labels="cluster_qr",
    refine=True,
    select_by="inertia",
    drop="isolated",
    normalize=None,
) -> ClusterSettings:
    """Validate the clustering parameters once, at the border."""
    if isinstance(tol, bool) or not isinstance(tol, numbers.Real):
        raise TypeError(f"tol must be a float, got {type(tol).__name__}")
    if not 0 < float(tol) < 1:
        raise ValueError(f"tol must be in (0, 1), got {tol!r}")
    if eigen_method not in EIGEN_METHODS:
        raise ValueError(f"eigen_method must be one of {EIGEN_METHODS}, got {eigen_method!r}")
    if assign_labels not in ASSIGN_LABELS:
        raise ValueError(f"assign_labels must be one of {ASSIGN_LABELS}, got {assign_labels!r}")
    if not isinstance(refine, (bool, np.bool_)):
        raise TypeError(f"refine must be True or False, got {type(refine).__name__}")
    if select_by not in SELECT_BY:
        raise ValueError(f"select_by must be one of {SELECT_BY}, got {select_by!r}")
    if not isinstance(drop, str) or drop not in DROPS:
        raise ValueError(f"drop must be one of {DROPS}, got {drop!r}")
    if normalize is not None and (not isinstance(normalize, str) or normalize not in NORMALIZES):
        raise ValueError(f"normalize must be None or 'rescale', got {normalize!r}")
    return ClusterSettings(
        n_clusters=check_positive_int(n_clusters, "n_clusters", minimum=2, maximum=MAX_CLUSTERS),
        n_init=check_positive_int(n_init, "n_init", maximum=MAX_INIT),
        max_iter=check_positive_int(max_iter, "max_iter", maximum=MAX_ITER),
        tol=float(tol),
        eigen_method=eigen_method,
        assign_labels=assign_labels,
        refine=bool(refine),
        select_by=select_by,
        drop=drop,
        normalize=normalize,
    )


class FloatingUnitsWarning(UserWarning):
    """The network has units in components that reach neither its first nor its last
    group: kept by ``drop="isolated"``, such a fragment can take a module at almost no cut."""


@dataclass(frozen=True, repr=False)
class Clustering:
    """Modules of a network found by spectral clustering.

    Attributes
    ----------
    labels : list of int arrays
        ``labels[g][i]`` is the module of unit ``i`` of group ``g`` (layer ``g``
        of an MLP); -1 for the units dropped before clustering (see ``drop``).
    ncut : float
        Normalized cut of the partition (lower is more modular, 0 <= ncut <= k).
    modularity : float
        Newman's weighted modularity Q of the same partition (higher is more
        modular, -1/2 <= Q < 1), on the graph of ``|w|``.
    eigenvalues : array
        The k largest eigenvalues of the normalized adjacency, descending (1 minus
        the k smallest of the normalized Laplacian).
    n_clusters, n_init, seed : int
        The parameters used (``seed`` is the integer actually used).
    assign_labels : str
        "cluster_qr" or "kmeans": how the embedding became labels.
    refine : bool
        Whether the labels were refined by single-unit n-cut moves.
    select_by : str
        Which k-means restart was kept ("inertia" or "ncut"; only used by "kmeans").
    n_components : int
        Connected components of the graph of live units. With ``n_components >=
        n_clusters`` every module is a union of whole components and ncut is 0.
    inertia : float
        k-means inertia of the kept restart, before any refinement (0 with
        "cluster_qr" or when components were packed directly).
    eigen_method : str
        The eigensolver used: "bipartite", "full", "dense", or "none" when the
        components alone fixed the modules.
    group_names : tuple of str
        The name of each group of ``labels`` ("layer 0", ... for an MLP).
    drop : str
        The rule that left units out: "isolated" or "unreachable".
    normalize : str or None
        "rescale" when the weights were rescaled before clustering, else None.
    n_dropped : int
        Units left out of the graph (label -1): ``n_isolated``, plus
        ``n_unreachable`` with ``drop="unreachable"``.
    n_isolated : int
        Units without edges.
    n_unreachable : int
        Units with edges whose connected component has no unit in the first
        group or none in the last (counted under either rule; dropped only by
        "unreachable"); 0 for a network of one group.
    n_floating : int
        Of those, the units whose component touches neither the first nor the
        last group.
    network_fingerprint : str
        :attr:`Network.fingerprint` of the network clustered: reports refuse to
        show these modules with another network.
    """

    labels: list
    ncut: float
    modularity: float
    eigenvalues: np.ndarray
    n_clusters: int
    n_init: int
    seed: int
    assign_labels: str
    refine: bool
    select_by: str
    n_components: int
    inertia: float
    eigen_method: str
    group_names: tuple
    drop: str
    normalize: str | None
    n_dropped: int
    n_isolated: int
    n_unreachable: int
    n_floating: int
    network_fingerprint: str = ""

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["labels"] = [lab.tolist() for lab in self.labels]
        d["eigenvalues"] = self.eigenvalues.tolist()
        d["group_names"] = list(self.group_names)
        return d

    def _repr_html_(self) -> str | None:
        return display.html(self)

    def __repr__(self) -> str:
        flat = np.concatenate(self.labels) if self.labels else np.empty(0, np.int64)
        sizes = np.bincount(flat[flat >= 0], minlength=self.n_clusters)
        rescaled = ", normalize='rescale'" if self.normalize else ""
        return (
            f"Clustering(ncut={self.ncut:.4f}, n_clusters={self.n_clusters}, "
            f"module sizes={sizes.tolist()}, dropped={dropped_text(self)}{rescaled}, "
            f"n_components={self.n_components}, eigen_method={self.eigen_method!r}, "
            f"seed={self.seed})"
        )


def dropped_text(clustering: Clustering) -> str:
    """``"3 (isolated)"`` or ``"9 (3 isolated, 6 unreachable)"``, for reprs."""
    if clustering.drop == "unreachable" and clustering.n_unreachable:
        return (
            f"{clustering.n_dropped} ({clustering.n_isolated} isolated, "
            f"{clustering.n_unreachable} unreachable)"
        )
    return f"{clustering.n_dropped} (isolated)"


def warn_floating(clustering, stacklevel: int = 3) -> None:
    """Warn when ``drop="isolated"`` kept units whose component reaches neither end.

    ``clustering`` is a :class:`Clustering` or anything with its ``drop``,
    ``n_floating``, ``n_unreachable`` and ``group_names``.
    """
    if clustering.drop != "isolated" or not clustering.n_floating:
        return
    names = clustering.group_names
    warnings.warn(
        f"{clustering.n_floating} units with edges are in components that reach neither the "
        f"first group ({names[0]!r}) nor the last ({names[-1]!r}); drop='isolated' keeps "
        "them, and such a fragment can take a module of its own at almost no cut, "
        "lowering the n-cut. drop='unreachable' (the authors' PyTorch port) leaves out "
        f"every component that misses an end ({clustering.n_unreachable} units here)",
        FloatingUnitsWarning,
        stacklevel=stacklevel,
    )


def labels_by_group(network: Network, node_map: dict, labels: np.ndarray) -> list:
    """Per-group label arrays (-1 for dropped units) from _core's per-node labels."""
    flat = np.full(network.n_units, -1, dtype=np.int64)
    flat[network.offsets[node_map["node_group"]] + node_map["node_index"]] = labels
    return network.split_labels(flat)


def clustering_of(
    network: Network,
    node_map: dict,
    res: dict,
    n_clusters: int,
    settings: ClusterSettings,
    seed: int,
) -> Clustering:
    """A Clustering at k = n_clusters from one of _core's result dicts and the graph's
    node map (settings.n_clusters is not read: a curve has one result per k)."""
    return Clustering(
        labels=labels_by_group(network, node_map, res["labels"]),
        ncut=float(res["ncut"]),
        modularity=float(res["modularity"]),
        eigenvalues=res["eigenvalues"],
        n_clusters=n_clusters,
        n_init=settings.n_init,
        seed=seed,
        assign_labels=settings.assign_labels,
        refine=settings.refine,
        select_by=settings.select_by,
        n_components=int(res["n_components"]),
        inertia=float(res["inertia"]),
        eigen_method=str(res["eigen_method"]),
        group_names=network.names,
        drop=settings.drop,
        normalize=settings.normalize,
        n_dropped=int(node_map["n_dropped"]),
        n_isolated=int(node_map["n_isolated"]),
        n_unreachable=int(node_map["n_unreachable"]),
        n_floating=int(node_map["n_floating"]),
        network_fingerprint=network.fingerprint,
    )


def cluster_network(
    network: Network, settings: ClusterSettings, seed: int, n_jobs: int
) -> Clustering:
    """spectral_cluster on checked inputs (also run by Dask workers)."""
    sizes, blocks = network.to_core()
    res = core_cluster(sizes, blocks, *settings.core_args(), seed, n_jobs, **settings.graph_args())
    return clustering_of(network, res, res, settings.n_clusters, settings, seed)


def spectral_cluster(
    network: NetworkLike,
    *,
    n_clusters: int = 12,
    assign_labels: str = "cluster_qr",
    refine: bool = True,
    n_init: int = 10,
    select_by: str = "inertia",
    max_iter: int = 300,
    tol: float = 1e-5,
    eigen_method: str = "auto",
    drop: str = "isolated",
    normalize: str | None = None,
    seed: SeedLike = None,
    n_jobs: int | None = None,
    input_shape: InputShape = None,
) -> Clustering:
    """Cluster a network's units into modules by spectral clustering.

    The network is the graph with one node per unit and edge weights ``|w|``
    (biases ignored; units without edges dropped, see ``drop``). Nodes are embedded by the top
    ``n_clusters`` eigenvectors of the normalized adjacency ``D^-1/2 A D^-1/2``
    scaled by ``D^-1/2`` (scikit-learn's spectral embedding). By default the
    embedding becomes labels by a column-pivoted QR (``cluster_qr``), and
    single units then move between modules while that lowers the n-cut, in
    orders computed from the units' weights. The result depends on the network alone:
    not on the seed, the thread count, or the order of units (a network whose
    units are permuted with their weights gets the same modules, numbered alike,
    and the same n-cut up to rounding). The authors'
    pipeline instead runs k-means (k-means++, 25 restarts, the lowest inertia
    kept) and no refinement: ``assign_labels="kmeans", refine=False,
    n_init=25``; its n-cut moved with the seed by 0.36-0.63 of the shuffle
    null's standard deviation on the networks measured (see the README).

    Parameters
    ----------
    network : Network, list of 2-D arrays, torch module, state dict, path or scipy.sparse matrix
        A :class:`modcore.Network`; a chain of weight matrices ``weights[l]`` of
        shape ``(n_l, n_{l+1})``, numpy arrays or torch tensors (transpose torch's
        ``(out, in)``); a torch module (traced and checked against the model, see
        ``input_shape`` and the docs' "Reading torch models"); a state dict, or the
        path (str or path-like) of a ``.pt``/``.pth``, ``.safetensors`` or ``.npz``
        file, read as a chain by :func:`modcore.weights_from_module` (a modcore
        checkpoint rebuilds its model, traced); or a symmetric scipy.sparse
        adjacency (a precomputed graph: labels come back as one array over its
        nodes). Every public function that takes a network reads these forms
        alike (:func:`modcore.network.convert.as_network`); torch is imported only for
        torch objects and ``.pt`` files.
    n_clusters : int, default=12
        Number of modules k, 2 <= k <= number of connected units.
    assign_labels : {"cluster_qr", "kmeans"}, default="cluster_qr"
        "cluster_qr": the deterministic discretization of Damle, Minden & Ying
        (scikit-learn's ``assign_labels="cluster_qr"``); a module may come out
        empty. "kmeans": k-means with ``n_init`` restarts, one kept by ``select_by``.
    refine : bool, default=True
        Afterwards, move single units to the module that lowers the n-cut most
        until no move lowers it: sweeps over the units in three orders computed
        from their weights (never their indices) from the same start, the lowest
        n-cut kept, so the order of units does not matter; every module keeps a unit.
    n_init : int, default=10
        k-means restarts ("kmeans" only).
    select_by : {"inertia", "ncut"}, default="inertia"
        Which k-means restart is kept ("kmeans" only): the lowest inertia (the
        authors' rule), or the lowest n-cut (each restart refined first when
        ``refine``).
    max_iter : int, default=300
        Lloyd iterations per restart.
    tol : float, default=1e-5
        Relative residual tolerance of the Lanczos eigensolver. ``tol=1e-6``
        gives the exact settings: on the reference net 995 of 1,000 shuffles'
        n-cuts were identical at 1e-5 and 1e-6 and the two nulls' distributions
        match, while 1e-5 takes 6% fewer matrix products.
    eigen_method : {"auto", "bipartite", "full", "dense"}, default="auto"
        "bipartite" solves the smaller C Cᵀ problem of a bipartite network (every
        chain is one; by Lanczos, or densely when its side is small, as in a
        star-like network with a one-unit layer), "full" runs Lanczos on the
        whole normalized adjacency (falling back to "dense" when Lanczos fails,
        up to 1,000 units), "dense" a full eigendecomposition (at most 1,000
        units); "auto" picks "dense" for <= 300 units, else "bipartite" when the
        network is bipartite, else "full". :attr:`Clustering.eigen_method` says
        which ran.
    drop : {"isolated", "unreachable"}, default="isolated"
        Which units are left out of the graph (label -1). "isolated": units
        without edges, as the authors' TensorFlow code behind the paper's
        tables. "unreachable": also every connected component that has no unit
        in the first group or none in the last (an MLP's input and output
        layers; a traced model's input and last layer), as the authors' PyTorch
        port (nn-clustering-pytorch) does. A small fragment cut off from the
        rest is a component of its own, so it can take a module at almost no
        cut and lower the n-cut; with "isolated" a :class:`FloatingUnitsWarning`
        says when the network has a component that touches neither end. A
        network of one group (a precomputed adjacency) has no ends:
        "unreachable" is a ValueError there. :attr:`Clustering.n_dropped` and
        the counts beside it say what was left out and why.
    normalize : {None, "rescale"}, default=None
        "rescale": before clustering, the port's function-preserving rescaling.
        For each hidden group l in order (a group with blocks in and out; an
        MLP's layers but the first and the last), each unit i gets ``s_i =
        ||W_l[:, i]||_2 + 1e-5``, the L2 norm of its incoming weights (over all
        blocks into the group, as rescaled by the groups before it); then
        ``W_l[:, i] /= s_i`` and ``W_{l+1}[i, :] *= s_i`` (modcore's ``(n_in,
        n_out)`` layout: torch's ``W_l[i, :] /= s_i``, ``W_{l+1}[:, i] *= s_i``).
        A ReLU network computes the same function (with biases ``b_l[i] /=
        s_i``), since ReLU is positively homogeneous; the graph changes. For a
        traced conv net the edges are kernel-slice norms, and the rescaled graph
        is the graph of the rescaled net when ``kernel_norm="l2"``. Not defined
        for a block from a group to itself (a precomputed adjacency): ValueError.
    seed : None, int or numpy.random.Generator, default=None
        None draws fresh entropy; the integer used is in the result. Same seed,
        same result, whatever ``n_jobs``. Only k-means reads it; "cluster_qr"
        (with or without ``refine``) gives the same result for every seed. k-means++
        draws units by index, so "kmeans" results also depend on the order of units.
    n_jobs : int or None, default=None
        Threads for the k-means restarts (None: all cores; more than the
        machine's cores are capped at its cores); "cluster_qr" runs on one.
        A network of 2**22 edges or more also splits each product of its
        eigensolve among them.
    input_shape : tuple of int, optional
        For a torch module: the shape of one input without the batch dimension,
        e.g. ``(1, 28, 28)``; by default ``(in_features,)`` of a first Linear.

    Returns
    -------
    Clustering

    Warns
    -----
    FloatingUnitsWarning
        With ``drop="isolated"``, when units with edges sit in components that
        reach neither the first nor the last group.

    Raises
    ------
    ValueError
        An invalid network (shapes, NaN, no non-zero weights, an asymmetric
        adjacency), ``drop="unreachable"`` on a network of one group or where no
        component joins the two ends, ``normalize="rescale"`` on a self-block,
        ``n_clusters`` outside [2, number of connected units], or a
        problem too large for the solvers that cannot be interrupted:
        ``eigen_method="dense"`` above 1,000 connected units, more than 500
        eigenvectors beyond the connected components where no dense solve fits.
    TypeError
        Non-numeric weights, or parameters of the wrong type.
    RuntimeError
        If the eigensolver does not converge (the message names a way out).

    Examples
    --------
    >>> import numpy as np, modcore
    >>> w = [np.kron(np.eye(2), np.ones((3, 3))) for _ in range(2)]
    >>> modcore.spectral_cluster(w, n_clusters=2, seed=0).ncut
    0.0
    """
    network = as_network(network, input_shape=input_shape)
    settings = check_settings(
        n_clusters=n_clusters,
        assign_labels=assign_labels,
        refine=refine,
        n_init=n_init,
        select_by=select_by,
        max_iter=max_iter,
        tol=tol,
        eigen_method=eigen_method,
        drop=drop,
        normalize=normalize,
    )
    clustering = cluster_network(network, settings, check_seed(seed), check_n_jobs(n_jobs))
    warn_floating(clustering)
    return clustering
