"""The smallest non-trivial eigenvalues of a block graph's normalized Laplacian as a
differentiable torch function: the forward on modcore's sparse eigensolver (refreshed
between calls from the last eigenvectors), the backward by dλ = uᵀ dL u. The spectral
regularizer (:mod:`modcore.nn.regularizers`) is built on it."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from .._core import nontrivial_eigenpairs as core_nontrivial_eigenpairs
from ..common.warn import warn_user
from ..network.checks import check_positive_int
from .eigen_refresh import BlockOperator, FoldedOperator, Folding, refresh

if TYPE_CHECKING:
    from .._core import CoreBlock  # exists only in the stub

__all__ = ["DegenerateEigenvalueWarning", "laplacian_eigenvalues"]

# The k-th and (k+1)-th eigenvalues closer than this are one repeated eigenvalue
# for the warning (the solver's own eigenvalue error is far below).
_DEGENERATE = 1e-8


class DegenerateEigenvalueWarning(UserWarning):
    """The last regularized eigenvalue is repeated past the cut-off: the sum is not
    differentiable there and the gradient is a supergradient."""


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
    by LOBPCG from the last vectors (:mod:`modcore.nn.eigen_refresh`; on ``Cᵀ C`` over
    the smaller colour when the groups 2-colour, on ``N`` otherwise) to residuals at most
    ``refresh_tol``; otherwise, or when that does not converge in ``refresh_iter``
    iterations, or when it cannot rule out a repeat at the cut-off, the core solves it
    in full (Lanczos to ``tol``). :attr:`warm` holds the last vectors and, after a
    refresh, the k smallest's of the solve before, whose motion the next refresh
    extrapolates (its first Rayleigh-Ritz step spans both). The result depends only on
    the weights and on :attr:`warm`, which a training state keeps."""

    def __init__(self, sizes, pairs, k, tol, eigen_method, *, refresh_tol=1e-4, refresh_iter=12):
        self.sizes = np.asarray(sizes, dtype=np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(self.sizes)])
        self.pairs = pairs
        self.k = k
        self.tol = tol
        self.eigen_method = eigen_method
        self.refresh_tol = refresh_tol
        self.refresh_iter = refresh_iter
        # units (all groups, in order) x vectors: the last ones, then the k smallest's
        # of the solve before (after a refresh)
        self.warm: np.ndarray | None = None
        self.refreshed = 0  # solves done by the refresh (and its iterations), and in full
        self.iterations = 0
        self.full = 0
        self.eigenvalues: np.ndarray | None = None
        self._joined = _joined_groups(len(self.sizes), pairs)
        self._folding = Folding.of(self.sizes, pairs)  # None when not bipartite
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
        m = self.k + 1 + _GUARDS  # the vectors a full solve gives; columns past: the previous
        if warm.shape[1] < self.k + 1 or warm.shape[0] != len(op.degree):
            return None
        if self._folding is not None:
            op = FoldedOperator(op, self._folding)
        previous = warm[:, m:] if warm.shape[1] > m else None
        out = refresh(
            op,
            warm[:, :m],
            self.k,
            tol=self.refresh_tol,
            max_iter=self.refresh_iter,
            previous=previous,
        )
        if out is None:
            return None
        values, vectors, residuals, iterations = out
        # The (k+1)-th need not have converged: unless its Ritz value is clear of the
        # k-th by more than its residual (a margin, not a proof), iterate on with it
        # wanted too, to a residual of a quarter of the gap between them (a repeat never
        # gets there); if it still is not clear, the full solve decides whether the k-th
        # repeats (and warns there).
        if not self._clear_cut(values, residuals):
            gap = (1.0 - values[self.k]) - (1.0 - values[self.k - 1])
            tol = [self.refresh_tol] * self.k + [max(gap / 4, self.refresh_tol)]
            out = refresh(op, vectors, self.k + 1, tol=tol, max_iter=self.refresh_iter)
            if out is None or not self._clear_cut(out[0], out[2]):
                return None
            values, vectors, residuals, more = out
            iterations += more
        self.iterations += iterations
        return 1.0 - values, np.hstack([vectors, warm[:, : self.k]])

    def _clear_cut(self, values, residuals) -> bool:
        """Whether the (k+1)-th Ritz value is clear of the k-th by more than its residual."""
        gap = values[self.k - 1] - values[self.k]  # of N: the Laplacian's, reversed
        return bool(gap > _DEGENERATE + residuals[self.k] + self.refresh_tol)

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
            warn_user(
                f"eigenvalue {self.k} of the normalized Laplacian ({lam[self.k - 1]:.6g}) is "
                f"repeated past the {self.k} regularized ones: their sum is not "
                "differentiable here; the gradient is a supergradient from the eigenvectors "
                "the solver chose in the repeated eigenspace",
                DegenerateEigenvalueWarning,
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
        Computed on the CPU, as the solve, in the blocks' dtype: one product a block,
        ``[-2 g y, s, 1] [y, 1, s]ᵀ`` with ``s = Σ g μ y²``, written in the layout of the
        layer's weight (the blocks are its transposes), which the backward of ``|W|``
        then reads in order."""
        dtype = blocks[0].dtype
        g = grad.detach().to("cpu", torch.float64)
        y = y.to(dtype)
        square = ((y * y) @ (g * (1.0 - lam)).to(dtype))[:, None]
        one = torch.ones_like(square)
        left = torch.cat([y * (-2.0 * g).to(dtype), square, one], 1).split(self.sizes.tolist())
        right = torch.cat([y, one, square], 1).split(self.sizes.tolist())
        return [
            torch.mm(right[dst], left[src].T).T.to(b.device)
            for (src, dst), b in zip(self.pairs, blocks)
        ]


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
        At least 1.
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

    Raises
    ------
    TypeError
        If ``n_eigenvalues`` is not an integer.
    ValueError
        If it is below 1 or above the graph's non-trivial eigenvalues, a block joins a
        group to itself, has another shape than its groups' sizes, or holds a negative
        weight (the graph's weights are ``|W|``).
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
        n_eigenvalues = check_positive_int(n_eigenvalues, "n_eigenvalues")
        # (the regularizer's own calls, with a solver, pass |W| and skip this pass)
        for (src, dst), b in zip(pairs, tensors):
            if bool((b < 0).any()):
                raise ValueError(
                    f"block {src}->{dst} has negative weights; edge weights are |W| "
                    "(the degrees' square roots would be NaN)"
                )
        solver = _Solver(sizes, pairs, n_eigenvalues, tol, eigen_method)
    return _Eigenvalues.apply(solver, *tensors)
