"""Functional modules: units clustered by how they fire together, and how those
modules compare with the weight modules (Filan et al. 2021, "Clusterability in
Neural Networks", section on activations).

The coactivation graph joins every pair of units by their squared (Spearman, by
default) correlation over a data set; it is one group whose self-block holds the
upper triangle, so modcore's engine clusters it and its "layer" shuffle (a
uniform permutation of the upper-triangle entries, in C++) is the null.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import numpy.typing as npt

from ..common.rounding import CONSTANT_STEPS, constant_along
from ..common.types import ProgressLike, SeedLike
from ..method.cluster import Clustering, spectral_cluster
from ..method.partition import adjusted_rand_score, normalized_mutual_info_score
from ..method.significance import Significance, ncut_significance, null_stats
from ..network.checks import check_positive_int, check_seed, real_array
from ..network.network import Block, Network

if TYPE_CHECKING:
    import torch

if TYPE_CHECKING:  # torch is an optional dependency
    from ..nn.activations import Activations

__all__ = [
    "FunctionalModules",
    "ModuleComparison",
    "NullTest",
    "coactivation_graph",
    "compare_modules",
    "functional_modules",
]

METHODS = ("spearman", "pearson")
#: Most label permutations of :func:`compare_modules`: all are held at once (8 bytes a
#: unit each), so 10^5 permutations of 1,000 units take 0.8 GB.
MAX_PERMUTATIONS = 100_000
GROUP_NAME = "units"
# Float64 bytes of one block of standardized rows, and of the one-hot/product
# matrices of the permutation null.
_BLOCK_BYTES = 1 << 26
_RANK_ELEMENTS = 1 << 20


# -- the coactivation graph ---------------------------------------------------------------


def coactivation_graph(
    acts: Activations | npt.ArrayLike,
    *,
    method: str = "spearman",
    squared: bool = True,
    block_size: int | None = None,
) -> Network:
    """The graph of units joined by how strongly their activations correlate.

    Entry ``(i, j)`` is the correlation of units ``i`` and ``j`` over the samples
    (Spearman: the Pearson correlation of their ranks, ties given their average
    rank, as :func:`scipy.stats.spearmanr`), squared by default; the diagonal is
    0 and so is every pair with a constant unit (where the correlation is NaN or,
    for values that differ only by rounding, noise): a unit is constant when its
    values span at most 4 rounding steps of its dtype at its largest magnitude
    (``4 * finfo(dtype).eps * max|x|``; exactly equal for integers), judged on
    the activations as given (float32 activations by float32's steps).
    It is computed for blocks of rows at a time: memory is the result (the
    ``n (n - 1) / 2`` upper-triangle entries with their positions, as much as one
    ``n x n`` float64 matrix) plus a few ``block_size x n_samples`` float64
    blocks, plus, for Spearman, one copy of the ranks (float32 when exact, i.e.
    below 2**22 samples: half the size of the float64 activations) so that each
    unit is ranked once.

    Parameters
    ----------
    acts : Activations or array of shape (n_units, n_samples)
        :class:`modcore.nn.Activations` (from :func:`modcore.nn.activations`),
        or a real matrix whose rows are units and columns samples.
    method : {"spearman", "pearson"}, default="spearman"
        The correlation.
    squared : bool, default=True
        Use ``r ** 2`` (the 2021 paper's graph); False keeps ``r``, so the graph
        (which weighs edges by absolute value) uses ``|r|``.
    block_size : int, optional
        Rows per block; by default a block of float64 rows takes about 64 MB
        (between 128 and 4096 rows). The result does not depend on it beyond
        floating-point rounding.

    Returns
    -------
    Network
        One group, ``"units"``, of ``n_units`` nodes in the order of the rows;
        its self-block holds the non-zero upper-triangle entries.

    Raises
    ------
    TypeError
        Non-real values, or ``squared`` not a bool.
    ValueError
        Fewer than 2 units or samples, NaN or infinite values, an unknown
        ``method``, or no pair of units with a non-zero correlation.

    Notes
    -----
    The products run in numpy's BLAS, whose multithreaded sums may round
    differently with its thread count (differences near 1e-18 were measured
    with OpenBLAS on 1 vs 2 threads); limit BLAS to a fixed number of threads
    (e.g. with threadpoolctl) for bit-identical graphs on every machine.
    Clustering the graph and its null then depends only on the seed.

    Examples
    --------
    >>> import numpy as np, modcore
    >>> x = np.array([[1.0, 2.0, 3.0, 4.0], [2.0, 4.0, 6.0, 9.0], [4.0, 1.0, 3.0, 2.0]])
    >>> a = modcore.coactivation_graph(x).adjacency().toarray()
    >>> float(a[0, 1]), round(float(a[0, 2]), 4)
    (1.0, 0.16)
    """
    x = _unit_matrix(acts)
    constant = constant_along(x, axis=1)
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if not isinstance(squared, (bool, np.bool_)):
        raise TypeError(f"squared must be a bool, got {type(squared).__name__}")
    n, n_samples = x.shape
    if block_size is None:
        block = min(4096, max(128, _BLOCK_BYTES // (8 * n_samples)))
    else:
        block = check_positive_int(block_size, "block_size")
    block = min(block, n)
    if method == "spearman":
        dtype = np.float32 if n_samples <= 2**22 else np.float64
        source = np.empty(x.shape, dtype=dtype)
        step = max(1, _RANK_ELEMENTS // n_samples)  # ranking makes ~10 temporaries a row
        for i in range(0, n, step):
            source[i : i + step] = _average_ranks(x[i : i + step])
    else:
        source = x

    size = n * (n - 1) // 2
    positions = np.empty(size, dtype=np.int64)
    values = np.empty(size, dtype=np.float64)
    # Entry (r, c), r < c, sits at row_start[r] + c - r - 1 of the row-major triangle.
    row_start = np.arange(n, dtype=np.int64) * (2 * n - np.arange(n, dtype=np.int64) - 1) // 2
    for i in range(0, n, block):
        zi = _standardized(source[i : i + block], constant[i : i + block])
        rows = np.arange(i, min(i + block, n), dtype=np.int64)[:, None]
        for j in range(i, n, block):
            zj = zi if j == i else _standardized(source[j : j + block], constant[j : j + block])
            cols = np.arange(j, min(j + block, n), dtype=np.int64)[None, :]
            r = np.clip(zi @ zj.T, -1.0, 1.0)
            if squared:
                np.square(r, out=r)
            slot = row_start[rows] + cols - rows - 1
            flat = rows * n + cols
            if j == i:
                upper = rows < cols
                r, slot, flat = r[upper], slot[upper], flat[upper]
            values[slot] = r
            positions[slot] = flat
    nonzero = values != 0
    if not nonzero.all():
        positions, values = positions[nonzero], values[nonzero]
    if values.size == 0:
        if constant.sum() >= n - 1:
            raise ValueError(
                f"no two units have a non-zero correlation: {int(constant.sum())} of the {n} "
                f"units are constant over the {n_samples} samples (within {CONSTANT_STEPS} "
                f"rounding steps of their {x.dtype}), so the coactivation graph has no edges; "
                "use inputs that vary"
            )
        raise ValueError(
            "no two units have a non-zero correlation: the coactivation graph has no edges"
        )
    return _triangle_network(n, positions, values)


def _unit_matrix(acts) -> np.ndarray:
    values = acts.values if _is_activations(acts) else acts
    x = real_array(values, "activations")
    if x.ndim != 2:
        raise ValueError(f"activations must be 2-D (n_units, n_samples), got shape {x.shape}")
    if x.shape[0] < 2 or x.shape[1] < 2:
        raise ValueError(
            f"need at least 2 units and 2 samples, got (n_units, n_samples) = {x.shape}"
        )
    if not np.isfinite(x).all():
        raise ValueError("activations contain NaN or infinite values")
    return x


def _is_activations(obj) -> bool:
    # By attributes, so that this module need not import torch.
    return all(hasattr(obj, a) for a in ("values", "group_names", "unit_group", "unit_index"))


def _average_ranks(x: np.ndarray) -> np.ndarray:
    """Each row's ranks 1..n, tied values sharing their average rank."""
    order = np.argsort(x, axis=1, kind="stable")
    s = np.take_along_axis(x, order, axis=1)
    n = x.shape[1]
    first = np.ones(s.shape, dtype=bool)
    first[:, 1:] = s[:, 1:] != s[:, :-1]
    last = np.ones(s.shape, dtype=bool)
    last[:, :-1] = first[:, 1:]
    index = np.arange(n)
    start = np.maximum.accumulate(np.where(first, index, 0), axis=1)
    end = np.minimum.accumulate(np.where(last, index, n)[:, ::-1], axis=1)[:, ::-1]
    ranks = np.empty(x.shape, dtype=np.float64)
    np.put_along_axis(ranks, order, (start + end) / 2.0 + 1.0, axis=1)
    return ranks


def _standardized(x: np.ndarray, constant: np.ndarray) -> np.ndarray:
    """Rows centred and scaled to unit norm (float64); ``constant`` rows (see
    :func:`modcore.common.rounding.constant_along`, judged on the activations before
    ranking) become 0,
    so their correlations are 0 rather than NaN or noise."""
    z = x.astype(np.float64)
    constant = constant | (x.max(axis=1) == x.min(axis=1))
    huge = ~constant & (np.abs(z).max(axis=1) > 1e150)  # their sums of squares overflow
    z[huge] /= np.abs(z[huge]).max(axis=1, keepdims=True)  # correlations do not see scale
    z -= z.mean(axis=1, keepdims=True)
    norm = np.sqrt(np.einsum("ij,ij->i", z, z))
    ok = ~constant & (norm > 0) & np.isfinite(norm)
    z[ok] /= norm[ok, None]
    z[~ok] = 0.0
    return z


def _triangle_network(n: int, positions: np.ndarray, values: np.ndarray) -> Network:
    """One group with a self-block from sorted, unique, non-zero upper-triangle
    entries, built without the validation copies (as Network.from_weights does),
    which would cost several times the n x n entries."""
    net = Network.__new__(Network)
    net.names, net.sizes = (GROUP_NAME,), (int(n),)
    net.blocks = (Block(0, 0, (int(n), int(n)), positions=positions, values=values),)
    return net


# -- functional modules -------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class FunctionalModules:
    """Modules of a model's units found by clustering their coactivation graph.

    Attributes
    ----------
    labels : list of int arrays
        ``labels[g][i]``: the functional module of unit ``i`` of group
        ``group_names[g]``; -1 for units not clustered (constant over the data,
        or uncorrelated with every other unit).
    group_names : tuple of str
        The groups, named as modcore's tracer names them (module qualified
        names), so ``labels`` match :attr:`modcore.Clustering.labels` of the
        traced weight graph by (group name, unit index).
    ncut : float
        n-cut of the coactivation graph under these modules.
    significance : Significance or None
        The n-cut against ``n_shuffles`` coactivation graphs whose upper-triangle
        entries were permuted uniformly (the "layer" shuffle of a self-block);
        None when ``n_shuffles == 0``.
    clustering : Clustering
        The clustering of the graph itself (labels over its nodes, eigenvalues,
        seed, solver).
    activations : Activations
        The recorded activations; row ``i`` is node ``i`` of ``graph``.
    graph : Network
        The coactivation graph.
    method : str
        "spearman" or "pearson".
    squared : bool
        Whether edges are ``r ** 2``.
    """

    labels: list
    group_names: tuple
    ncut: float
    significance: Significance | None
    clustering: Clustering
    activations: Activations
    graph: Network
    method: str
    squared: bool

    def to_dict(self) -> dict:
        """Plain values for JSON (without the activations and the graph)."""
        c = self.clustering
        d = {
            "labels": [lab.tolist() for lab in self.labels],
            "group_names": list(self.group_names),
            "ncut": self.ncut,
            "n_clusters": c.n_clusters,
            "n_init": c.n_init,
            "seed": c.seed,
            "eigenvalues": c.eigenvalues.tolist(),
            "eigen_method": c.eigen_method,
            "n_components": c.n_components,
            "method": self.method,
            "squared": self.squared,
            "reduction": self.activations.reduction,
            "n_samples": int(self.activations.values.shape[1]),
            "dropped": [list(u) for u in self.activations.dropped],
            "significance": None,
        }
        if self.significance is not None:
            sig = self.significance.to_dict()
            d["significance"] = {
                k: sig[k]
                for k in (
                    "shuffled_ncuts",
                    "shuffled_mean",
                    "shuffled_std",
                    "z_score",
                    "p_value",
                    "percentile",
                    "n_shuffles",
                    "shuffle",
                )
            }
        return d

    def __repr__(self) -> str:
        flat = np.concatenate(self.labels)
        sizes = np.bincount(flat[flat >= 0], minlength=self.clustering.n_clusters).tolist()
        sig = ""
        if self.significance is not None:
            s = self.significance
            sig = f", z={s.z_score:.2f}, p={s.p_value:.4g}, n_shuffles={s.n_shuffles}"
        return (
            f"FunctionalModules(ncut={self.ncut:.4f}{sig}, module sizes={sizes}, "
            f"unclustered={int((flat < 0).sum())}, method={self.method!r}, "
            f"seed={self.clustering.seed})"
        )


def functional_modules(
    model: torch.nn.Module | Activations,
    data: Any = None,
    *,
    n_clusters: int = 12,
    n_shuffles: int = 1000,
    units: Sequence[str] | None = None,
    reduction: str = "l2",
    batch_size: int = 1024,
    method: str = "spearman",
    squared: bool = True,
    assign_labels: str = "cluster_qr",
    refine: bool = True,
    n_init: int = 10,
    select_by: str = "inertia",
    max_iter: int = 300,
    tol: float = 1e-5,
    eigen_method: str = "auto",
    seed: SeedLike = None,
    n_jobs: int | None = None,
    progress: ProgressLike = None,
) -> FunctionalModules:
    """Cluster a model's units by their coactivations and test the n-cut.

    Records the units' activations on ``data`` (:func:`modcore.nn.activations`),
    builds the coactivation graph (:func:`coactivation_graph`), clusters it with
    modcore's spectral clustering and, unless ``n_shuffles == 0``, compares its
    n-cut with graphs whose upper-triangle entries are uniformly permuted (the
    2021 paper's null, here modcore's "layer" shuffle of the self-block, in C++).

    Parameters
    ----------
    model : torch.nn.Module or Activations
        The model, or activations already recorded (then ``data`` and ``units``
        must be left unset, and ``reduction``/``batch_size`` are not used).
    data : modcore.nn.Dataset, torch.Tensor or numpy.ndarray
        Inputs, batch first (of a Dataset, its test split).
    n_clusters : int, default=12
        Number of functional modules k.
    n_shuffles : int, default=1000
        Size of the null; 0 clusters without one.
    units, reduction, batch_size
        As in :func:`modcore.nn.activations`.
    method, squared
        As in :func:`coactivation_graph`.
    assign_labels, refine, n_init, select_by
        As in :func:`modcore.ncut_significance`.
    max_iter, tol, eigen_method, seed, n_jobs, progress
        As in :func:`modcore.ncut_significance`.

    Returns
    -------
    FunctionalModules

    Raises
    ------
    ValueError, TypeError
        As :func:`modcore.nn.activations`, :func:`coactivation_graph` and
        :func:`modcore.ncut_significance`; ``data`` or ``units`` given with
        recorded activations.

    Examples
    --------
    >>> import torch, modcore
    >>> from torch import nn
    >>> model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 4))
    >>> x = torch.randn(200, 6, generator=torch.Generator().manual_seed(0))
    >>> fm = modcore.functional_modules(model, x, n_clusters=2, n_shuffles=9, seed=0,
    ...                                 progress=False)
    >>> fm.group_names, len(fm.significance.shuffled_ncuts)
    (('0', '2'), 9)
    """
    if _is_activations(model):
        if data is not None or units is not None:
            raise ValueError(
                "model is recorded activations: leave data and units unset "
                "(they were fixed when the activations were recorded)"
            )
        # recognised by its attributes, so that this module need not import torch
        acts = cast("Activations", model)
    else:
        if data is None:
            raise TypeError("functional_modules needs data to run the model on")
        from ..nn.activations import activations

        acts = activations(
            cast("torch.nn.Module", model),
            data,
            units=units,
            reduction=reduction,
            batch_size=batch_size,
        )
    n_shuffles = check_positive_int(n_shuffles, "n_shuffles", minimum=0)
    graph = coactivation_graph(acts, method=method, squared=squared)
    options: dict[str, Any] = dict(
        n_clusters=n_clusters,
        assign_labels=assign_labels,
        refine=refine,
        n_init=n_init,
        select_by=select_by,
        max_iter=max_iter,
        tol=tol,
        eigen_method=eigen_method,
        seed=seed,
        n_jobs=n_jobs,
    )
    if n_shuffles:
        significance = ncut_significance(
            graph, n_shuffles=n_shuffles, shuffle="layer", progress=progress, **options
        )
        clustering = significance.clustering
    else:
        significance, clustering = None, spectral_cluster(graph, **options)
    node_labels = clustering.labels[0]
    labels = []
    for g, size in enumerate(acts.group_sizes):
        lab = np.full(size, -1, dtype=np.int64)
        rows = acts.unit_group == g
        lab[acts.unit_index[rows]] = node_labels[rows]
        labels.append(lab)
    return FunctionalModules(
        labels=labels,
        group_names=tuple(acts.group_names),
        ncut=clustering.ncut,
        significance=significance,
        clustering=clustering,
        activations=acts,
        graph=graph,
        method=method,
        squared=bool(squared),
    )


# -- comparison with the weight modules ---------------------------------------------------


@dataclass(frozen=True, repr=False)
class NullTest:
    """A statistic against its permutation null.

    Attributes
    ----------
    value : float
        The statistic.
    null : numpy.ndarray
        Its value under each permutation, in draw order.
    mean, std : float
        Of ``null`` (std with ddof=1).
    z_score : float
        ``(value - mean) / std`` (±inf, or 0 when equal, if ``std`` is 0).
    p_value : float
        One-sided, ``(1 + #{null at least as extreme}) / (n + 1)``: "at least as
        extreme" is ``>=`` for ``alternative="greater"``, ``<=`` for "less".
    alternative : str
        "greater" (the effect makes the statistic larger than chance) or "less".
    """

    value: float
    null: np.ndarray
    mean: float
    std: float
    z_score: float
    p_value: float
    alternative: str

    @classmethod
    def of(cls, value: float, null: np.ndarray, alternative: str) -> NullTest:
        mean, std, z = null_stats(value, null)
        extreme = null >= value if alternative == "greater" else null <= value
        p = (1 + int(np.count_nonzero(extreme))) / (null.size + 1)
        return cls(float(value), null, mean, std, z, p, alternative)

    def to_dict(self) -> dict:
        return {
            "value": self.value,
            "null": self.null.tolist(),
            "mean": self.mean,
            "std": _json_float(self.std),
            "p_value": self.p_value,
            "alternative": self.alternative,
            "z_score": _json_float(self.z_score),
        }

    def __repr__(self) -> str:
        return (
            f"{self.value:.4f} (null {self.mean:.4f} ± {self.std:.4f}, z={self.z_score:.2f}, "
            f"p={self.p_value:.4g})"
        )


@dataclass(frozen=True, repr=False)
class ModuleComparison:
    """Functional modules against weight modules, on the units both clustered.

    Attributes
    ----------
    n_units : int
        Units compared: in a group both results have (by name), with a module
        in both.
    group_names : tuple of str
        The groups compared.
    nmi : NullTest
        Normalized mutual information of the two partitions; null: the weight
        labels permuted over the compared units (alternative "greater").
    ari : NullTest
        Adjusted Rand index, same null.
    transfer_ncut : NullTest
        n-cut of the coactivation graph (restricted to the compared units) under
        the weight labels; null: under the permuted weight labels (alternative
        "less": weight modules that also fire together cut less).
    functional_ncut : float
        n-cut of the same restricted graph under the functional labels, for scale.
    within_mean, between_mean : float
        Mean edge weight of the coactivation graph (the squared correlation, by
        default) over pairs of compared units in the same weight module, and in
        different ones; NaN when there is no such pair.
    n_permutations : int
    seed : int
        The seed of the permutations.
    """

    n_units: int
    group_names: tuple
    nmi: NullTest
    ari: NullTest
    transfer_ncut: NullTest
    functional_ncut: float
    within_mean: float
    between_mean: float
    n_permutations: int
    seed: int

    def to_dict(self) -> dict:
        return {
            "n_units": self.n_units,
            "group_names": list(self.group_names),
            "nmi": self.nmi.to_dict(),
            "ari": self.ari.to_dict(),
            "transfer_ncut": self.transfer_ncut.to_dict(),
            "functional_ncut": self.functional_ncut,
            "within_mean": _json_float(self.within_mean),
            "between_mean": _json_float(self.between_mean),
            "n_permutations": self.n_permutations,
            "seed": self.seed,
        }

    def __repr__(self) -> str:
        return (
            f"ModuleComparison(n_units={self.n_units}, nmi={self.nmi!r}, ari={self.ari!r}, "
            f"transfer_ncut={self.transfer_ncut!r}, functional_ncut="
            f"{self.functional_ncut:.4f}, within_mean={self.within_mean:.4g}, "
            f"between_mean={self.between_mean:.4g})"
        )


def compare_modules(
    functional: FunctionalModules,
    weight_modules: Clustering,
    *,
    n_permutations: int = 1000,
    seed: SeedLike = None,
) -> ModuleComparison:
    """Compare functional modules with the weight modules of the same model.

    Units are matched by (group name, unit index); a unit counts when both
    results put it in a module. The weight labels are permuted over those units
    ``n_permutations`` times for the nulls of NMI, adjusted Rand and the transfer
    n-cut (the 2021 paper's comparison, which had the NMI null only).

    Parameters
    ----------
    functional : FunctionalModules
        From :func:`functional_modules`.
    weight_modules : Clustering or Significance
        The weight clustering, with groups named like the functional ones: from
        :func:`modcore.spectral_cluster` or :func:`modcore.ncut_significance` on
        the traced model (module qualified names), or on
        ``modcore.Network.from_weights(w, names=[...])`` with those names.
    n_permutations : int, default=1000
        Size of the nulls: at most 100,000 (``functional.MAX_PERMUTATIONS``), as
        all are held at once. The transfer n-cut null costs about
        ``n_permutations * k * n_units ** 2`` flops (BLAS) and memory for one
        dense ``n_units x n_units`` float64 matrix of the compared units (its
        products run in BLAS: see the Notes of :func:`coactivation_graph`).
    seed : None, int or numpy.random.Generator, default=None
        Seed of the permutations (the integer used is in the result).

    Returns
    -------
    ModuleComparison

    Raises
    ------
    TypeError
        If the inputs are not these results.
    ValueError
        If no group name is shared (the message lists both), a shared group has
        different sizes, or fewer than 2 units are in both.

    Examples
    --------
    Two pairs of output units, each pair reading its own pair of inputs: the
    pairs fire independently, and are the weight modules too.

    >>> import numpy as np, torch, modcore
    >>> from torch import nn
    >>> model = nn.Sequential(nn.Linear(4, 4, bias=False))
    >>> with torch.no_grad():
    ...     _ = model[0].weight.copy_(torch.block_diag(torch.ones(2, 2), torch.ones(2, 2)))
    >>> x = torch.randn(100, 4, generator=torch.Generator().manual_seed(0))
    >>> fm = modcore.functional_modules(model, x, n_clusters=2, n_shuffles=0, seed=0)
    >>> w = [model[0].weight.detach().numpy().T]
    >>> weight = modcore.spectral_cluster(modcore.Network.from_weights(w, names=["input", "0"]),
    ...                                   n_clusters=2, seed=0)
    >>> modcore.compare_modules(fm, weight, n_permutations=99, seed=0).nmi.value
    1.0
    """
    weight = weight_clustering(functional, weight_modules)
    n_permutations = check_positive_int(n_permutations, "n_permutations", maximum=MAX_PERMUTATIONS)
    seed = check_seed(seed)
    names, nodes, f_lab, w_lab = matched_units(functional, weight)
    adjacency = _dense_subgraph(functional.graph, nodes)
    degree = adjacency.sum(axis=1)
    w_lab = np.unique(w_lab, return_inverse=True)[1]
    f_lab = np.unique(f_lab, return_inverse=True)[1]

    rng = np.random.default_rng(seed)
    permuted = np.stack([rng.permutation(w_lab) for _ in range(n_permutations)])
    nmi = NullTest.of(
        normalized_mutual_info_score(f_lab, w_lab),
        np.array([normalized_mutual_info_score(f_lab, p) for p in permuted]),
        "greater",
    )
    ari = NullTest.of(
        adjusted_rand_score(f_lab, w_lab),
        np.array([adjusted_rand_score(f_lab, p) for p in permuted]),
        "greater",
    )
    k = int(w_lab.max()) + 1
    inside, volume = _module_weights(adjacency, degree, np.vstack([w_lab, permuted]), k)
    ncuts = _ncuts(inside, volume)
    transfer = NullTest.of(ncuts[0], ncuts[1:], "less")
    f_inside, f_volume = _module_weights(adjacency, degree, f_lab[None, :], int(f_lab.max()) + 1)

    sizes = np.bincount(w_lab, minlength=k).astype(np.float64)
    pairs_within = float(np.sum(sizes * (sizes - 1) / 2))
    pairs_all = w_lab.size * (w_lab.size - 1) / 2
    sum_within = float(inside[0].sum()) / 2
    sum_all = float(degree.sum()) / 2
    within = sum_within / pairs_within if pairs_within else math.nan
    between = (
        (sum_all - sum_within) / (pairs_all - pairs_within)
        if pairs_all > pairs_within
        else math.nan
    )
    return ModuleComparison(
        n_units=int(w_lab.size),
        group_names=names,
        nmi=nmi,
        ari=ari,
        transfer_ncut=transfer,
        functional_ncut=float(_ncuts(f_inside, f_volume)[0]),
        within_mean=within,
        between_mean=between,
        n_permutations=n_permutations,
        seed=seed,
    )


def weight_clustering(functional, weight_modules) -> Clustering:
    """The weight Clustering of a (FunctionalModules, Clustering or Significance) pair;
    TypeError for anything else."""
    if not isinstance(functional, FunctionalModules):
        raise TypeError(
            f"functional must be a FunctionalModules result, got {type(functional).__name__}"
        )
    weight = (
        weight_modules.clustering if isinstance(weight_modules, Significance) else weight_modules
    )
    if not isinstance(weight, Clustering):
        raise TypeError(
            f"weight_modules must be a modcore Clustering or Significance, got "
            f"{type(weight_modules).__name__}"
        )
    return weight


def matched_units(functional: FunctionalModules, weight: Clustering) -> tuple:
    """Group names, coactivation-graph nodes and both labels of the units in both."""
    acts = functional.activations
    w_index = {name: g for g, name in enumerate(weight.group_names)}
    names = tuple(n for n in functional.group_names if n in w_index)
    if not names:
        raise ValueError(
            f"the functional and weight modules share no group name (functional: "
            f"{list(functional.group_names)}, weight: {list(weight.group_names)}); cluster the "
            "traced model (modcore.spectral_cluster(model, input_shape=...)) or name the "
            "layers with modcore.Network.from_weights(weights, names=[...])"
        )
    node_lists: list[np.ndarray] = []
    f_lab: list[np.ndarray] = []
    w_lab: list[np.ndarray] = []
    for name in names:
        g = functional.group_names.index(name)
        f, w = functional.labels[g], np.asarray(weight.labels[w_index[name]])
        if f.shape != w.shape:
            raise ValueError(
                f"group {name!r} has {f.size} units in the functional modules but "
                f"{w.size} in the weight modules: are they of the same model?"
            )
        node = np.full(f.size, -1, dtype=np.int64)
        rows = np.flatnonzero(acts.unit_group == g)
        node[acts.unit_index[rows]] = rows
        both = (f >= 0) & (w >= 0)
        node_lists.append(node[both])
        f_lab.append(f[both])
        w_lab.append(w[both])
    nodes = np.concatenate(node_lists)
    if nodes.size < 2:
        raise ValueError(f"only {nodes.size} unit(s) are in a module in both results; need 2")
    return names, nodes, np.concatenate(f_lab), np.concatenate(w_lab)


def _dense_subgraph(graph: Network, nodes: np.ndarray) -> np.ndarray:
    """The symmetric |w| adjacency among ``nodes`` (in that order), read from the
    self-block a chunk of entries at a time."""
    block = graph.blocks[0]
    n = graph.sizes[0]
    where = np.full(n, -1, dtype=np.int64)
    where[nodes] = np.arange(nodes.size)
    out = np.zeros((nodes.size, nodes.size))
    step = 1 << 22
    positions, values = block.sparse()
    for start in range(0, positions.size, step):
        r, c = np.divmod(positions[start : start + step], n)
        r, c = where[r], where[c]
        keep = (r >= 0) & (c >= 0)
        v = np.abs(values[start : start + step][keep])
        out[r[keep], c[keep]] = v
        out[c[keep], r[keep]] = v
    return out


def _module_weights(adjacency: np.ndarray, degree: np.ndarray, labels: np.ndarray, k: int) -> tuple:
    """For each labelling (row of ``labels``) and module: the weight inside it
    (both directions, ``sum_{u, v in A} a_uv``) and its volume (sum of degrees)."""
    m, n = labels.shape
    inside = np.empty((m, k))
    volume = np.empty((m, k))
    chunk = max(1, _BLOCK_BYTES // (8 * n * k))
    units = np.arange(n)
    for s in range(0, m, chunk):
        lab = labels[s : s + chunk]
        c = lab.shape[0]
        column = np.arange(c)[:, None] * k + lab  # (c, n): column of each unit's module
        onehot = np.zeros((n, c * k))
        onehot[units[None, :], column] = 1.0
        to_module = adjacency @ onehot  # weight from each unit to each module
        same = to_module[units[None, :], column]
        inside[s : s + c] = np.bincount(
            column.ravel(), weights=same.ravel(), minlength=c * k
        ).reshape(c, k)
        volume[s : s + c] = np.bincount(
            column.ravel(), weights=np.broadcast_to(degree, lab.shape).ravel(), minlength=c * k
        ).reshape(c, k)
    return inside, volume


def _ncuts(inside: np.ndarray, volume: np.ndarray) -> np.ndarray:
    """sum over modules of cut / volume = (volume - inside) / volume; modules
    without volume add 0 (as modcore.ncut)."""
    safe = np.where(volume > 0, volume, 1.0)
    return np.where(volume > 0, (volume - inside) / safe, 0.0).sum(axis=1)


def _json_float(x: float):
    return x if math.isfinite(x) else str(x)
