"""Choosing k by the n-cut: the network and each shuffled network clustered at every k of
a range from one eigensolve per network (the top eigenvectors nest), so a sweep over k costs
one eigensolve and a k-means per k, not a whole :func:`modcore.ncut_significance` per k
(:func:`ncut_curve`)."""

from __future__ import annotations

import itertools
import numbers
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from .._core import (
    cluster_curve as core_cluster_curve,
)
from ..common.types import InputShape, NetworkLike, ProgressLike, SeedLike
from ..network.checks import check_n_jobs, check_positive_int, check_seed
from ..network.convert import as_network
from ..network.transformer import takes_view
from .cluster import clustering_of, warn_floating
from .multiple_testing import min_p_corrected
from .null import MAX_SHUFFLES, check_shuffle, shuffled_scores
from .settings import MAX_CLUSTERS, ClusterSettings, takes_settings
from .significance import Significance, significance_of

__all__ = ["NcutCurve", "ncut_curve"]

#: Most numbers of modules in one curve (each costs a clustering per shuffle).
MAX_KS = 10_000


class PerK:
    """A field of the curve's Significances, one value per k, as an array."""

    def __init__(self, doc: str) -> None:
        self.__doc__ = doc

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, curve: NcutCurve | None, owner: type | None = None) -> np.ndarray:
        if curve is None:  # looked up on the class (by Sphinx, help())
            return self  # type: ignore[return-value]
        return np.array([getattr(sig, self.name) for sig in curve.significances])


@dataclass(frozen=True, repr=False)
class NcutCurve:
    """The network against its shuffle null at every k of a range.

    Attributes
    ----------
    ks : array of int
        The numbers of modules, ascending.
    significances : tuple of Significance
        One per k: what :func:`modcore.ncut_significance` reports at that k
        (exactly that, same seed, when the dense eigensolver runs; see
        :func:`ncut_curve`). Each p-value is uncorrected: it holds for a k
        fixed in advance, not for the k that looks best.

    Notes
    -----
    Choosing the k where the network looks most modular and quoting that k's
    p-value overstates the evidence. :attr:`best_k` is that choice (lowest
    uncorrected p-value, then lowest z, then smallest k) and
    :attr:`corrected_p_value` the p-value corrected for it: shuffled network s
    is the same network at every k, so the smallest p-value over k is
    compared with the smallest p-value over k of each shuffled network
    (:func:`modcore.method.multiple_testing.min_p_corrected`). It is a valid test of
    "more modular than the shuffles at some k of ks", at most ``len(ks)``
    times the smallest uncorrected p-value (Bonferroni) and usually well below it.
    """

    ks: np.ndarray
    significances: tuple

    def significance(self, k: int) -> Significance:
        """The :class:`Significance` at ``k``."""
        hit = np.flatnonzero(self.ks == k)
        if hit.size == 0:
            raise ValueError(f"k = {k} is not in the curve's ks {self.ks.tolist()}")
        return self.significances[int(hit[0])]

    ncut = PerK("The network's n-cut at each k.")
    shuffled_mean = PerK("The mean of the shuffled n-cuts at each k.")
    shuffled_std = PerK("Their standard deviation (ddof=1) at each k.")
    z_score = PerK("The z-score at each k.")
    p_value = PerK("The uncorrected p-value at each k.")
    modularity = PerK("Newman's Q of the network's modules at each k.")

    @property
    def shuffled_ncuts(self) -> np.ndarray:
        """Array of shape (n_shuffles, len(ks)): shuffled network s at k = ks[j]."""
        return np.column_stack([sig.shuffled_ncuts for sig in self.significances])

    @property
    def network_fingerprint(self) -> str:
        """:attr:`Network.fingerprint` of the network measured (that of every k)."""
        return self.significances[0].network_fingerprint

    @property
    def best_k(self) -> int:
        """The k with the lowest uncorrected p-value (ties: lowest z, then smallest k)."""
        z = np.nan_to_num(self.z_score, nan=np.inf)  # one shuffle: z undefined, ranked last
        return int(self.ks[np.lexsort((self.ks, z, self.p_value))[0]])

    @property
    def corrected_p_value(self) -> float:
        """The p-value of :attr:`best_k` corrected for choosing it among ``ks`` (see Notes)."""
        return min_p_corrected(self.ncut, self.shuffled_ncuts)

    def to_dict(self) -> dict:
        """Plain values for JSON: ``ks``, ``best_k``, ``corrected_p_value`` and, per
        k, the Significance's fields without the labels (see
        :meth:`Significance.to_dict`)."""
        rows = []
        for sig in self.significances:
            row = sig.to_dict()
            del row["labels"], row["group_names"]
            rows.append(row)
        return {
            "ks": self.ks.tolist(),
            "best_k": self.best_k,
            "corrected_p_value": self.corrected_p_value,
            "network_fingerprint": self.network_fingerprint,
            "per_k": rows,
        }

    def __repr__(self) -> str:
        first = self.significances[0]
        z = ", ".join(f"{k}: {z:.1f}" for k, z in zip(self.ks, self.z_score))
        return (
            f"NcutCurve(ks={self.ks[0]}..{self.ks[-1]}, n_shuffles={first.n_shuffles}, "
            f"shuffle={first.shuffle!r}, seed={first.seed}, z by k={{{z}}}, "
            f"best_k={self.best_k}, corrected_p_value={self.corrected_p_value:.4g})"
        )


@takes_view
@takes_settings
def ncut_curve(
    network: NetworkLike,
    *,
    settings: ClusterSettings | None = None,
    ks: Iterable[int] = range(2, 21),
    n_shuffles: int = 1000,
    shuffle: str = "layer",
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
) -> NcutCurve:
    """The n-cut of the network and of its shuffles at every k, from one eigensolve each.

    The top eigenvectors of the normalized adjacency nest: those for k are the
    first k of those for any larger k (component indicators first). So the
    network and each of its ``n_shuffles`` shuffled networks are embedded once
    at ``max(ks)`` and only the labels are found per k; shuffled network s is the one
    :func:`modcore.ncut_significance` draws as its s-th with the same seed and
    is clustered with the same seed. In C++, in parallel over shuffles, with
    the GIL released.

    Each k's p-value holds for that k fixed in advance. Picking the k where
    the network looks most modular needs the correction that
    :attr:`NcutCurve.corrected_p_value` gives for :attr:`NcutCurve.best_k`:
    shuffled network s is the same network at every k, so the network's
    smallest p-value over k is ranked among the shuffled networks' (see
    :class:`NcutCurve`).

    What equals :func:`modcore.ncut_significance` (same seed, n_init, ...):
    with one k, everything, exactly. With several k, everything at every k
    when the dense eigensolver runs ("dense", or "auto" on networks of <= 300
    units with edges: the same matrix gives the same eigenvectors); with
    Lanczos, the embedding at k < max(ks) differs from a solve at k within the
    eigensolver's tolerance ``tol``, so labels on a knife edge may end
    elsewhere.

    Parameters
    ----------
    network : Network, list of 2-D arrays, torch module, state dict, path or scipy.sparse matrix
        As in :func:`modcore.spectral_cluster`.
    ks : iterable of int, default=range(2, 21)
        The numbers of modules, each in [2, number of connected units], no repeats;
        at most 10,000 of them (``curve.MAX_KS``); ``settings.n_clusters`` is not read.
    CLUSTER_SETTINGS_FIELDS
    n_shuffles, shuffle, seed, n_jobs, progress
        As in :func:`modcore.ncut_significance`; ``n_jobs`` threads run shuffles.
    input_shape : tuple of int, optional
        For tracing a torch module, as in :func:`modcore.spectral_cluster`.
    view : {"blocks", "virtual"} or None, default None
        As in :func:`modcore.spectral_cluster`: ``"blocks"`` returns ``{MLP name:
        NcutCurve}``.

    Returns
    -------
    NcutCurve

    Raises
    ------
    ValueError, TypeError
        As :func:`modcore.ncut_significance`, plus ks that are empty, not
        integers, repeated or outside [2, connected units].
    KeyboardInterrupt
        On Ctrl-C, within about a second.

    Examples
    --------
    >>> import modcore
    >>> from modcore.network.synthetic import planted_modular_mlp
    >>> w, _ = planted_modular_mlp([30, 30, 30], n_modules=4, seed=0)
    >>> curve = modcore.ncut_curve(w, ks=[2, 3, 4, 5], n_shuffles=9, seed=0, progress=False)
    >>> curve.p_value.tolist()  # below all 9 shuffles at every k
    [0.1, 0.1, 0.1, 0.1]
    """
    network = as_network(network, input_shape=input_shape, view=view)
    ks = _check_ks(ks)
    assert settings is not None  # made by @takes_settings
    settings = settings.replace(n_clusters=int(ks[0]))
    shuffle = check_shuffle(shuffle)
    n_shuffles = check_positive_int(n_shuffles, "n_shuffles", maximum=MAX_SHUFFLES)
    n_jobs = check_n_jobs(n_jobs)
    seed = check_seed(seed)
    sizes, blocks = network.to_core()
    # core_args()[0] is n_clusters, replaced by the list ks.
    res = core_cluster_curve(
        sizes, blocks, ks.tolist(), *settings.core_args()[1:], seed, n_jobs, **settings.graph_args()
    )
    null = shuffled_scores(
        network, shuffle, n_shuffles, settings, seed, n_jobs, progress, ks=ks.tolist()
    )
    sigs = tuple(
        significance_of(
            clustering_of(network, res, r, int(k), settings, seed),
            null.ncut[:, j],
            shuffle,
            modularity=null.modularity[:, j],
            dropped=null.dropped,
        )
        for j, (k, r) in enumerate(zip(ks, res["results"]))
    )
    warn_floating(sigs[0].clustering)
    return NcutCurve(ks=ks, significances=sigs)


def _check_ks(ks) -> np.ndarray:
    if isinstance(ks, (str, bytes)) or not hasattr(ks, "__iter__"):
        raise TypeError(f"ks must be an iterable of ints, got {type(ks).__name__}")
    ks = list(itertools.islice(ks, MAX_KS + 1))  # a range(2, 2**31) is not listed whole
    if len(ks) > MAX_KS:
        raise ValueError(f"ks has more than {MAX_KS} values: at most {MAX_KS} numbers of modules")
    if not ks:
        raise ValueError("ks is empty: expected at least one number of modules")
    for k in ks:
        if not isinstance(k, numbers.Integral) or isinstance(k, bool):
            raise TypeError(f"ks must hold ints, got {k!r}")
        if not 2 <= int(k) <= MAX_CLUSTERS:
            raise ValueError(f"every k must be in [2, {MAX_CLUSTERS}], got {k}")
    if len(set(ks)) != len(ks):
        raise ValueError(f"ks has repeated values: {sorted(ks)}")
    return np.array(sorted(int(k) for k in ks), dtype=np.int64)
