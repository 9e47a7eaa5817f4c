"""Spectral clustering of a network into modules."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from .._core import cluster as core_cluster
from ..common import display
from ..common.types import InputShape, NetworkLike, SeedLike
from ..common.warn import warn_user
from ..network.checks import check_n_jobs, check_seed
from ..network.convert import as_network
from ..network.network import Network
from ..network.transformer import takes_view
from .settings import ClusterSettings, takes_settings

__all__ = [
    "Clustering",
    "FloatingUnitsWarning",
    "spectral_cluster",
]


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


def warn_floating(clustering) -> None:
    """Warn when ``drop="isolated"`` kept units whose component reaches neither end.

    ``clustering`` is a :class:`Clustering` or anything with its ``drop``,
    ``n_floating``, ``n_unreachable`` and ``group_names``.
    """
    if clustering.drop != "isolated" or not clustering.n_floating:
        return
    names = clustering.group_names
    warn_user(
        f"{clustering.n_floating} units with edges are in components that reach neither the "
        f"first group ({names[0]!r}) nor the last ({names[-1]!r}); drop='isolated' keeps "
        "them, and such a fragment can take a module of its own at almost no cut, "
        "lowering the n-cut. drop='unreachable' (the authors' PyTorch port) leaves out "
        f"every component that misses an end ({clustering.n_unreachable} units here)",
        FloatingUnitsWarning,
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


@takes_view
@takes_settings
def spectral_cluster(
    network: NetworkLike,
    *,
    settings: ClusterSettings | None = None,
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
    view: str | None = None,
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
    It is one call into the C++ core, with no steps to count, so it takes no
    ``progress`` (:func:`ncut_significance` and :func:`stability`, which repeat it, do).

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
    CLUSTER_SETTINGS_FIELDS
    seed : None, int or numpy.random.Generator, default=None
        None draws fresh entropy; the integer used is in the result. Same seed,
        same result, whatever ``n_jobs``. Only k-means reads it; "cluster_qr"
        (with or without ``refine``) gives the same result for every seed. k-means++
        draws units by index, so "kmeans" results also depend on the order of units.
    n_jobs : int or None, default=None
        Threads for the k-means restarts (None: all cores; more than the
        machine's cores are capped at its cores); "cluster_qr" runs on one.
        A network of 2**21 edges or more also splits each product of its
        eigensolve among them.
    input_shape : tuple of int, optional
        For a torch module: the shape of one input without the batch dimension,
        e.g. ``(1, 28, 28)``; by default ``(in_features,)`` of a first Linear.
    view : {"blocks", "virtual"} or None, default None
        For a transformer (:mod:`modcore.network.transformer`; required there, refused
        elsewhere): ``"virtual"`` reads its virtual graph (units with a privileged
        basis joined through the residual stream); ``"blocks"`` reads each MLP alone
        and returns ``{MLP name: result}``, one result per MLP. Every function that
        takes ``view`` reads it so (:func:`modcore.network.transformer.takes_view`).

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
    network = as_network(network, input_shape=input_shape, view=view)
    assert settings is not None  # made by @takes_settings
    clustering = cluster_network(network, settings, check_seed(seed), check_n_jobs(n_jobs))
    warn_floating(clustering)
    return clustering
