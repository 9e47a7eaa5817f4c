"""Training terms that promote modularity: the spectral clusterability regularizer
(Filan, Casper, Hod et al. 2021), on modcore's sparse eigensolver, and the weight
mass between the modules of a fixed partition (Golechha et al. 2025)."""

from __future__ import annotations

import numbers
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from .._core import nontrivial_eigenpairs as core_nontrivial_eigenpairs
from ..network.torch.trace import KERNEL_NORMS, network_from_module
from ..network.torch.trace_walk import _kernel_norms
from .eigen_refresh import BlockOperator, refresh
from .models import weight_layers

if TYPE_CHECKING:
    from .._core import CoreBlock  # exists only in the stub

__all__ = [
    "DegenerateEigenvalueWarning",
    "Partition",
    "PartitionRegularizer",
    "Spectral",
    "SpectralRegularizer",
    "laplacian_eigenvalues",
]

# The k-th and (k+1)-th eigenvalues closer than this are one repeated eigenvalue
# for the warning (the solver's own eigenvalue error is far below).
_DEGENERATE = 1e-8


class DegenerateEigenvalueWarning(UserWarning):
    """The last regularized eigenvalue is repeated past the cut-off: the sum is not
    differentiable there and the gradient is a supergradient."""


@dataclass(frozen=True)
class Spectral:
    """The spectral regularizer's settings for :func:`~modcore.nn.train` (plain values,
    kept in a training state).

    Follows the authors' port (HumanCompatibleAI/nn-clustering-pytorch,
    ``src/train_model.py``, ``calculate_clust_reg`` and its training loop): on every
    ``every``-th step (from step 0) the loss gets
    ``strength / n_eigenvalues * every * sum(eigenvalues)``, so its mean per step is
    ``strength / n_eigenvalues * sum(eigenvalues)``.

    Parameters
    ----------
    strength : float
        The port's ``lambda`` (its default 1e-3).
    n_eigenvalues : int, default 3
        The port's ``num_eigs``.
    every : int, default 20
        The port's ``frequency``.
    kernel_norm : str, default "l1"
        How a convolution's kernel slice becomes an edge (as the reader).
    """

    strength: float
    n_eigenvalues: int = 3
    every: int = 20
    kernel_norm: str = "l1"

    def __post_init__(self):
        _check_settings(self, ("n_eigenvalues", "every"))


@dataclass(frozen=True)
class Partition:
    """The partition loss's settings for :func:`~modcore.nn.train` (plain values, kept
    in a training state): the objective gets ``strength`` times
    :class:`PartitionRegularizer`'s value on every step, and the partition is
    recomputed every ``refresh_every`` steps (from step 0).

    Parameters
    ----------
    strength : float
    n_clusters : int, default 12
        Modules of the partition (modcore's default k).
    refresh_every : int, default 100
        Steps between clusterings (modcore's choice, not a published value).
    kernel_norm : str, default "l1"
    """

    strength: float
    n_clusters: int = 12
    refresh_every: int = 100
    kernel_norm: str = "l1"

    def __post_init__(self):
        _check_settings(self, ("n_clusters", "refresh_every"))


def _check_settings(settings, counts) -> None:
    strength = settings.strength
    if (
        isinstance(strength, bool)
        or not isinstance(strength, numbers.Real)
        or not float(strength) >= 0
    ):
        raise ValueError(f"strength must be a number >= 0, got {strength!r}")
    for name in counts:
        value = getattr(settings, name)
        if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    if settings.kernel_norm not in KERNEL_NORMS:
        raise ValueError(f"kernel_norm must be one of {KERNEL_NORMS}, got {settings.kernel_norm!r}")


class _Eigenvalues(torch.autograd.Function):
    """Blocks ``|W|`` (n_src, n_dst) -> the k smallest non-trivial eigenvalues of the
    normalized Laplacian of their graph, ascending; backward by dλ = uᵀ dL u."""

    @staticmethod
    def forward(ctx, solver, *blocks):
        lam, y = solver.solve(blocks)
        ctx.solver = solver
        ctx.save_for_backward(torch.from_numpy(y), torch.from_numpy(lam), *blocks)
        return torch.from_numpy(lam).to(blocks[0].device, blocks[0].dtype)

    @staticmethod
    def backward(ctx, grad):
        y, lam, *blocks = ctx.saved_tensors
        return (None, *ctx.solver.block_gradients(blocks, y, lam, grad))


# Graphs of at least this many units are refreshed between steps (eigen_refresh); smaller
# ones are solved in full every time (the core's dense solve is exact and cheap there).
_REFRESH_MIN_UNITS = 1000
# Vectors tracked past the k + 1 solved for: they keep an eigenvalue that rises from
# inside the spectrum in view of the refresh.
_GUARDS = 3


class _Solver:
    """The graph's layout (group sizes, which groups each block joins) and the last
    eigenvectors, from which the next solve starts.

    Each solve gives the k + 1 smallest non-trivial eigenpairs (the (k+1)-th to see a
    repeat at the cut-off). A graph of at least ``_REFRESH_MIN_UNITS`` units whose units
    with edges form one connected piece (checked on every call: by the groups the blocks
    join when every weight is positive, by connected components otherwise) is refreshed
    by LOBPCG from the last vectors (:mod:`modcore.nn.eigen_refresh`) to residuals at most
    ``refresh_tol``; otherwise, or when that does not converge in ``refresh_iter``
    iterations, or when it cannot rule out a repeat at the cut-off, the core solves it
    in full (Lanczos to ``tol``). The result depends only on the weights and on
    :attr:`warm`, which a training state keeps."""

    def __init__(self, sizes, pairs, k, tol, eigen_method, *, refresh_tol=1e-4, refresh_iter=12):
        self.sizes = np.asarray(sizes, dtype=np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(self.sizes)])
        self.pairs = pairs
        self.k = k
        self.tol = tol
        self.eigen_method = eigen_method
        self.refresh_tol = refresh_tol
        self.refresh_iter = refresh_iter
        self.warm: np.ndarray | None = None  # units (all groups, in order) x vectors
        self.refreshed = 0  # solves done by the refresh, and in full
        self.full = 0
        self.eigenvalues: np.ndarray | None = None
        self._joined = _joined_groups(len(self.sizes), pairs)
        self._refreshable = refresh_tol is not None and int(self.sizes.sum()) >= _REFRESH_MIN_UNITS

    def solve(self, blocks):
        """``(eigenvalues (k,), y)``: ``y = D^-1/2 u`` of the k eigenvectors, one row per
        unit of every group in order (rows of zeros for units without edges)."""
        # float32 or float64 as the model's: both the core and the refresh take either
        # (the refresh any memory order; the core gets C order in _full).
        dense = [b.detach().cpu().numpy() for b in blocks]
        op = BlockOperator(self.sizes, self.pairs, dense)
        got = None
        if self._refreshable and self.warm is not None and self._in_one_piece(dense, op):
            got = self._refresh(op, self.warm)
        if got is None:
            got = self._full(dense)
            self.full += 1
        else:
            self.refreshed += 1
        lam, vectors = got
        self.warm = vectors
        self.eigenvalues = lam[: self.k].copy()  # float64, before the cast to the blocks
        return lam[: self.k].copy(), vectors[:, : self.k] * op.scale[:, None]

    def _in_one_piece(self, dense, op) -> bool:
        """Whether the graph's units with edges form one connected piece (the refresh
        projects out one trivial eigenvector). All blocks positive: when the groups the
        blocks join do; otherwise (a pruned network) by its connected components."""
        if all(b.min() > 0 for b in dense):
            return self._joined
        from scipy.sparse import coo_matrix
        from scipy.sparse.csgraph import connected_components

        ends = [np.nonzero(b) for b in dense]
        rows = np.concatenate([r + self.offsets[src] for (src, _), (r, _) in zip(self.pairs, ends)])
        cols = np.concatenate([c + self.offsets[dst] for (_, dst), (_, c) in zip(self.pairs, ends)])
        n = int(self.offsets[-1])
        graph = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n))
        _, labels = connected_components(graph, directed=False)
        return len(np.unique(labels[op.live])) == 1

    def _refresh(self, op, warm):
        if warm.shape[1] < self.k + 1 or warm.shape[0] != len(op.degree):
            return None
        out = refresh(op, warm, self.k, tol=self.refresh_tol, max_iter=self.refresh_iter)
        if out is None:
            return None
        values, vectors, residuals, _ = out
        lam = 1.0 - values
        # The (k+1)-th need not have converged: unless its Ritz value is clear of the
        # k-th by more than its residual (a margin, not a proof), the full solve decides
        # whether the k-th repeats (and warns there).
        if lam[self.k] - lam[self.k - 1] <= _DEGENERATE + residuals[self.k] + self.refresh_tol:
            return None
        return lam, vectors

    def _full(self, dense):
        core: list[CoreBlock] = [
            (src, dst, b.shape[0], b.shape[1], False, np.ascontiguousarray(b), None, None)
            for (src, dst), b in zip(self.pairs, dense)
        ]
        # One eigenvalue past the k wanted, to see a repeat at the cut-off, and guards
        # for the refreshes that follow.
        nev = self.k + 1 + (_GUARDS if self._refreshable else 0)
        res = core_nontrivial_eigenpairs(self.sizes, core, nev, self.tol, self.eigen_method, None)
        got = len(res["eigenvalues"])
        if got < self.k:
            raise ValueError(
                f"the network's graph has {len(res['node_group'])} live units in "
                f"{res['n_components']} connected components: room for {got} non-trivial "
                f"eigenvalues, and {self.k} were asked for"
            )
        lam = 1.0 - res["eigenvalues"]
        if got > self.k and lam[self.k] - lam[self.k - 1] <= _DEGENERATE:
            warnings.warn(
                f"eigenvalue {self.k} of the normalized Laplacian ({lam[self.k - 1]:.6g}) is "
                f"repeated past the {self.k} regularized ones: their sum is not "
                "differentiable here; the gradient is a supergradient from the eigenvectors "
                "the solver chose in the repeated eigenspace",
                DegenerateEigenvalueWarning,
                stacklevel=5,
            )
        rows = self.offsets[np.asarray(res["node_group"], dtype=np.int64)] + np.asarray(
            res["node_index"], dtype=np.int64
        )
        vectors = np.zeros((int(self.offsets[-1]), got))
        vectors[rows] = res["eigenvectors"]
        return lam, vectors

    def block_gradients(self, blocks, y, lam, grad):
        """dλ/dB for each block, contracted with ``grad``: for an edge (a, b) of weight
        w, λ = 1 - μ with μ = yᵀ A y, y = D^-1/2 u, gives
        dλ/dw = μ (y_a² + y_b²) - 2 y_a y_b (the degree terms are those of D^-1/2).
        Computed on the CPU, as the solve, in the blocks' dtype."""
        dtype = blocks[0].dtype
        g = grad.detach().to("cpu", torch.float64)
        y = y.to(dtype)
        square = ((y * y) @ (g * (1.0 - lam)).to(dtype)).split(self.sizes.tolist())
        scaled = (y * g.to(dtype)).split(self.sizes.tolist())
        y = y.split(self.sizes.tolist())
        out = []
        for (src, dst), b in zip(self.pairs, blocks):
            gb = torch.addmm(
                square[src][:, None] + square[dst][None, :], scaled[src], y[dst].T, alpha=-2.0
            )
            out.append(gb.to(b.device))
        return out


def _joined_groups(n_groups, pairs) -> bool:
    """Whether the groups that blocks touch form one connected piece (then a graph whose
    blocks are all positive is connected)."""
    touched = {g for pair in pairs for g in pair}
    if not touched:
        return False
    seen, todo = set(), [next(iter(touched))]
    while todo:
        g = todo.pop()
        if g in seen:
            continue
        seen.add(g)
        todo += [b for a, b in pairs if a == g] + [a for a, b in pairs if b == g]
    return seen == touched


def laplacian_eigenvalues(
    sizes,
    blocks,
    n_eigenvalues,
    *,
    tol: float = 1e-10,
    eigen_method: str = "auto",
    solver=None,
):
    """The ``n_eigenvalues`` smallest non-trivial eigenvalues of the normalized
    Laplacian of a graph given by blocks of edge weights, differentiable.

    Parameters
    ----------
    sizes : sequence of int
        Units per group.
    blocks : sequence of ((int, int), torch.Tensor)
        ``((src, dst), B)``: ``B`` of shape ``(sizes[src], sizes[dst])`` holds the
        non-negative weights of the edges between the two groups (``src != dst``).
    n_eigenvalues : int
    tol : float, default 1e-10
        The eigensolver's relative residual tolerance.
    eigen_method : str, default "auto"
        As in :func:`modcore.spectral_cluster`.
    solver : optional
        Internal: a warm-started solver kept between calls (used by
        :class:`SpectralRegularizer`).

    Returns
    -------
    torch.Tensor
        Shape ``(n_eigenvalues,)``, ascending. The trivial eigenvalues are the
        zeros of the connected components (units without edges are dropped); the
        next ones are returned. Gradients flow to the blocks by dλ = uᵀ dL u. The
        gradient of a sum over a whole group of repeated eigenvalues does not depend
        on the eigenvectors chosen; that of a single one of them, or of a sum that
        cuts a group (a :class:`DegenerateEigenvalueWarning` at the k-th), does: it is
        then a supergradient of the sum (the sum of the smallest eigenvalues is
        concave in the Laplacian), finite, and without a warm start the same for the
        same graph.
    """
    pairs = [tuple(int(v) for v in p) for p, _ in blocks]
    tensors = [b for _, b in blocks]
    for (src, dst), b in zip(pairs, tensors):
        if src == dst:
            raise ValueError(f"a block joins group {src} to itself; the regularizer takes none")
        if tuple(b.shape) != (int(sizes[src]), int(sizes[dst])):
            raise ValueError(
                f"block {src}->{dst} has shape {tuple(b.shape)}, expected "
                f"({int(sizes[src])}, {int(sizes[dst])})"
            )
    if solver is None:
        solver = _Solver(sizes, pairs, int(n_eigenvalues), tol, eigen_method)
    return _Eigenvalues.apply(solver, *tensors)


class SpectralRegularizer:
    """The sum of the ``n_eigenvalues`` smallest non-trivial eigenvalues of the
    normalized Laplacian of a model's ``|W|`` graph, as a differentiable term.

    The 2021 paper's clusterability regularizer, as the authors' PyTorch port
    defines it (HumanCompatibleAI/nn-clustering-pytorch, ``src/clusterability_gradient.py``,
    ``LaplacianEigenvalues``: the eigenvalues past the first of the ``num_eigs + 1``
    smallest, summed in ``src/train_model.py``, ``calculate_clust_reg``). Here the
    trivial eigenvalues skipped are one per connected component (the port assumes
    one), the forward pass runs modcore's sparse eigensolver rather than a
    shift-invert ``eigsh`` with dense outer products, and the backward contracts the
    eigenvectors with each weight block (dλ = uᵀ dL u through D^-1/2 and ``|W|``;
    ``sign(W)``, 0 at ``W = 0``).

    Between calls the eigenpairs are refreshed, not solved again: on a graph of 1000
    units or more in one connected piece (pruned or not), LOBPCG from the last call's
    vectors (:mod:`modcore.nn.eigen_refresh`) until every residual
    ``||N u - μ u||`` of the k smallest is at most ``refresh_tol``; each eigenvalue
    is then within ``refresh_tol`` of the exact one (within ``refresh_tol² / gap`` past
    a gap to the others), the vectors within ``refresh_tol / gap``. Otherwise (the
    first call, a small graph or one in pieces, no convergence in 12 iterations, a
    possible repeat at the cut-off) the core solves in full to ``tol``. Along 300 steps
    of the paper's MLP on Fashion-MNIST (weight 0.1 / 3, every step) 299 were
    refreshed, and the refreshed eigenvalues stayed within 6e-8 of a full solve's (the
    products in float32; ``benchmarks/README.md``, the regularizer's section).

    The graph is the one modcore reads from the model
    (:func:`~modcore.nn.trace.network_from_module`, traced once here); every
    block must be a function of one layer's weight that this class recomputes
    differentiably, checked against the reader's block:
    ``|W|`` of a Linear layer, a convolution's kernel norms, or a Linear layer
    after a channel-major flatten (sums over a channel's positions). Anything else
    (a folded BatchNorm, a scale, a residual add that sums paths) is refused.

    Parameters
    ----------
    model : torch.nn.Module
    n_eigenvalues : int, default 3
    kernel_norm : {"l1", "l2", "max_column"}, default "l1"
    input_shape : tuple of int, optional
        As for the reader; default ``model.input_shape`` where it has one.
    tol : float, default 1e-8
        The eigensolver's relative residual tolerance.
    refresh_tol : float or None, default 1e-4
        The refresh's residual tolerance; None solves in full on every call.

    Examples
    --------
    >>> from modcore.nn import MLP
    >>> model = MLP([6, 5, 4], seed=0)
    >>> reg = SpectralRegularizer(model, n_eigenvalues=2)
    >>> value = reg()
    >>> value.backward()
    >>> model[0].weight.grad.shape
    torch.Size([5, 6])
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        n_eigenvalues: int = 3,
        kernel_norm: str = "l1",
        input_shape: tuple | None = None,
        tol: float = 1e-8,
        refresh_tol: float | None = 1e-4,
    ):
        self.graph = _ModelGraph(model, kernel_norm, input_shape, "SpectralRegularizer")
        self.sizes = self.graph.sizes
        self._solver = _Solver(
            self.sizes, self.graph.pairs, int(n_eigenvalues), tol, "auto", refresh_tol=refresh_tol
        )

    @property
    def warm_start(self) -> np.ndarray | None:
        """The eigenvectors the next solve starts from (the last solve's: one row per
        unit of every group in order, zero for units without edges; a column per
        eigenvector, smallest eigenvalue first, guards included); settable, e.g. from a
        saved training state. The next result depends only on it and the weights."""
        return self._solver.warm

    @warm_start.setter
    def warm_start(self, vectors) -> None:
        self._solver.warm = None if vectors is None else np.ascontiguousarray(vectors, float)

    def eigenvalues(self) -> torch.Tensor:
        """The regularized eigenvalues, ascending, differentiable."""
        return laplacian_eigenvalues(
            self.sizes, self.graph.blocks(), self._solver.k, solver=self._solver
        )

    def __call__(self) -> torch.Tensor:
        return self.eigenvalues().sum()


class PartitionRegularizer:
    """The fraction of a model's ``|W|`` weight mass that joins different modules of a
    fixed partition, as a differentiable term.

    Golechha et al. 2025 ("Modular Training of Neural Networks aids Interpretability",
    arXiv 2502.02470) train with a "clusterability loss" on the weights between the
    clusters of a partition found by spectral clustering. Here the graph is the one
    modcore reads (as :class:`SpectralRegularizer`: MLPs and CNNs, inputs included),
    the partition is :func:`modcore.spectral_cluster`'s (k modules, modcore's
    deterministic default rule) over all layers at once, kept fixed between calls to
    :meth:`refresh`, and the value is ``sum of |w| between modules / sum of |w|``. The
    paper's own normalisation (per layer, or squared weights) was not checked against
    its code; this is the weight-mass form.

    Parameters
    ----------
    model : torch.nn.Module
    n_clusters : int, default 12
    kernel_norm : {"l1", "l2", "max_column"}, default "l1"
    input_shape : tuple of int, optional
    seed : int, default 0
        Passed to the clustering (its default rule does not draw).

    Examples
    --------
    >>> from modcore.nn import MLP
    >>> model = MLP([6, 5, 4], seed=0)
    >>> loss = PartitionRegularizer(model, n_clusters=2)
    >>> 0 <= loss().item() <= 1
    True
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        n_clusters: int = 12,
        kernel_norm: str = "l1",
        input_shape: tuple | None = None,
        seed: int = 0,
    ):
        self.graph = _ModelGraph(model, kernel_norm, input_shape, "PartitionRegularizer")
        self.n_clusters = n_clusters
        self.seed = seed
        self.labels: list | None = None
        self._between: list = []

    def refresh(self) -> list:
        """Cluster the model's graph as it is now and keep that partition; its labels
        (per group, -1 for units without edges, whose later weight counts as between)."""
        from ..method.cluster import spectral_cluster
        from ..network.network import Network

        with torch.no_grad():
            blocks = [
                (p, b.detach().to("cpu", torch.float64).numpy()) for p, b in self.graph.blocks()
            ]
        net = Network(
            list(zip(self.graph.names, self.graph.sizes)),
            [(src, dst, b) for (src, dst), b in blocks],
        )
        result = spectral_cluster(net, n_clusters=self.n_clusters, seed=self.seed, n_jobs=1)
        self.use(result.labels)
        return list(result.labels)

    def use(self, labels) -> None:
        """Keep the partition ``labels`` (one int array per group, as :meth:`refresh`
        gives; e.g. from a saved training state)."""
        labels = [np.asarray(lab) for lab in labels]
        if [lab.shape for lab in labels] != [(n,) for n in self.graph.sizes] or any(
            lab.dtype.kind not in "iu" for lab in labels
        ):
            raise ValueError(
                f"partition labels must be int arrays of the group sizes {self.graph.sizes}, "
                f"got shapes {[lab.shape for lab in labels]}"
            )
        self.labels = labels
        self._between = [
            torch.from_numpy(labels[src][:, None] != labels[dst][None, :])
            for src, dst in self.graph.pairs
        ]

    def __call__(self) -> torch.Tensor:
        if self.labels is None:
            self.refresh()
        blocks = [b for _, b in self.graph.blocks()]
        between = sum((b * m.to(b.device, b.dtype)).sum() for b, m in zip(blocks, self._between))
        total = sum(b.sum() for b in blocks)
        return between / total


class _ModelGraph:
    """The unit graph modcore reads from ``model`` (traced once), with each block
    recomputed differentiably from its layer's weight, checked against the reader's."""

    def __init__(self, model, kernel_norm, input_shape, who):
        if input_shape is None:
            input_shape = getattr(model, "input_shape", None)
        net = network_from_module(model, input_shape=input_shape, kernel_norm=kernel_norm)
        names = {name: module for name, module in model.named_modules()}
        layers = {id(m) for m in weight_layers(model)}
        self.maps = []
        for block in net.blocks:
            dst = names.get(net.names[block.dst])
            where = f"{net.names[block.src]!r} -> {net.names[block.dst]!r}"
            if dst is None or id(dst) not in layers or block.src == block.dst:
                raise ValueError(f"{who}: the block {where} is not a layer's weight")
            edge = _EdgeMap(dst, kernel_norm, block.shape)
            expected = block.dense if block.dense is not None else _dense(block)
            with torch.no_grad():
                got = edge().to(torch.float64).numpy()
            if got.shape != expected.shape or not np.allclose(got, expected, rtol=1e-6, atol=0):
                raise ValueError(
                    f"{who}: the block {where} is not |W| of that layer alone "
                    "(a folded BatchNorm, a scale or paths summed by an add?); only plain "
                    "Linear and convolution blocks are differentiated"
                )
            self.maps.append(((block.src, block.dst), edge))
        self.names = tuple(net.names)
        self.sizes = tuple(int(s) for s in net.sizes)
        self.pairs = [pair for pair, _ in self.maps]

    def blocks(self) -> list:
        """``[((src, dst), |W| block), ...]``, differentiable."""
        return [(pair, edge()) for pair, edge in self.maps]


class _EdgeMap:
    """One block of the graph from its layer's weight, differentiably."""

    def __init__(self, layer, kernel_norm, shape):
        self.layer, self.kernel_norm, self.shape = layer, kernel_norm, tuple(shape)

    def __call__(self) -> torch.Tensor:
        w = self.layer.weight
        if w.dim() > 2 and self.kernel_norm == "l2":
            # vector_norm's gradient is 0 at a zero slice (a pruned one), not NaN.
            return torch.linalg.vector_norm(w.flatten(2), dim=-1).T
        if w.dim() > 2:
            return _kernel_norms(w, self.kernel_norm).T
        n_src, n_dst = self.shape
        if w.shape[1] != n_src and w.shape[1] % n_src == 0:  # after a flatten
            return w.abs().reshape(n_dst, n_src, -1).sum(-1).T
        return w.abs().T


def _dense(block) -> np.ndarray:
    out = np.zeros(block.shape[0] * block.shape[1])
    out[block.positions] = block.values
    return out.reshape(block.shape)
