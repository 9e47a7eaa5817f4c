"""Is the network more modular than chance? Its n-cut against shuffled networks."""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass

import numpy as np

from . import _core
from .cluster import Clustering, ClusterSettings, check_settings, cluster_network
from .io import check_n_jobs, check_positive_int, check_seed
from .network import Network, as_network
from .progress import Progress

__all__ = ["SHUFFLES", "Significance", "ncut_significance", "shuffled_network",
           "shuffled_weights"]

SHUFFLES = ("layer", "layer_nonzero", "layer_nonzero_distribution", "layer_all_distribution")

# Each C++ call (during which Ctrl-C waits) is sized to last about this long.
_CHUNK_SECONDS = 0.5


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
        than the shuffles. ±inf (or 0 when equal) if the shuffled n-cuts are all equal.
    p_value : float
        ``(1 + #{shuffled <= ncut}) / (n_shuffles + 1)``: one-sided, never 0.
    percentile : float
        Percentage of shuffled n-cuts that are <= ``ncut``.
    """

    ncut: float
    labels: list
    shuffled_ncuts: np.ndarray
    shuffled_mean: float
    shuffled_std: float
    z_score: float
    p_value: float
    percentile: float
    n_shuffles: int
    shuffle: str
    n_clusters: int
    n_init: int
    seed: int
    clustering: Clustering

    def to_dict(self) -> dict:
        """Plain Python values for JSON; an infinite z-score becomes "inf" or "-inf",
        which strict JSON readers accept (json.dumps would write bare Infinity)."""
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "clustering"}
        if not math.isfinite(self.z_score):
            d["z_score"] = str(self.z_score)
        d["labels"] = [lab.tolist() for lab in self.labels]
        d["shuffled_ncuts"] = self.shuffled_ncuts.tolist()
        d["eigenvalues"] = self.clustering.eigenvalues.tolist()
        d["eigen_method"] = self.clustering.eigen_method
        d["group_names"] = list(self.clustering.group_names)
        return d

    def __repr__(self) -> str:
        return (
            f"Significance(ncut={self.ncut:.4f}, shuffled={self.shuffled_mean:.4f} ± "
            f"{self.shuffled_std:.4f}, z={self.z_score:.2f}, p={self.p_value:.4g}, "
            f"n_shuffles={self.n_shuffles}, shuffle={self.shuffle!r}, "
            f"n_clusters={self.n_clusters}, seed={self.seed})"
        )


def null_stats(value: float, sample: np.ndarray) -> tuple:
    """Mean and sample std (ddof=1) of a null sample, and value's z-score in it.

    With std 0 the z-score is 0 when value equals the mean, else +-inf.
    """
    mean = float(sample.mean())
    std = float(sample.std(ddof=1)) if len(sample) > 1 else 0.0
    if std > 0:
        return mean, std, (value - mean) / std
    return mean, std, 0.0 if value == mean else math.copysign(math.inf, value - mean)


def check_shuffle(shuffle: str) -> str:
    if shuffle not in SHUFFLES:
        raise ValueError(f"shuffle must be one of {SHUFFLES}, got {shuffle!r}")
    return shuffle


MAX_SHUFFLES = 10_000_000


def ncut_significance(
    network,
    *,
    n_clusters: int = 12,
    n_shuffles: int = 1000,
    shuffle: str = "layer",
    n_init: int = 10,
    max_iter: int = 300,
    tol: float = 1e-6,
    eigen_method: str = "auto",
    seed=None,
    n_jobs=None,
    progress=None,
    client=None,
    input_shape=None,
) -> Significance:
    """Cluster a network and test whether it is more modular than its shuffles.

    The network is clustered by :func:`spectral_cluster`; then ``n_shuffles``
    networks with each block's weights shuffled (each layer's, for an MLP) are
    clustered the same way (same k, n_init and solver) in C++, in parallel over
    shuffles with the GIL released.

    Parameters
    ----------
    network : Network, list of 2-D arrays, scipy.sparse matrix, torch module or path
        As in :func:`spectral_cluster`.
    n_clusters : int, default=12
        Number of modules k.
    n_shuffles : int, default=1000
        Size of the null; the smallest reachable p-value is ``1 / (n_shuffles + 1)``.
    shuffle : str, default="layer"
        "layer": permute all entries of each block (zeros included).
        "layer_nonzero": permute only the non-zero values among the non-zero
        positions (the sparsity pattern stays).
        "layer_nonzero_distribution": keep the sparsity pattern, draw each
        non-zero from a Gaussian KDE (Scott's bandwidth) of the block's non-zeros.
        "layer_all_distribution": positions as "layer", values as the KDE draw.
        A block from a group to itself (a precomputed adjacency) is shuffled
        over its upper triangle, so it stays symmetric.
    n_init : int, default=10
        k-means restarts, for the network and for every shuffle.
    max_iter, tol, eigen_method
        As in :func:`spectral_cluster`.
    seed : None, int or numpy.random.Generator, default=None
        None draws fresh entropy (the integer used is in the result). The whole
        result depends only on the seed: not on ``n_jobs``, nor on how the
        shuffles are split into chunks.
    n_jobs : int or None, default=None
        Threads (None: all cores; capped at the machine's cores).
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

    Returns
    -------
    Significance

    Raises
    ------
    ValueError, TypeError
        As :func:`spectral_cluster`, plus an unknown ``shuffle``, ``n_shuffles``
        outside [1, 10**7], or a ``client`` that is not a
        ``dask.distributed.Client``.
    KeyboardInterrupt
        On Ctrl-C, within about a second; nothing is left running. With a
        ``client`` the pending chunks are cancelled; chunks already running on
        workers finish there (each lasts seconds at most).

    Examples
    --------
    >>> import modcore
    >>> from modcore.synthetic import planted_modular_mlp
    >>> w, _ = planted_modular_mlp([40, 40, 40], n_modules=4, seed=0)
    >>> modcore.ncut_significance(w, n_clusters=4, n_shuffles=19, seed=0, progress=False).p_value
    0.05
    """
    network = as_network(network, input_shape=input_shape)
    settings = check_settings(n_clusters=n_clusters, n_init=n_init, max_iter=max_iter, tol=tol,
                              eigen_method=eigen_method)
    shuffle = check_shuffle(shuffle)
    n_shuffles = check_positive_int(n_shuffles, "n_shuffles", maximum=MAX_SHUFFLES)
    if client is not None:
        from .distributed import check_client, shuffled_ncuts_on_cluster
        client = check_client(client)
        chunk_jobs = 1 if n_jobs is None else check_n_jobs(n_jobs)
    n_jobs = check_n_jobs(n_jobs)
    seed = check_seed(seed)
    clustering = cluster_network(network, settings, seed, n_jobs)
    if client is None:
        ncuts = shuffled_ncuts(network, shuffle, n_shuffles, settings, seed, n_jobs, progress)
    else:
        ncuts = shuffled_ncuts_on_cluster(client, network, shuffle, n_shuffles, settings, seed,
                                          n_jobs=chunk_jobs, progress=progress)
    return significance_of(clustering, ncuts, shuffle)


def significance_of(clustering: Clustering, ncuts: np.ndarray, shuffle: str) -> Significance:
    """The statistics of a network's n-cut against its null (also used by the sweep)."""
    n_shuffles = len(ncuts)
    mean, std, z = null_stats(clustering.ncut, ncuts)
    at_most = int(np.count_nonzero(ncuts <= clustering.ncut))
    return Significance(
        ncut=clustering.ncut,
        labels=clustering.labels,
        shuffled_ncuts=ncuts,
        shuffled_mean=mean,
        shuffled_std=std,
        z_score=z,
        p_value=(1 + at_most) / (n_shuffles + 1),
        percentile=100.0 * at_most / n_shuffles,
        n_shuffles=n_shuffles,
        shuffle=shuffle,
        n_clusters=clustering.n_clusters,
        n_init=clustering.n_init,
        seed=clustering.seed,
        clustering=clustering,
    )


def shuffled_ncuts(network: Network, shuffle: str, n_shuffles: int, settings: ClusterSettings,
                   seed: int, n_jobs: int, progress, chunk_size=None) -> np.ndarray:
    """Run the null in chunks: Ctrl-C is seen between chunks and progress shown.

    Shuffle s always uses the streams of index s, so chunking never changes a result.
    ``chunk_size`` fixes the chunks (tests); by default they are sized to ~0.5 s.
    """
    sizes, blocks = network.to_core()
    out = np.empty(n_shuffles)
    bar = Progress(n_shuffles, f"{shuffle} shuffles", progress)
    try:
        done, size = 0, chunk_size or n_jobs
        while done < n_shuffles:
            count = min(size, n_shuffles - done)
            start = time.perf_counter()
            out[done:done + count] = _core.shuffled_ncuts(
                sizes, blocks, shuffle, done, count, *settings.core_args(), seed, n_jobs)
            done += count
            bar.update(count)
            if chunk_size is None:
                per_shuffle = (time.perf_counter() - start) / count
                size = max(n_jobs, int(_CHUNK_SECONDS / max(per_shuffle, 1e-6)) // n_jobs * n_jobs)
    finally:
        bar.close()
    return out


def shuffled_network(network, *, shuffle: str = "layer", seed=None, index: int = 0,
                     input_shape=None) -> Network:
    """The ``index``-th shuffled network of the null drawn with ``seed``.

    Exactly the network whose n-cut is ``ncut_significance(network,
    shuffle=shuffle, seed=seed).shuffled_ncuts[index]``; for inspecting and
    plotting the null.

    Parameters
    ----------
    network : Network, list of 2-D arrays, scipy.sparse matrix, torch module or path
        As in :func:`spectral_cluster`.
    shuffle : str, default="layer"
        One of :data:`SHUFFLES`, as in :func:`ncut_significance`.
    seed : None, int or numpy.random.Generator, default=None
        The seed of the null (an int to reproduce a given null; None draws one).
    index : int, default=0
        Which shuffled network of the null, 0 <= index < 2**63.
    input_shape : tuple of int, optional
        For tracing a torch module.

    Returns
    -------
    Network
        Same groups and block shapes; each block's entries shuffled.

    Examples
    --------
    >>> import numpy as np, modcore
    >>> w = [np.arange(6.0).reshape(2, 3)]
    >>> net = modcore.shuffled_network(w, shuffle="layer", seed=0)
    >>> np.sort(net.chain_weights()[0], axis=None).tolist()
    [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    """
    network = as_network(network, input_shape=input_shape)
    shuffle = check_shuffle(shuffle)
    index = check_positive_int(index, "index", minimum=0, maximum=2**63 - 1)
    sizes, blocks = network.to_core()
    shuffled = _core.shuffled_network(sizes, blocks, shuffle, check_seed(seed), index)
    return network.with_block_entries(shuffled)


def shuffled_weights(weights, *, shuffle: str = "layer", seed=None, index: int = 0) -> list:
    """The ``index``-th shuffled network of a chain, as dense ``(n_l, n_{l+1})`` arrays.

    :func:`shuffled_network` for MLPs given as weight matrices.

    Parameters
    ----------
    weights : list of 2-D arrays
        The chain, ``weights[l]`` of shape ``(n_l, n_{l+1})``.
    shuffle, seed, index
        As in :func:`shuffled_network`.

    Returns
    -------
    list of numpy.ndarray
        The shuffled matrices, float64.

    Examples
    --------
    >>> import numpy as np, modcore
    >>> w = [np.arange(6.0).reshape(2, 3)]
    >>> np.sort(modcore.shuffled_weights(w, shuffle="layer", seed=0)[0], axis=None).tolist()
    [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    """
    return shuffled_network(Network.from_weights(weights), shuffle=shuffle, seed=seed,
                            index=index).chain_weights()
