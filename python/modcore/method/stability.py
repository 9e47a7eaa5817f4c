"""How much do modules depend on the seed? Agreement between partitions.

:func:`compare_partitions` gives the adjusted Rand index and the normalized
mutual information of two clusterings of a network (the scores of
:mod:`modcore.method.partition`, which follow scikit-learn's, on the units both
clusterings keep); :func:`stability` clusters a network with several seeds and
compares every pair.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..common.progress import Progress
from ..common.types import InputShape, LabelsLike, NetworkLike, ProgressLike, SeedLike
from ..network.checks import check_n_jobs, check_positive_int, check_seed
from ..network.convert import as_network
from ..network.transformer import takes_view
from .cluster import Clustering, cluster_network, warn_floating
from .partition import adjusted_rand_score, normalized_mutual_info_score
from .settings import ClusterSettings, takes_settings

__all__ = ["Agreement", "Stability", "compare_partitions", "stability"]

MAX_SEEDS = 10_000


@dataclass(frozen=True)
class Agreement:
    """Agreement of two partitions of the same units.

    Attributes
    ----------
    adjusted_rand : float
        Adjusted Rand index: 1 for the same partition (up to renaming), about 0
        for independent ones, negative below chance.
    normalized_mutual_info : float
        Mutual information over the arithmetic mean of the two entropies: 1 for
        the same partition, 0 for independent ones.
    n_units : int
        Units compared: those with a label >= 0 in both.
    """

    adjusted_rand: float
    normalized_mutual_info: float
    n_units: int


def compare_partitions(a: LabelsLike, b: LabelsLike) -> Agreement:
    """Adjusted Rand index and normalized mutual information of two partitions.

    Parameters
    ----------
    a, b : list of 1-D int arrays, or 1-D int arrays
        Module per unit, as :attr:`modcore.Clustering.labels` (one array per
        group) or one array over all units; the same form and shapes on both
        sides (the same number of groups, each of the same size). Units labelled
        -1 (no edges) on either side are left out.

    Returns
    -------
    Agreement

    Raises
    ------
    ValueError
        If the forms or shapes differ (so that the units would be misaligned) or no
        unit is labelled on both sides.
    TypeError
        If labels are not integers.

    Examples
    --------
    >>> import numpy as np, modcore
    >>> modcore.compare_partitions(np.array([0, 0, 1, 1]), np.array([5, 5, 2, 2])).adjusted_rand
    1.0
    """
    (x, a_groups), (y, b_groups) = _flat(a, "a"), _flat(b, "b")
    if a_groups != b_groups:
        raise ValueError(
            f"a and b label different units: a {_shape_text(a_groups)}, b "
            f"{_shape_text(b_groups)}; pass both per group with the same group sizes, or "
            "both as one array (np.concatenate of the groups)"
        )
    both = (x >= 0) & (y >= 0)
    if not both.any():
        raise ValueError("no unit has a label >= 0 in both partitions")
    x, y = x[both], y[both]
    return Agreement(
        adjusted_rand=float(adjusted_rand_score(x, y)),
        normalized_mutual_info=normalized_mutual_info_score(x, y),
        n_units=int(x.size),
    )


def _shape_text(groups: tuple) -> str:
    if len(groups) == 1 and isinstance(groups[0], str):
        return f"is one array of {groups[0]} labels"
    return f"has groups of {', '.join(map(str, groups))} units"


def _flat(labels, name: str) -> tuple:
    """The labels as one int64 array, and their layout: the group sizes, or ``("n",)``
    for one array over all units (so a layout of one group never equals a flat one)."""
    if isinstance(labels, np.ndarray):
        parts, grouped = [labels], False
    elif isinstance(labels, (list, tuple)) and labels:
        parts, grouped = [np.asarray(lab) for lab in labels], True
        if parts[0].ndim == 0:  # a flat list of ints
            parts, grouped = [np.asarray(labels)], False
    else:
        raise TypeError(
            f"{name} must be an int array or a list of them, got {type(labels).__name__}"
        )
    for part in parts:
        if part.ndim != 1:
            raise ValueError(f"{name} must hold 1-D label arrays, got shape {part.shape}")
        if part.size and part.dtype.kind not in "iu":
            raise TypeError(f"{name} must hold integer labels, got dtype {part.dtype}")
    flat = np.concatenate(parts).astype(np.int64)
    return flat, tuple(p.size for p in parts) if grouped else (str(flat.size),)


@dataclass(frozen=True, repr=False)
class Stability:
    """A network clustered with several seeds, and how much the results agree.

    Attributes
    ----------
    seeds : array of int
        The seeds: ``spectral_cluster(network, seed=seeds[i], ...)`` gives
        clustering i again.
    ncuts, modularity : arrays of shape (n_seeds,)
        n-cut and Newman's Q of each clustering.
    adjusted_rand, normalized_mutual_info : arrays of shape (n_seeds, n_seeds)
        Agreement of every pair of clusterings (1 on the diagonal).
    mean_adjusted_rand, mean_normalized_mutual_info : float
        Their means over the pairs of different seeds.
    clusterings : tuple of Clustering
    """

    seeds: np.ndarray
    ncuts: np.ndarray
    modularity: np.ndarray
    adjusted_rand: np.ndarray
    normalized_mutual_info: np.ndarray
    mean_adjusted_rand: float
    mean_normalized_mutual_info: float
    clusterings: tuple

    @property
    def network_fingerprint(self) -> str:
        """:attr:`Network.fingerprint` of the network clustered (every seed's)."""
        return self.clusterings[0].network_fingerprint if self.clusterings else ""

    def to_dict(self) -> dict:
        return {
            "seeds": self.seeds.tolist(),
            "ncuts": self.ncuts.tolist(),
            "modularity": self.modularity.tolist(),
            "adjusted_rand": self.adjusted_rand.tolist(),
            "normalized_mutual_info": self.normalized_mutual_info.tolist(),
            "mean_adjusted_rand": self.mean_adjusted_rand,
            "mean_normalized_mutual_info": self.mean_normalized_mutual_info,
            "network_fingerprint": self.network_fingerprint,
        }

    def __repr__(self) -> str:
        return (
            f"Stability(n_seeds={len(self.seeds)}, ncut={self.ncuts.mean():.4f} ± "
            f"{self.ncuts.std(ddof=1) if len(self.ncuts) > 1 else 0.0:.4f}, "
            f"mean ARI={self.mean_adjusted_rand:.3f}, "
            f"mean NMI={self.mean_normalized_mutual_info:.3f})"
        )


@takes_view
@takes_settings
def stability(
    network: NetworkLike,
    *,
    settings: ClusterSettings | None = None,
    n_clusters: int = 12,
    n_seeds: int = 10,
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
    progress: ProgressLike = None,
    input_shape: InputShape = None,
    view: str | None = None,
) -> Stability:
    """Cluster a network with ``n_seeds`` seeds and compare the modules of every pair.

    The seeds are ``seed, seed + 1, ...`` (mod 2**64), each a whole
    :func:`modcore.spectral_cluster` run (with ``assign_labels="kmeans"``, the
    k-means restarts). The spread of the n-cuts over seeds is the part of a
    reported n-cut that is luck; compare it with the null's standard deviation
    (:attr:`modcore.Significance.shuffled_std`). The default ``cluster_qr`` does
    not read the seed, so every seed gives the same modules.

    Parameters
    ----------
    network : Network, list of 2-D arrays, torch module, state dict, path or scipy.sparse matrix
        As in :func:`modcore.spectral_cluster`.
    CLUSTER_SETTINGS_FIELDS
    n_jobs, input_shape
        As in :func:`modcore.spectral_cluster`.
    n_seeds : int, default=10
        Clusterings to compare, at least 2.
    seed : None, int or numpy.random.Generator, default=None
        The first seed (None draws one).
    progress : None, bool or callable, default=None
        Count the clusterings on stderr (None: when stderr is a terminal); a callable
        gets ``(done, n_seeds)`` after each.
    view : {"blocks", "virtual"} or None, default None
        As in :func:`modcore.spectral_cluster`: ``"blocks"`` returns ``{MLP name:
        Stability}``.

    Returns
    -------
    Stability

    Raises
    ------
    ValueError, TypeError
        As :func:`modcore.spectral_cluster`, or ``n_seeds`` outside [2, 10000].

    Examples
    --------
    >>> import modcore
    >>> from modcore.network.synthetic import planted_modular_mlp
    >>> w, _ = planted_modular_mlp([30, 30, 30], n_modules=3, seed=0)
    >>> modcore.stability(w, n_clusters=3, n_seeds=3, seed=0).mean_adjusted_rand
    1.0
    """
    network = as_network(network, input_shape=input_shape, view=view)
    assert settings is not None  # made by @takes_settings
    n_seeds = check_positive_int(n_seeds, "n_seeds", minimum=2, maximum=MAX_SEEDS)
    n_jobs = check_n_jobs(n_jobs)
    first = check_seed(seed)
    seeds = [(first + i) % 2**64 for i in range(n_seeds)]
    runs: list[Clustering] = []
    with Progress(n_seeds, "stability", progress, unit="clusterings") as bar:
        for s in seeds:
            runs.append(cluster_network(network, settings, s, n_jobs))
            bar.update()
    warn_floating(runs[0])
    ari, nmi = np.eye(n_seeds), np.eye(n_seeds)
    for i in range(n_seeds):
        for j in range(i + 1, n_seeds):
            agree = compare_partitions(runs[i].labels, runs[j].labels)
            ari[i, j] = ari[j, i] = agree.adjusted_rand
            nmi[i, j] = nmi[j, i] = agree.normalized_mutual_info
    off = ~np.eye(n_seeds, dtype=bool)
    return Stability(
        seeds=np.array(seeds, dtype=np.uint64),
        ncuts=np.array([r.ncut for r in runs]),
        modularity=np.array([r.modularity for r in runs]),
        adjusted_rand=ari,
        normalized_mutual_info=nmi,
        mean_adjusted_rand=float(ari[off].mean()),
        mean_normalized_mutual_info=float(nmi[off].mean()),
        clusterings=tuple(runs),
    )
