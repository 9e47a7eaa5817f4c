"""Choosing k: the spectrum's eigengap, and the n-cut against its null at every k.

:func:`eigengap` reads a suggestion off the normalized Laplacian's smallest
eigenvalues; :func:`ncut_curve` clusters the network and each shuffled network
at every k of a range from one eigensolve per network (the top eigenvectors
nest), so a sweep over k costs one eigensolve and a k-means per k, not a whole
:func:`modcore.ncut_significance` per k.
"""

from __future__ import annotations

import itertools
import numbers
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Literal, overload

import numpy as np

from . import _core
from ._typing import InputShape, NetworkLike, ProgressLike, SeedLike
from .cluster import MAX_CLUSTERS, check_settings, clustering_of, warn_floating
from .io import check_n_jobs, check_positive_int, check_seed
from .multiple_testing import min_p_corrected
from .network import as_network
from .significance import (
    MAX_SHUFFLES,
    Significance,
    check_shuffle,
    shuffled_scores,
    significance_of,
)
from .transformer import by_block

#: Most numbers of modules in one curve (each costs a clustering per shuffle).
MAX_KS = 10_000

#: Most eigenvalues the eigengap reads: the bottom of the spectrum, within what Lanczos
#: computes on any graph too large for a dense eigendecomposition.
MAX_EIGENGAP_K = 500

__all__ = ["Eigengap", "EigengapWarning", "NcutCurve", "eigengap", "ncut_curve"]

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
        }

    def __repr__(self) -> str:
        return (
            f"Eigengap(k={self.k}, relative gap={self.relative_gaps[self.k - 2]:.3f}, "
            f"clear={self.clear}, max_k={len(self.eigenvalues)}, "
            f"n_shuffles={len(self.shuffled_gaps)}, n_components={self.n_components})"
        )


def eigengap(
    network: NetworkLike,
    *,
    max_k: int = 30,
    n_shuffles: int = 19,
    shuffle: str = "layer",
    tol: float = 1e-5,
    eigen_method: str = "auto",
    drop: str = "isolated",
    normalize: str | None = None,
    seed: SeedLike = None,
    input_shape: InputShape = None,
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
        Eigenvalues to compute, in [3, 500] (``analysis.MAX_EIGENGAP_K``; capped
        at the number of live units).
    n_shuffles : int, default=19
        Shuffled networks to compare the gaps with (one eigensolve each); 0 for none.
    shuffle : str, default="layer"
        How to shuffle, as in :func:`modcore.ncut_significance`.
    tol, eigen_method
        As in :func:`modcore.spectral_cluster`.
    drop, normalize
        How the network and each shuffled network become graphs, as in
        :func:`modcore.ncut_significance`.
    seed : None, int or numpy.random.Generator, default=None
        Seeds the shuffles and the Lanczos start vectors (which move the
        eigenvalues only within ``tol``).
    input_shape : tuple of int, optional
        For tracing a torch module, as in :func:`modcore.spectral_cluster`.

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
    >>> from modcore.synthetic import planted_modular_mlp
    >>> w, _ = planted_modular_mlp([30, 30, 30], n_modules=5, seed=0)
    >>> modcore.eigengap(w, max_k=10, seed=0).k
    5
    """
    network = as_network(network, input_shape=input_shape)
    max_k = check_positive_int(max_k, "max_k", minimum=3, maximum=MAX_EIGENGAP_K)
    n_shuffles = check_positive_int(n_shuffles, "n_shuffles", minimum=0, maximum=MAX_SHUFFLES)
    shuffle = check_shuffle(shuffle)
    graph_args = check_settings(
        tol=tol, eigen_method=eigen_method, drop=drop, normalize=normalize
    ).graph_args()
    seed = check_seed(seed)
    sizes, blocks = network.to_core()
    graph = _core.graph(sizes, blocks, **graph_args)
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
    res = _core.spectral_embedding(sizes, blocks, max_k, tol, eigen_method, seed, **graph_args)
    lam = _laplacian_eigenvalues(res["eigenvalues"])
    ks = np.arange(2, max_k)
    gaps = _relative_gaps(lam, ks)
    null = np.empty((n_shuffles, len(ks)))
    for s in range(n_shuffles):
        shuffled = network.with_block_entries(
            _core.shuffled_network(sizes, blocks, shuffle, seed, s)
        )
        # Rescaled and pruned by the drop rule after shuffling, as in ncut_significance.
        live = _core.graph(*shuffled.to_core(), **graph_args)["degree"]
        k_s = min(max_k, int(np.count_nonzero(live)))
        null_lam = _laplacian_eigenvalues(
            _core.spectral_embedding(
                *shuffled.to_core(), k_s, tol, eigen_method, seed, **graph_args
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
        warnings.warn(
            f"{gap_text}; the suggested k is arbitrary: compare k with modcore.ncut_curve",
            EigengapWarning,
            stacklevel=2,
        )
    elif others:
        listed = ", ".join(f"k = {ks[i]} ({gaps[i]:.3f})" for i in [best, *others])
        warnings.warn(
            f"eigengaps stand out at several k: {listed} (relative gaps; k = {ks[best]}'s at "
            f"least {_MIN_GAP} and {ratio} x {against}, the others' at least {_RIVAL_GAP} "
            f"and {_RIVAL_RATIO:g} x theirs): the network has modules at more than one "
            f"scale, and k = {ks[best]}, the largest excess over the shuffles' gaps, is one "
            "of them; compare these k with modcore.ncut_curve",
            EigengapWarning,
            stacklevel=2,
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
    )


def _laplacian_eigenvalues(adjacency_eigenvalues) -> np.ndarray:
    """Ascending normalized-Laplacian eigenvalues from the normalized adjacency's
    descending ones (1 - 1.0 is exactly 0 for the component indicators)."""
    return np.clip(1.0 - np.asarray(adjacency_eigenvalues, dtype=np.float64), 0.0, 2.0)


def _relative_gaps(lam: np.ndarray, ks: np.ndarray) -> np.ndarray:
    upper, lower = lam[ks], lam[ks - 1]
    safe = np.where(upper > 0, upper, 1.0)
    return np.where(upper > 0, (upper - lower) / safe, 0.0)


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
    (:func:`modcore.multiple_testing.min_p_corrected`). It is a valid test of
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

    def _column(self, name: str) -> np.ndarray:
        return np.array([getattr(sig, name) for sig in self.significances])

    @property
    def ncut(self) -> np.ndarray:
        """The network's n-cut at each k."""
        return self._column("ncut")

    @property
    def shuffled_mean(self) -> np.ndarray:
        return self._column("shuffled_mean")

    @property
    def shuffled_std(self) -> np.ndarray:
        return self._column("shuffled_std")

    @property
    def z_score(self) -> np.ndarray:
        return self._column("z_score")

    @property
    def p_value(self) -> np.ndarray:
        return self._column("p_value")

    @property
    def modularity(self) -> np.ndarray:
        """Newman's Q of the network's modules at each k."""
        return self._column("modularity")

    @property
    def shuffled_ncuts(self) -> np.ndarray:
        """Array of shape (n_shuffles, len(ks)): shuffled network s at k = ks[j]."""
        return np.column_stack([sig.shuffled_ncuts for sig in self.significances])

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


@overload
def ncut_curve(
    network: NetworkLike,
    *,
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
    view: Literal["blocks"],
) -> dict[str, NcutCurve]: ...


@overload
def ncut_curve(
    network: NetworkLike,
    *,
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
    view: Literal["virtual"] | None = None,
) -> NcutCurve: ...


def ncut_curve(
    network: NetworkLike,
    *,
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
) -> NcutCurve | dict[str, NcutCurve]:
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
        at most 10,000 of them (``analysis.MAX_KS``).
    n_shuffles, shuffle, assign_labels, refine, n_init, select_by
        As in :func:`modcore.ncut_significance`.
    max_iter, tol, eigen_method, drop, normalize, seed, n_jobs, progress
        As in :func:`modcore.ncut_significance`; ``n_jobs`` threads run shuffles.
    input_shape : tuple of int, optional
        For tracing a torch module, as in :func:`modcore.spectral_cluster`.
    view : {"blocks", "virtual"} or None, default None
        For a transformer (:mod:`modcore.transformer`; required there, refused
        elsewhere): ``"virtual"`` reads its virtual graph (units with a privileged
        basis joined through the residual stream); ``"blocks"`` reads each MLP alone
        and returns ``{MLP name: result}``, one result per MLP.

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
    >>> from modcore.synthetic import planted_modular_mlp
    >>> w, _ = planted_modular_mlp([30, 30, 30], n_modules=4, seed=0)
    >>> curve = modcore.ncut_curve(w, ks=[2, 3, 4, 5], n_shuffles=9, seed=0, progress=False)
    >>> curve.p_value.tolist()  # below all 9 shuffles at every k
    [0.1, 0.1, 0.1, 0.1]
    """
    if view == "blocks":
        return by_block(ncut_curve, dict(locals()))
    network = as_network(network, input_shape=input_shape, view=view)
    ks = _check_ks(ks)
    settings = check_settings(
        n_clusters=int(ks[0]),
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
    shuffle = check_shuffle(shuffle)
    n_shuffles = check_positive_int(n_shuffles, "n_shuffles", maximum=MAX_SHUFFLES)
    n_jobs = check_n_jobs(n_jobs)
    seed = check_seed(seed)
    sizes, blocks = network.to_core()
    # core_args()[0] is n_clusters, replaced by the list ks.
    res = _core.cluster_curve(
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
