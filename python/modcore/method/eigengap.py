"""Choosing k from the spectrum: the eigengap of the normalized Laplacian's smallest
eigenvalues, against the same gaps of shuffled networks (:func:`eigengap`)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np

from .._core import MAX_LANCZOS_VECTORS
from .._core import (
    graph as core_graph,
)
from .._core import (
    shuffled_network as core_shuffled_network,
)
from .._core import (
    spectral_embedding as core_spectral_embedding,
)
from ..common.types import InputShape, NetworkLike, SeedLike
from ..common.warn import warn_user
from ..network.checks import check_n_jobs, check_positive_int, check_seed
from ..network.convert import as_network
from ..network.transformer import takes_view
from .cluster import warn_floating
from .null import MAX_SHUFFLES, check_shuffle
from .settings import ClusterSettings, takes_settings

#: Most eigenvalues the eigengap reads: the bottom of the spectrum, within what Lanczos
#: computes on any graph too large for a dense eigendecomposition (cpp's limits.hpp).
MAX_EIGENGAP_K = MAX_LANCZOS_VECTORS

__all__ = ["Eigengap", "EigengapWarning", "eigengap"]

# A gap "stands out" when it is at least _MIN_GAP and _NULL_RATIO times the
# largest gap at the same k among the shuffled networks, or, without shuffles,
# _SECOND_RATIO times the second largest gap. Chosen on planted and random nets
# (tests/test_analysis.py): planted modules give 15-35 times their shuffles' gap
# and 2-8 times their second gap; random nets 0.7-1.5 times their shuffles'.
_MIN_GAP = 0.1
_NULL_RATIO = 2.0
_SECOND_RATIO = 1.5
# Against shuffles, a suggestion is clear only without a rival: another k whose gap is at
# least _RIVAL_GAP and _RIVAL_RATIO times its shuffles' largest. Chosen on the planted nets
# of benchmarks/bench_eigengap.py: deep nets (5 layers) at noise 0.2-0.3 put the largest
# gap at the wrong k with a rival gap of 0.08-0.1 at 10-34 times its shuffles', while no
# right clear suggestion had another gap both above 0.05 and 4.7 times its shuffles'.
_RIVAL_GAP = 0.05
_RIVAL_RATIO = 5.0


class EigengapWarning(UserWarning):
    """No k stands out in the spectrum: the eigengap suggestion is arbitrary."""


@dataclass(frozen=True, repr=False)
class Eigengap:
    """The normalized Laplacian's smallest eigenvalues and the k their gaps suggest.

    Attributes
    ----------
    eigenvalues : array of shape (max_k,)
        The smallest eigenvalues of the normalized Laplacian ``I - D^-1/2 A
        D^-1/2`` of the live units, ascending (``1 -`` those of the normalized
        adjacency); one 0 per connected component.
    ks : array of int
        The candidate k: 2 .. max_k - 1.
    relative_gaps : array
        For each candidate k, ``(l[k+1] - l[k]) / l[k+1]`` with ``l[1] <= l[2]
        <= ...`` the eigenvalues (1-based): the share of the (k+1)-th eigenvalue
        that lies above the k-th (0 where both are 0).
    shuffled_gaps : array of shape (n_shuffles, len(ks))
        The same for each shuffled network.
    k : int
        The suggestion: the candidate whose relative gap exceeds the shuffled
        networks' mean gap at that k the most (without shuffles: the largest
        relative gap); the smallest such k on ties.
    clear : bool
        Whether the gap at ``k`` stands out and no other k's gap stands out or
        rivals it (see :func:`eigengap`).
    stand_out : array of int
        Every k whose gap stands out (``k`` among them when it does), or, with
        shuffles, rivals it (at least 0.05 and five times its shuffles' largest gap).
    n_components : int
        Connected components of the graph of live units.
    eigen_method : str
        The eigensolver used, as in :class:`modcore.Clustering`.
    network_fingerprint : str
        :attr:`Network.fingerprint` of the network measured.
    """

    eigenvalues: np.ndarray
    ks: np.ndarray
    relative_gaps: np.ndarray
    shuffled_gaps: np.ndarray
    k: int
    clear: bool
    stand_out: np.ndarray
    n_components: int
    eigen_method: str
    network_fingerprint: str = ""

    def to_dict(self) -> dict:
        return {
            "eigenvalues": self.eigenvalues.tolist(),
            "ks": self.ks.tolist(),
            "relative_gaps": self.relative_gaps.tolist(),
            # null where a shuffle had too few live units to reach k (strict JSON has no NaN)
            "shuffled_gaps": [
                [None if np.isnan(g) else float(g) for g in row] for row in self.shuffled_gaps
            ],
            "k": self.k,
            "clear": self.clear,
            "stand_out": self.stand_out.tolist(),
            "n_components": self.n_components,
            "eigen_method": self.eigen_method,
            "network_fingerprint": self.network_fingerprint,
        }

    def __repr__(self) -> str:
        return (
            f"Eigengap(k={self.k}, relative gap={self.relative_gaps[self.k - 2]:.3f}, "
            f"clear={self.clear}, max_k={len(self.eigenvalues)}, "
            f"n_shuffles={len(self.shuffled_gaps)}, n_components={self.n_components})"
        )


@takes_view
@takes_settings
def eigengap(
    network: NetworkLike,
    *,
    settings: ClusterSettings | None = None,
    max_k: int = 30,
    n_shuffles: int = 19,
    shuffle: str = "layer",
    tol: float = 1e-5,
    eigen_method: str = "auto",
    drop: str = "isolated",
    normalize: str | None = None,
    seed: SeedLike = None,
    n_jobs: int | None = None,
    input_shape: InputShape = None,
    view: str | None = None,
) -> Eigengap:
    """Suggest a number of modules k from the eigengap of the normalized Laplacian.

    A heuristic. With k well-separated modules the normalized Laplacian has k
    eigenvalues near 0 and a jump to the (k+1)-th, measured here as the
    relative gap ``(l[k+1] - l[k]) / l[k+1]`` for 2 <= k < max_k. A network's
    layout alone also makes gaps: a deep chain of layers has one at k = 2
    (its units ordered by depth), shared by every network of that shape. So
    the gaps are compared with those of ``n_shuffles`` shuffled networks
    (shuffled as in :func:`modcore.ncut_significance`): the suggestion is the
    k whose gap exceeds the shuffles' mean gap the most. A gap stands out when
    it is at least 0.1 and twice the largest shuffled gap at its k, and the
    suggestion is clear when its gap stands out and no other k has a rival
    gap (at least 0.05 and five times its shuffles' largest): modules of very
    different sizes or separations (three large and two small ones), or deep
    modules that split by depth, make gaps at several k, and then no single k
    is the answer. With ``n_shuffles=0`` the suggestion is the largest gap,
    clear when at least 0.1 and 1.5 times the second largest. When it is not clear (random
    networks, trained ones whose modules are mild, several scales of modules)
    an :class:`EigengapWarning` says why; compare k by :func:`ncut_curve`
    instead. How often it finds planted modules, and how far ``clear`` can be
    trusted, was measured on 350 planted and 15 random nets
    (benchmarks/README.md, "The eigengap"; 3 and 5 layers, equal and unequal
    module sizes, noise 0.01 to 0.3): 71 of the 82 clear suggestions were the
    planted k, and so was every clear suggestion on a net whose planted
    modules clustering at the planted k recovers; the other 11 were three
    large modules with two of 3 units at noise >= 0.1, which drown (clustering
    at k = 5 does not recover them either), and k = 3 counts the large ones.
    No random net was clear. Deep modules (5 layers) were never
    clear (they split by depth and give rival gaps), nor, but for those 11,
    were nets with unequal module sizes: ``clear=False`` does not mean k is
    wrong, only that the spectrum alone does not settle it.
    A graph with c > 1 connected components has c zero eigenvalues and so a
    relative gap of 1 at k = c; networks whose modules are themselves deep
    chains may show a gap at twice the number of modules.

    Parameters
    ----------
    network : Network, list of 2-D arrays, torch module, state dict, path or scipy.sparse matrix
        As in :func:`modcore.spectral_cluster`.
    max_k : int, default=30
        Eigenvalues to compute, in [3, 500] (``eigengap.MAX_EIGENGAP_K``; capped
        at the number of live units).
    n_shuffles : int, default=19
        Shuffled networks to compare the gaps with (one eigensolve each); 0 for none.
    shuffle : str, default="layer"
        How to shuffle, as in :func:`modcore.ncut_significance`.
    CLUSTER_SETTINGS_FIELDS
    seed : None, int or numpy.random.Generator, default=None
        Seeds the shuffles (the eigenvalues depend on the graph alone).
    n_jobs : int or None, default=None
        Threads of each eigensolve (None: all cores; capped at the machine's cores),
        used, as in :func:`modcore.spectral_cluster`, by networks of 2**21 edges or
        more, which split each product among them; the result does not depend on it.
    input_shape : tuple of int, optional
        For tracing a torch module, as in :func:`modcore.spectral_cluster`.
    view : {"blocks", "virtual"} or None, default None
        As in :func:`modcore.spectral_cluster`: ``"blocks"`` returns ``{MLP name:
        Eigengap}``.

    Returns
    -------
    Eigengap

    Warns
    -----
    EigengapWarning
        When the suggested k does not stand out.

    Raises
    ------
    ValueError, TypeError
        An invalid network or parameter, or fewer than 3 live units.
    RuntimeError
        If the eigensolver does not converge.

    Examples
    --------
    >>> import modcore
    >>> from modcore.network.synthetic import planted_modular_mlp
    >>> w, _ = planted_modular_mlp([30, 30, 30], n_modules=5, seed=0)
    >>> modcore.eigengap(w, max_k=10, seed=0).k
    5
    """
    network = as_network(network, input_shape=input_shape, view=view)
    max_k = check_positive_int(max_k, "max_k", minimum=3, maximum=MAX_EIGENGAP_K)
    n_shuffles = check_positive_int(n_shuffles, "n_shuffles", minimum=0, maximum=MAX_SHUFFLES)
    shuffle = check_shuffle(shuffle)
    assert settings is not None  # made by @takes_settings
    graph_args = settings.graph_args()
    seed = check_seed(seed)
    n_jobs = check_n_jobs(n_jobs)
    sizes, blocks = network.to_core()
    graph = core_graph(sizes, blocks, **graph_args)
    warn_floating(
        SimpleNamespace(
            drop=drop,
            n_floating=graph["n_floating"],
            n_unreachable=graph["n_unreachable"],
            group_names=network.names,
        )
    )
    n_live = int(np.count_nonzero(graph["degree"]))
    if n_live < 3:
        raise ValueError(f"the network has {n_live} units with edges; the eigengap needs >= 3")
    max_k = min(max_k, n_live)
    res = core_spectral_embedding(
        sizes, blocks, max_k, tol, eigen_method, **graph_args, n_jobs=n_jobs
    )
    lam = _laplacian_eigenvalues(res["eigenvalues"])
    ks = np.arange(2, max_k)
    gaps = _relative_gaps(lam, ks)
    null = np.empty((n_shuffles, len(ks)))
    for s in range(n_shuffles):
        shuffled = network.with_block_entries(
            core_shuffled_network(sizes, blocks, shuffle, seed, s)
        )
        # Rescaled and pruned by the drop rule after shuffling, as in ncut_significance.
        live = core_graph(*shuffled.to_core(), **graph_args)["degree"]
        k_s = min(max_k, int(np.count_nonzero(live)))
        null_lam = _laplacian_eigenvalues(
            core_spectral_embedding(
                *shuffled.to_core(), k_s, tol, eigen_method, **graph_args, n_jobs=n_jobs
            )["eigenvalues"]
        )
        # A shuffle with fewer live units than max_k has no gaps beyond them.
        null[s] = np.nan
        null[s, ks < k_s] = _relative_gaps(null_lam, ks[ks < k_s])
    if n_shuffles:
        with warnings.catch_warnings():  # columns of NaN only: no shuffle reached that k
            warnings.simplefilter("ignore", RuntimeWarning)
            mean, top = np.nanmean(null, axis=0), np.nanmax(null, axis=0)
        best = int(np.argmax(gaps - np.nan_to_num(mean)))
        ratio, against = _NULL_RATIO, "its shuffles' largest gap at that k"
        reference = np.nan_to_num(top)
        needed = np.maximum(_MIN_GAP, ratio * reference)
        stands = gaps >= needed
        rivals = gaps >= np.maximum(_RIVAL_GAP, _RIVAL_RATIO * reference)
    else:
        best = int(np.argmax(gaps))
        ratio, against = _SECOND_RATIO, "the second largest gap"
        reference = np.full(len(gaps), np.max(np.delete(gaps, best), initial=0.0))
        needed = np.maximum(_MIN_GAP, ratio * reference)
        stands = np.zeros(len(gaps), dtype=bool)  # by definition, at most the largest
        stands[best] = gaps[best] >= needed[best]
        rivals = stands
    others = [int(i) for i in np.flatnonzero(stands | rivals) if i != best]
    clear = bool(stands[best]) and not others
    if not stands[best]:
        gap_text = (
            f"no eigengap stands out among k = 2..{max_k - 1}: the relative gap at k = "
            f"{ks[best]} is {gaps[best]:.3f}; standing out needs at least {_MIN_GAP} and "
            f"{ratio} x {against} ({reference[best]:.3f})"
        )
        if needed[best] > 1:
            gap_text += f", {needed[best]:.3f}: no relative gap can (they are at most 1)"
        else:
            gap_text += f": {needed[best]:.3f}"
        warn_user(
            f"{gap_text}; the suggested k is arbitrary: compare k with modcore.ncut_curve",
            EigengapWarning,
        )
    elif others:
        listed = ", ".join(f"k = {ks[i]} ({gaps[i]:.3f})" for i in [best, *others])
        warn_user(
            f"eigengaps stand out at several k: {listed} (relative gaps; k = {ks[best]}'s at "
            f"least {_MIN_GAP} and {ratio} x {against}, the others' at least {_RIVAL_GAP} "
            f"and {_RIVAL_RATIO:g} x theirs): the network has modules at more than one "
            f"scale, and k = {ks[best]}, the largest excess over the shuffles' gaps, is one "
            "of them; compare these k with modcore.ncut_curve",
            EigengapWarning,
        )
    return Eigengap(
        eigenvalues=lam,
        ks=ks,
        relative_gaps=gaps,
        shuffled_gaps=null,
        k=int(ks[best]),
        clear=clear,
        stand_out=ks[stands | rivals],
        n_components=int(res["n_components"]),
        eigen_method=str(res["eigen_method"]),
        network_fingerprint=network.fingerprint,
    )


def _laplacian_eigenvalues(adjacency_eigenvalues) -> np.ndarray:
    """Ascending normalized-Laplacian eigenvalues from the normalized adjacency's
    descending ones (1 - 1.0 is exactly 0 for the component indicators)."""
    return np.clip(1.0 - np.asarray(adjacency_eigenvalues, dtype=np.float64), 0.0, 2.0)


def _relative_gaps(lam: np.ndarray, ks: np.ndarray) -> np.ndarray:
    upper, lower = lam[ks], lam[ks - 1]
    safe = np.where(upper > 0, upper, 1.0)
    return np.where(upper > 0, (upper - lower) / safe, 0.0)
