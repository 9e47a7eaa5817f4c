"""Functional modules against the weight modules of the same model: NMI, adjusted Rand
and the transfer n-cut, each against the weight labels permuted over the shared units."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..common.types import SeedLike
from ..method.cluster import Clustering
from ..method.partition import adjusted_rand_score, normalized_mutual_info_score
from ..method.significance import Significance, null_stats
from ..network.checks import check_positive_int, check_seed
from ..network.network import Network
from .modules import FunctionalModules

__all__ = ["ModuleComparison", "NullTest", "compare_modules"]

#: Most label permutations of :func:`compare_modules`: all are held at once (8 bytes a
#: unit each), so 10^5 permutations of 1,000 units take 0.8 GB.
MAX_PERMUTATIONS = 100_000
# Float64 bytes of the one-hot/product matrices of the permutation null.
_BLOCK_BYTES = 1 << 26


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
        Size of the nulls: at most 100,000 (``MAX_PERMUTATIONS``), as all are
        held at once. The transfer n-cut null costs about
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
    without volume add 0 (as modcore.ncut). The C++ n-cut takes one labelling per call:
    for the 1,000 labellings of a null over 510 units it took 11.6 s, against 0.51 s for
    this batched form (BLAS products), same values."""
    safe = np.where(volume > 0, volume, 1.0)
    return np.where(volume > 0, (volume - inside) / safe, 0.0).sum(axis=1)


def _json_float(x: float):
    return x if math.isfinite(x) else str(x)
