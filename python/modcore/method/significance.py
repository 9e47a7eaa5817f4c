"""Is the network more modular than chance? Its n-cut against shuffled networks."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from ..common import display
from ..common.types import ClientLike, InputShape, NetworkLike, ProgressLike, SeedLike
from ..network.checks import check_n_jobs, check_positive_int, check_seed
from ..network.convert import as_network
from ..network.transformer import takes_view
from .cluster import (
    Clustering,
    cluster_network,
    dropped_text,
    warn_floating,
)
from .null import MAX_SHUFFLES, check_shuffle, shuffled_scores
from .settings import ClusterSettings, takes_settings

__all__ = ["Significance", "ncut_significance"]


@dataclass(frozen=True, repr=False)
class Significance:
    """The n-cut of a network compared with its shuffle null.

    Attributes
    ----------
    ncut : float
        n-cut of the network's own clustering.
    labels : list of int arrays
        Its modules per layer (-1 for neurons without edges).
    shuffled_ncuts : array of shape (n_shuffles,)
        n-cut of each shuffled network, in shuffle-index order.
    shuffled_mean, shuffled_std : float
        Mean and sample standard deviation (ddof=1) of ``shuffled_ncuts``.
    z_score : float
        ``(ncut - shuffled_mean) / shuffled_std``; negative means more modular
        than the shuffles. ±inf (or 0 when equal) if the shuffled n-cuts are all equal;
        NaN, as ``shuffled_std``, with a single shuffle.
    p_value : float
        One-sided, never 0: ``(1 + #{shuffled <= ncut}) / (n_shuffles + 1)``;
        with ``stop_after`` = h, Besag and Clifford's sequential p-value: ``h /
        n_shuffles`` when the null stopped at its h-th shuffled n-cut <= ncut,
        else the fixed formula over all ``max_shuffles``.
    percentile : float
        The left percentile: percentage of shuffled n-cuts that are <= ``ncut``.
    modularity : float
        Newman's weighted modularity Q of the network's modules, those the
        n-cut clustering found (higher is more modular).
    shuffled_modularity : array of shape (n_shuffles,)
        Q of each shuffled network's n-cut modules.
    modularity_z : float
        ``(modularity - mean) / std`` of ``shuffled_modularity`` (ddof=1);
        positive means a higher Q than the shuffles' n-cut modules. Not a test
        of Q-modularity: neither side is Q's own optimum (the modules that
        maximise Q), and it can disagree with ``z_score`` because Q favours
        few large modules of similar size while the n-cut also rewards small,
        well-separated ones. The verdict uses the n-cut alone.
    in_out_ratio : float
        The authors' mean in/out ratio ``(1 - ncut/k) / (2 ncut/k)``: the weight
        inside a module per unit of weight leaving it, were all k modules alike
        (inf when ncut is 0).
    shuffled_in_out_ratio : float
        The median of the shuffled networks' in/out ratios.
    cohens_d : float
        Cohen's d of the network against the null: the difference of the means
        over the pooled standard deviation. The network is one value, whose
        group adds nothing to the pooled variance, so d equals ``z_score``.
    n_shuffles : int
        Shuffled networks in the null (fewer than ``max_shuffles`` when the
        sequential test stopped early).
    max_shuffles : int
        The ``n_shuffles`` asked for.
    stop_after : int or None
        h of the sequential test, or None for a fixed-size null.
    drop : str
        The rule that left units out of the network and of every shuffled
        network ("isolated" or "unreachable", see :func:`spectral_cluster`).
    normalize : str or None
        "rescale" when the network and every shuffled network were rescaled.
    n_dropped : int
        Units left out of the network's graph (the counts by reason are in
        ``clustering``: ``n_isolated``, ``n_unreachable``, ``n_floating``).
    shuffled_n_dropped : int array of shape (n_shuffles,)
        Units left out of each shuffled network's graph (a "layer" shuffle
        moves the zeros, so which units drop changes per shuffle).
    """

    ncut: float
    labels: list
    shuffled_ncuts: np.ndarray
    shuffled_mean: float
    shuffled_std: float
    z_score: float
    p_value: float
    percentile: float
    modularity: float
    shuffled_modularity: np.ndarray
    modularity_z: float
    in_out_ratio: float
    shuffled_in_out_ratio: float
    cohens_d: float
    n_shuffles: int
    max_shuffles: int
    stop_after: int | None
    shuffle: str
    n_clusters: int
    n_init: int
    seed: int
    drop: str
    normalize: str | None
    n_dropped: int
    shuffled_n_dropped: np.ndarray
    clustering: Clustering

    @property
    def network_fingerprint(self) -> str:
        """:attr:`Network.fingerprint` of the network tested (its clustering's)."""
        return self.clustering.network_fingerprint

    def to_dict(self) -> dict:
        """Plain Python values for JSON; an infinite z-score becomes "inf" or "-inf",
        which strict JSON readers accept (json.dumps would write bare Infinity)."""
        d = {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.name != "clustering"
        }
        for name in (
            "shuffled_std",
            "z_score",
            "modularity_z",
            "in_out_ratio",
            "shuffled_in_out_ratio",
            "cohens_d",
        ):
            if not math.isfinite(d[name]):
                d[name] = str(d[name])
        d["labels"] = [lab.tolist() for lab in self.labels]
        d["shuffled_ncuts"] = self.shuffled_ncuts.tolist()
        d["shuffled_modularity"] = self.shuffled_modularity.tolist()
        d["shuffled_n_dropped"] = self.shuffled_n_dropped.tolist()
        for key in ("n_isolated", "n_unreachable", "n_floating"):
            d[key] = getattr(self.clustering, key)
        d["eigenvalues"] = self.clustering.eigenvalues.tolist()
        d["eigen_method"] = self.clustering.eigen_method
        for key in ("assign_labels", "refine", "select_by"):
            d[key] = getattr(self.clustering, key)
        d["group_names"] = list(self.clustering.group_names)
        d["network_fingerprint"] = self.network_fingerprint
        return d

    def _repr_html_(self) -> str | None:
        return display.html(self)

    def __repr__(self) -> str:
        rescaled = ", normalize='rescale'" if self.normalize else ""
        return (
            f"Significance(ncut={self.ncut:.4f}, shuffled={self.shuffled_mean:.4f} ± "
            f"{self.shuffled_std:.4f}, z={self.z_score:.2f}, p={self.p_value:.4g}, "
            f"Q={self.modularity:.4f}, n_shuffles={self.n_shuffles}, shuffle={self.shuffle!r}, "
            f"n_clusters={self.n_clusters}, dropped={dropped_text(self.clustering)}"
            f"{rescaled}, seed={self.seed})"
        )


def null_stats(value: float, sample: np.ndarray) -> tuple:
    """Mean and sample std (ddof=1) of a null sample, and value's z-score in it.

    With std 0 the z-score is 0 when value equals the mean, else +-inf; a sample of one
    has no spread to measure, so its std and z-score are NaN. A sample of equal values
    has mean that value and std exactly 0 (summed, they could differ by rounding, and a
    std of 1e-16 made any z).
    """
    mean = float(sample.mean())
    if len(sample) < 2:
        return mean, math.nan, math.nan
    if sample.min() == sample.max():
        mean, std = float(sample[0]), 0.0
    else:
        std = float(sample.std(ddof=1))
    if std > 0:
        return mean, std, (value - mean) / std
    return mean, std, 0.0 if value == mean else math.copysign(math.inf, value - mean)


@takes_view
@takes_settings
def ncut_significance(
    network: NetworkLike,
    *,
    settings: ClusterSettings | None = None,
    n_clusters: int = 12,
    n_shuffles: int = 1000,
    shuffle: str = "layer",
    stop_after: int | None = None,
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
    client: ClientLike = None,
    input_shape: InputShape = None,
    view: str | None = None,
) -> Significance:
    """Cluster a network and test whether it is more modular than its shuffles.

    The network is clustered by :func:`spectral_cluster`; then ``n_shuffles``
    networks with each block's weights shuffled (each layer's, for an MLP) are
    clustered the same way (same k, label assignment and solver) in C++, in
    parallel over shuffles with the GIL released. The defaults make the network's
    n-cut, and so z and p, independent of the seed.

    Parameters
    ----------
    network : Network, list of 2-D arrays, torch module, state dict, path or scipy.sparse matrix
        As in :func:`spectral_cluster`.
    n_shuffles : int, default=1000
        Size of the null; the smallest reachable p-value is ``1 / (n_shuffles + 1)``.
    shuffle : str, default="layer"
        "layer": permute all entries of each block (zeros included).
        "layer_nonzero": permute only the non-zero values among the non-zero
        positions (the sparsity pattern stays).
        "layer_nonzero_distribution": keep the sparsity pattern, draw each
        non-zero from a Gaussian KDE (Scott's bandwidth) of the block's stored
        non-zeros: ``|w|`` for a torch model, state dict or file (every reader
        stores magnitudes), the values as given for arrays or a Network.
        "layer_all_distribution": positions as "layer", values as the KDE draw.
        A block from a group to itself (a precomputed adjacency) is shuffled
        over its upper triangle, so it stays symmetric.
    stop_after : int or None, default=None
        Sequential Monte Carlo test (Besag and Clifford 1991): stop the null
        once ``stop_after`` = h shuffled n-cuts are <= the network's, with
        p-value ``h / l`` after l shuffles; a network more modular than (almost)
        all its shuffles still gets all ``n_shuffles`` and the usual p-value.
        The p-value stays valid (P(p <= a) <= a under the null), and a
        non-modular network costs about ``h / p`` shuffles instead of
        ``n_shuffles``: h = 10 already tells p = 0.5 from p = 0.05 apart. Shuffles
        are taken in index order, so the stopping point, like everything else,
        does not depend on ``n_jobs``, chunks or a Dask cluster. None runs all
        ``n_shuffles``. The mean, std and z then describe the shuffles run.
    CLUSTER_SETTINGS_FIELDS
    seed : None, int or numpy.random.Generator, default=None
        None draws fresh entropy (the integer used is in the result). The whole
        result depends only on the seed: not on ``n_jobs``, nor on how the
        shuffles are split into chunks.
    n_jobs : int or None, default=None
        Threads (None: all cores; capped at the machine's cores): one shuffle
        each, or, from 2**21 edges, all inside one shuffle at a time, so that a
        large null holds one graph whatever the threads (about 2.7x the edges'
        12 bytes each).
    progress : None, bool or callable, default=None
        Show a progress bar (tqdm if installed); None shows it when stderr is a
        terminal; a callable gets ``(done, total)`` after each chunk.
    client : dask.distributed.Client, optional
        Run the shuffles on this Dask cluster (needs ``modcore[dask]``): the
        network is scattered to the workers once, the shuffle indices split
        into chunks, each chunk one C++ batch on a worker; the network itself
        is clustered here. The result is identical to the local run with the
        same seed, also when a worker dies mid-run (Dask recomputes its chunks
        elsewhere). ``n_jobs`` is then the threads of each chunk on a worker
        (None: 1, since each worker thread runs a chunk of its own).
    input_shape : tuple of int, optional
        For tracing a torch module, as in :func:`spectral_cluster`.
    view : {"blocks", "virtual"} or None, default None
        As in :func:`modcore.spectral_cluster`: ``"blocks"`` returns ``{MLP name:
        Significance}``.

    Returns
    -------
    Significance

    Warns
    -----
    FloatingUnitsWarning
        As :func:`spectral_cluster`.

    Raises
    ------
    ValueError, TypeError
        As :func:`spectral_cluster`, plus an unknown ``shuffle``, ``n_shuffles``
        outside [1, 10**7], ``stop_after`` outside [1, n_shuffles], or a
        ``client`` that is not a ``dask.distributed.Client``.
    KeyboardInterrupt
        On Ctrl-C, within about a second; nothing is left running. With a
        ``client`` the pending chunks are cancelled; chunks already running on
        workers finish there (each lasts seconds at most).

    Examples
    --------
    >>> import modcore
    >>> from modcore.network.synthetic import planted_modular_mlp
    >>> w, _ = planted_modular_mlp([40, 40, 40], n_modules=4, seed=0)
    >>> modcore.ncut_significance(w, n_clusters=4, n_shuffles=19, seed=0, progress=False).p_value
    0.05
    """
    network = as_network(network, input_shape=input_shape, view=view)
    assert settings is not None  # made by @takes_settings
    shuffle = check_shuffle(shuffle)
    n_shuffles = check_positive_int(n_shuffles, "n_shuffles", maximum=MAX_SHUFFLES)
    if stop_after is not None:
        stop_after = check_positive_int(stop_after, "stop_after", maximum=n_shuffles)
    if client is not None:
        from .distributed import check_client, shuffled_scores_on_cluster

        client = check_client(client)
        chunk_jobs = 1 if n_jobs is None else check_n_jobs(n_jobs)
    n_jobs = check_n_jobs(n_jobs)
    seed = check_seed(seed)
    clustering = cluster_network(network, settings, seed, n_jobs)
    warn_floating(clustering)
    stop = None if stop_after is None else (clustering.ncut, stop_after)
    if client is None:
        null = shuffled_scores(
            network, shuffle, n_shuffles, settings, seed, n_jobs, progress, stop=stop
        )
    else:
        null = shuffled_scores_on_cluster(
            client,
            network,
            shuffle,
            n_shuffles,
            settings,
            seed,
            n_jobs=chunk_jobs,
            progress=progress,
            stop=stop,
        )
    return significance_of(
        clustering,
        null.ncut[:, 0],
        shuffle,
        modularity=null.modularity[:, 0],
        dropped=null.dropped,
        stop_after=stop_after,
        max_shuffles=n_shuffles,
    )


def in_out_ratio(ncut, k: int):
    """The authors' mean in/out ratio ``(1 - ncut/k) / (2 ncut/k)`` (inf at ncut 0).

    For k alike modules of cut c and volume v (ncut = k c / v), the weight of the
    edges inside a module is (v - c) / 2 and the weight leaving it c.
    """
    ncut = np.asarray(ncut, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return (1 - ncut / k) / (2 * ncut / k)


def sequential_p_value(
    null: np.ndarray, observed: float, stop_after: int, max_shuffles: int
) -> tuple:
    """Besag and Clifford's (1991) sequential Monte Carlo p-value, and the draws it uses.

    Draws are taken in order until ``stop_after`` = h of them are <= ``observed``
    (as extreme as the network, here: as modular), at draw l: p = h / l; if fewer
    than h are among all ``max_shuffles`` draws, p = (1 + #hits) / (max_shuffles
    + 1), the fixed-size p-value. ``null`` holds at least the draws up to the
    stopping point (later ones are ignored). Returns ``(p, l)``.
    """
    hits = np.flatnonzero(null <= observed)
    if len(hits) >= stop_after:
        used = int(hits[stop_after - 1]) + 1
        return stop_after / used, used
    if len(null) < max_shuffles:
        raise ValueError(
            f"{len(null)} draws with {len(hits)} hits: the sequential test "
            f"needs {stop_after} hits or all {max_shuffles} draws"
        )
    return (1 + len(hits)) / (max_shuffles + 1), max_shuffles


def significance_of(
    clustering: Clustering,
    ncuts: np.ndarray,
    shuffle: str,
    *,
    modularity=None,
    dropped=None,
    stop_after=None,
    max_shuffles=None,
) -> Significance:
    """The statistics of a network's n-cut against its null (also used by the sweep).

    ``modularity`` holds the shuffles' Q (NaN statistics without it), ``dropped``
    the units each shuffled graph left out (-1 without it); with ``stop_after``,
    ``ncuts`` may run past the sequential test's stopping point and is cut there.
    """
    max_shuffles = len(ncuts) if max_shuffles is None else max_shuffles
    if dropped is None:
        dropped = np.full(len(ncuts), -1, dtype=np.int64)
    if stop_after is not None:
        p_value, used = sequential_p_value(ncuts, clustering.ncut, stop_after, max_shuffles)
        ncuts = ncuts[:used]
        dropped = dropped[:used]
        modularity = None if modularity is None else modularity[:used]
    at_most = int(np.count_nonzero(ncuts <= clustering.ncut))
    if stop_after is None:
        p_value = (1 + at_most) / (len(ncuts) + 1)
    if modularity is None:
        modularity, modularity_z = np.full(len(ncuts), np.nan), math.nan
    else:
        modularity_z = null_stats(clustering.modularity, modularity)[2]
    n_shuffles = len(ncuts)
    mean, std, z = null_stats(clustering.ncut, ncuts)
    k = clustering.n_clusters
    return Significance(
        ncut=clustering.ncut,
        labels=clustering.labels,
        shuffled_ncuts=ncuts,
        shuffled_mean=mean,
        shuffled_std=std,
        z_score=z,
        p_value=p_value,
        percentile=100.0 * at_most / n_shuffles,
        modularity=clustering.modularity,
        shuffled_modularity=modularity,
        modularity_z=modularity_z,
        in_out_ratio=float(in_out_ratio(clustering.ncut, k)),
        shuffled_in_out_ratio=float(np.median(in_out_ratio(ncuts, k))),
        cohens_d=z,
        n_shuffles=n_shuffles,
        max_shuffles=max_shuffles,
        stop_after=stop_after,
        shuffle=shuffle,
        n_clusters=k,
        n_init=clustering.n_init,
        seed=clustering.seed,
        drop=clustering.drop,
        normalize=clustering.normalize,
        n_dropped=clustering.n_dropped,
        shuffled_n_dropped=np.asarray(dropped, dtype=np.int64),
        clustering=clustering,
    )
