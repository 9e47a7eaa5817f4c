"""The shuffle null: shuffled networks, and the scores of their partitions in chunks that
Ctrl-C and the progress bar see between (used by the significance test, k curves, sweeps and
the dask path)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from .._core import (
    shuffled_network as core_shuffled_network,
)
from .._core import (
    shuffled_scores as core_shuffled_scores,
)
from ..common.progress import Progress
from ..common.types import InputShape, NetworkLike, SeedLike
from ..common.warn import warn_user
from ..network.checks import check_positive_int, check_seed
from ..network.convert import as_network
from ..network.network import Network
from .settings import ClusterSettings

__all__ = ["SHUFFLES", "shuffled_network"]

SHUFFLES = ("layer", "layer_nonzero", "layer_nonzero_distribution", "layer_all_distribution")

MAX_SHUFFLES = 10_000_000

# Each C++ call (during which Ctrl-C waits) is sized to last about this long.
_CHUNK_SECONDS = 0.5


def check_shuffle(shuffle: str) -> str:
    if shuffle not in SHUFFLES:
        raise ValueError(f"shuffle must be one of {SHUFFLES}, got {shuffle!r}")
    return shuffle


@dataclass(frozen=True)
class NullScores:
    """Scores of the shuffled networks' partitions: row s is shuffle s, column j is ks[j];
    ``dropped[s]`` the units shuffled network s left out."""

    ncut: np.ndarray
    modularity: np.ndarray
    dropped: np.ndarray


def shuffled_scores(
    network: Network,
    shuffle: str,
    n_shuffles: int,
    settings: ClusterSettings,
    seed: int,
    n_jobs: int,
    progress,
    *,
    ks=None,
    stop=None,
    chunk_size=None,
) -> NullScores:
    """Run the null in chunks: Ctrl-C is seen between chunks and progress shown.

    Each shuffled network is clustered at every k of ``ks`` (default
    ``[settings.n_clusters]``) from one embedding. Shuffle s always uses the
    streams of index s, so chunking never changes a result. ``stop = (ncut,
    h)`` ends the null after the chunk in which h shuffled n-cuts (at the first
    k) are <= ncut (the sequential test; rows past that point may follow).
    ``chunk_size`` fixes the chunks (tests); by default they are sized to ~0.5 s.
    """
    sizes, blocks = network.to_core()
    ks = [settings.n_clusters] if ks is None else list(ks)
    # core_args()[0] is n_clusters, replaced here by the list ks.
    args = settings.core_args()[1:]
    ncut = np.empty((n_shuffles, len(ks)))
    modularity = np.empty((n_shuffles, len(ks)))
    dropped = np.empty(n_shuffles, dtype=np.int64)
    bar = Progress(n_shuffles, f"{shuffle} shuffles", progress)
    hits = 0
    try:
        done, size = 0, chunk_size or n_jobs
        while done < n_shuffles:
            count = min(size, n_shuffles - done)
            start = time.perf_counter()
            part = slice(done, done + count)
            ncut[part], modularity[part], dropped[part] = core_shuffled_scores(
                sizes,
                blocks,
                shuffle,
                done,
                count,
                ks,
                *args,
                seed,
                n_jobs,
                **settings.graph_args(),
            )
            done += count
            bar.update(count)
            if stop is not None:
                hits += int(np.count_nonzero(ncut[part, 0] <= stop[0]))
                if hits >= stop[1]:
                    break
            if chunk_size is None:
                per_shuffle = (time.perf_counter() - start) / count
                size = max(n_jobs, int(_CHUNK_SECONDS / max(per_shuffle, 1e-6)) // n_jobs * n_jobs)
    finally:
        bar.close()
    return NullScores(ncut[:done], modularity[:done], dropped[:done])


def shuffled_network(
    network: NetworkLike,
    *,
    shuffle: str = "layer",
    seed: SeedLike = None,
    index: int = 0,
    input_shape: InputShape = None,
) -> Network:
    """The ``index``-th shuffled network of the null drawn with ``seed``.

    Exactly the network whose n-cut is ``ncut_significance(network,
    shuffle=shuffle, seed=seed).shuffled_ncuts[index]``; for inspecting and
    plotting the null.

    Parameters
    ----------
    network : Network, list of 2-D arrays, torch module, state dict, path or scipy.sparse matrix
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
    shuffled = core_shuffled_network(sizes, blocks, shuffle, check_seed(seed), index)
    return network.with_block_entries(shuffled)


def shuffled_weights(
    weights: NetworkLike,
    *,
    shuffle: str = "layer",
    seed: SeedLike = None,
    index: int = 0,
) -> list:
    """Deprecated: ``shuffled_network(...).chain_weights()`` (the same matrices).

    The ``index``-th shuffled network of a chain, as dense ``(n_l, n_{l+1})`` arrays.

    Parameters
    ----------
    weights : list of 2-D arrays, torch.nn.Module, state dict or path
        A chain: ``weights[l]`` of shape ``(n_l, n_{l+1})``, or an MLP in any
        form :func:`spectral_cluster` takes (a module, a state dict, a weight
        file path, a :class:`modcore.Network` that is a chain).
    shuffle, seed, index
        As in :func:`shuffled_network`.

    Returns
    -------
    list of numpy.ndarray
        The shuffled matrices, float64.

    Warns
    -----
    DeprecationWarning
        Always: ``modcore.shuffled_network`` is the one public function.

    Raises
    ------
    ValueError
        If the network is not a chain of layers (use :func:`shuffled_network`).
    """
    warn_user(
        "modcore.shuffled_weights is deprecated; use "
        "modcore.shuffled_network(...).chain_weights(), the same matrices",
        DeprecationWarning,
    )
    network = as_network(weights)
    if not network.is_chain:
        raise ValueError(
            "shuffled_weights returns a chain's weight matrices, and this network is not a "
            "chain of layers: use modcore.shuffled_network"
        )
    return shuffled_network(network, shuffle=shuffle, seed=seed, index=index).chain_weights()
