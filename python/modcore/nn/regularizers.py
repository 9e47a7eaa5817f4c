"""Training terms that promote modularity: the spectral clusterability regularizer
(Filan, Casper, Hod et al. 2021), on modcore's sparse eigensolver, and the weight
mass between the modules of a fixed partition (Golechha et al. 2025)."""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..network.checks import check_positive_int
from ..network.torch.trace import KERNEL_NORMS, network_from_module
from ..network.torch.trace_walk import _kernel_norms
from .laplacian import DegenerateEigenvalueWarning, _Solver, laplacian_eigenvalues
from .models import weight_layers

__all__ = [
    "DegenerateEigenvalueWarning",
    "Partition",
    "PartitionRegularizer",
    "Spectral",
    "SpectralRegularizer",
    "laplacian_eigenvalues",
]


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
    vectors and the call's before (:mod:`modcore.nn.eigen_refresh`; on ``Cᵀ C`` when
    the graph is bipartite, as an MLP's is) until every residual ``||N u - μ u||`` of
    the k smallest is at most ``refresh_tol``; each eigenvalue is then within
    ``refresh_tol`` of the exact one (within ``refresh_tol² / gap`` past a gap to the
    others), the vectors within ``refresh_tol / gap``. Otherwise (the first call, a
    small graph or one in pieces, no convergence in 12 iterations, a repeat at the
    cut-off that further iterations do not rule out) the core solves in full to
    ``tol``. Along 300 steps of the paper's MLP on Fashion-MNIST (weight 0.1 / 3, every
    step) 299 were refreshed (0.8 iterations each on average), the refreshed
    eigenvalues stayed within 8e-8 of a full solve's (the products in float32) and
    their gradient within 1.2e-3 of its (relative, 2-norm); ``benchmarks/README.md``,
    the regularizer's section.

    The graph is the one modcore reads from the model
    (:func:`~modcore.network.torch.trace.network_from_module`, traced once here); every
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
        n_eigenvalues = check_positive_int(n_eigenvalues, "n_eigenvalues")
        self.graph = _ModelGraph(model, kernel_norm, input_shape, "SpectralRegularizer")
        self.sizes = self.graph.sizes
        _check_count("n_eigenvalues", n_eigenvalues, self.sizes, "non-trivial eigenvalues", 1)
        self._solver = _Solver(
            self.sizes, self.graph.pairs, n_eigenvalues, tol, "auto", refresh_tol=refresh_tol
        )

    @property
    def warm_start(self) -> np.ndarray | None:
        """The eigenvectors the next solve starts from (the last solve's: one row per
        unit of every group in order, zero for units without edges; a column per
        eigenvector, smallest eigenvalue first, guards included; after a refresh, then
        the ``n_eigenvalues`` smallest's of the solve before, whose motion the next
        refresh extrapolates); settable, e.g. from a saved training state. The next
        result depends only on it and the weights."""
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
        n_clusters = check_positive_int(n_clusters, "n_clusters")
        self.graph = _ModelGraph(model, kernel_norm, input_shape, "PartitionRegularizer")
        _check_count("n_clusters", n_clusters, self.graph.sizes, "modules", 0)
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


def _check_count(name, value, sizes, what, trivial) -> None:
    """Refuse a count above what the traced graph's units allow (the bound of
    :func:`modcore.nn.train.check_terms`, there estimated from the layers before any
    tracing; here the graph's own count)."""
    units = sum(sizes)
    if value > units - trivial:
        raise ValueError(
            f"{name}={value} is more than the model's graph holds: {units} units "
            f"(inputs and layer outputs), so at most {units - trivial} {what}"
        )


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
