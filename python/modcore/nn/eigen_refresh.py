"""Refreshing the spectral regularizer's eigenpairs between training steps.

One optimizer step moves the weights a little, and the normalized Laplacian's smallest
non-trivial eigenvectors with them. Rather than solve from scratch (the C++ Lanczos
solve, after building its graph from the weights), a few iterations of LOBPCG (Knyazev
2001: Rayleigh-Ritz on the last vectors, their residuals and the last search
directions) started from the last step's vectors reach the new ones. The operator is
applied block by block to the dense ``|W|`` blocks, whose shapes never change: there is
no graph to build. On a bipartite graph (an MLP's or a plain CNN's chain of layers) the
iteration runs on ``Cᵀ C`` over the smaller colour (:class:`FoldedOperator`), otherwise
on ``N`` itself (:class:`BlockOperator`). The iteration stops when every wanted
vector's residual ``||N x - θ x||`` is at most ``tol``; if it does not within
``max_iter`` iterations, the caller falls back to the full solve.

What the result is: Ritz pairs of ``N = D^-1/2 A D^-1/2`` (exact vectors with exactly
computed residuals, in the products' rounding) with residuals at most ``tol``. For a
symmetric matrix each Ritz value then lies within ``tol`` of an eigenvalue, and within
``tol² / gap`` once the others are ``gap`` away; the vectors are within ``tol / gap``
of the eigenvectors. What a warm start cannot see is an eigenvalue that jumps past the
tracked ones from deep inside the spectrum in one step: the block carries guard vectors
past the wanted ones for that (no periodic full solve checks it).

The trivial eigenvalue 1 (eigenvector ``D^1/2 1``) is projected out, which is exact
for a graph in one connected piece; the caller refreshes only such graphs.

The refresh runs numpy's BLAS on one thread when threadpoolctl is importable (see
``_one_blas_thread``).
"""

from __future__ import annotations

import contextlib
import functools

import numpy as np

__all__ = ["BlockOperator", "FoldedOperator", "Folding", "refresh"]


class BlockOperator:
    """``N = D^-1/2 A D^-1/2`` of the graph of ``blocks`` (dense, non-negative,
    ``blocks[i]`` joining groups ``pairs[i]``), on vectors stacked group after group
    (``sizes``); units without edges are rows of zeros. The products run in the blocks'
    dtype (a float32 model's weights are not copied to float64; its products carry
    float32's rounding, about 1e-7 of ``||N|| = 1``, far below the refresh's
    tolerance); the rest is float64."""

    def __init__(self, sizes, pairs, blocks):
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self.pairs = list(pairs)
        self.blocks = blocks
        # The degrees in the blocks' dtype too (BLAS's sums: within a few float32
        # roundings of the exact ones, as the products; a float64 sum of float32 blocks
        # would cost as much as two products).
        degree = np.zeros(int(self.offsets[-1]))
        for (src, dst), b in zip(self.pairs, blocks):
            degree[self._rows(src)] += b @ np.ones(b.shape[1], b.dtype)
            degree[self._rows(dst)] += np.ones(b.shape[0], b.dtype) @ b
        self.degree = degree
        self.live = degree > 0
        self.scale = np.zeros_like(degree)
        self.scale[self.live] = 1.0 / np.sqrt(degree[self.live])
        self.trivial = _unit(np.sqrt(degree))

    def _rows(self, group) -> slice:
        return slice(int(self.offsets[group]), int(self.offsets[group + 1]))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        dtype = self.blocks[0].dtype
        xs = (x * self.scale[:, None]).astype(dtype)
        y = np.zeros(x.shape, dtype)
        for (src, dst), b in zip(self.pairs, self.blocks):
            y[self._rows(src)] += b @ xs[self._rows(dst)]
            y[self._rows(dst)] += b.T @ xs[self._rows(src)]
        return y * self.scale[:, None]

    def deflate(self, x: np.ndarray) -> np.ndarray:
        """``x`` on the live units, without its component along ``D^1/2 1``."""
        x = x * self.live[:, None]
        return x - np.outer(self.trivial, self.trivial @ x)

    def restrict(self, x: np.ndarray) -> np.ndarray:
        """Vectors of all units as this operator's (the same)."""
        return x

    def residual_norms(self, r: np.ndarray, values: np.ndarray) -> np.ndarray:
        """``||N x - θ x||`` from this operator's residuals ``r`` (the same)."""
        return np.linalg.norm(r, axis=0)

    def extend(self, values: np.ndarray, x: np.ndarray, carried: np.ndarray):
        """``(eigenvalues of N, vectors of all units)`` of Ritz pairs (the same)."""
        return values, x


class Folding:
    """The two colours of a bipartite block graph, for :class:`FoldedOperator`: which
    units each holds and where each group's units sit in its colour's vectors. The
    kept colour is the one with fewer units. Built once per graph layout;
    :meth:`of` gives None when the groups do not 2-colour (some block joins two
    groups of one colour).
    """

    def __init__(self, sizes, pairs, kept):
        offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        groups = range(len(sizes))
        self.n = int(offsets[-1])
        self.rows = np.concatenate(
            [np.arange(offsets[g], offsets[g + 1]) for g in groups if kept[g]] + [[]]
        ).astype(np.int64)
        self.other = np.concatenate(
            [np.arange(offsets[g], offsets[g + 1]) for g in groups if not kept[g]] + [[]]
        ).astype(np.int64)
        local = {}  # group -> its slice of its colour's vectors
        for side in (True, False):
            at = 0
            for g in groups:
                if bool(kept[g]) == side:
                    local[g] = slice(at, at + int(sizes[g]))
                    at += int(sizes[g])
        # each block as (the other colour's rows, the kept colour's columns, transposed?)
        self.products = [
            (local[dst], local[src], True) if kept[src] else (local[src], local[dst], False)
            for src, dst in pairs
        ]

    @classmethod
    def of(cls, sizes, pairs) -> Folding | None:
        colour = np.full(len(sizes), -1)
        for start in range(len(sizes)):
            if colour[start] >= 0:
                continue
            colour[start], todo = 0, [start]
            while todo:
                g = todo.pop()
                for a, b in pairs:
                    there = b if a == g else a if b == g else None
                    if there is None:
                        continue
                    if colour[there] < 0:
                        colour[there] = 1 - colour[g]
                        todo.append(there)
                    elif colour[there] == colour[g]:
                        return None
        kept = colour == 1
        if np.asarray(sizes)[kept].sum() > np.asarray(sizes)[~kept].sum():
            kept = ~kept
        return cls(sizes, pairs, kept)


class FoldedOperator:
    """``M = Cᵀ C`` of a bipartite block graph, on the units of its smaller colour.

    ``N = [[0, C], [Cᵀ, 0]]`` with ``C = D_O^-1/2 B D_S^-1/2`` (``S`` the kept colour,
    ``O`` the other), and the top eigenpairs of ``N`` are ``(t, [C v / t; v] / √2)``
    from those ``(t², v)`` of ``M`` (the design notes' form, as the core's bipartite solver).
    Folding maps ``N``'s spectrum ``[-1, 1]`` onto ``[0, 1]``: the mirror images of the
    wanted eigenvalues (near -1 and below) drop out, and the gap below the wanted ones
    widens relative to the rest. At the paper's MLP's initialisation the refresh took
    2-3 iterations instead of 4-10 (``benchmarks/README.md``), each product costing
    what one of ``N`` costs, on vectors of the smaller colour. The extended vector's
    residual is exact: ``||N x - t x|| = ||M v - t² v|| / (t √2)``.
    """

    def __init__(self, full: BlockOperator, folding: Folding):
        self.folding = folding
        self.products = [
            (rows, cols, b.T if transposed else b)
            for (rows, cols, transposed), b in zip(folding.products, full.blocks)
        ]
        self.dtype = full.blocks[0].dtype
        self.scale = full.scale[folding.rows]
        self.other_scale = full.scale[folding.other]
        self.live = full.live[folding.rows]
        self.trivial = _unit(np.sqrt(full.degree[folding.rows]))

    def __call__(self, v: np.ndarray) -> np.ndarray:
        """``M v``, with ``C v`` below it (rows past ``len(v)``): the Ritz steps carry
        it along, and :meth:`extend` takes it from there, without a product of its own."""
        vs = (v * self.scale[:, None]).astype(self.dtype)
        u = np.zeros((len(self.other_scale), v.shape[1]), self.dtype)
        for rows, cols, b in self.products:
            u[rows] += b @ vs[cols]
        cv = u * self.other_scale[:, None]
        u = (cv * self.other_scale[:, None]).astype(self.dtype)
        y = np.zeros(v.shape, self.dtype)
        for rows, cols, b in self.products:
            y[cols] += b.T @ u[rows]
        return np.vstack([y * self.scale[:, None], cv])

    def deflate(self, v: np.ndarray) -> np.ndarray:
        """``v`` on the live units, without its component along ``D_S^1/2 1``."""
        v = v * self.live[:, None]
        return v - np.outer(self.trivial, self.trivial @ v)

    def restrict(self, x: np.ndarray) -> np.ndarray:
        """The kept colour's rows of vectors of all units."""
        return x[self.folding.rows]

    def residual_norms(self, r: np.ndarray, values: np.ndarray) -> np.ndarray:
        """``||N x - t x||`` of the extended vectors, from ``r = M v - t² v``."""
        return np.linalg.norm(r, axis=0) / np.sqrt(2.0 * np.maximum(values, 1e-300))

    def extend(self, values: np.ndarray, v: np.ndarray, cv: np.ndarray):
        """``(t, x)``: eigenvalues of ``N`` and vectors of all units from Ritz pairs
        ``(t², v)`` of ``M`` (``cv = C v``), or None where a t² is not positive."""
        if values.min() <= 0:
            return None
        sigma = np.sqrt(values)
        x = np.zeros((self.folding.n, v.shape[1]))
        x[self.folding.rows] = v / np.sqrt(2.0)
        x[self.folding.other] = cv / (sigma * np.sqrt(2.0))
        return sigma, x


def _unit(x: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(x)
    return x / norm if norm > 0 else x


def _orthonormal(x: np.ndarray) -> np.ndarray:
    """An orthonormal basis of the columns of ``x`` (numerically dependent ones dropped)."""
    q, r = np.linalg.qr(x)
    diag = np.abs(np.diag(r))
    if diag.size == 0 or diag.max() == 0:
        return q[:, :0]
    return q[:, diag > 1e-10 * diag.max()]


def _ritz(basis, image, m):
    """The top ``m`` Ritz pairs of the operator on the orthonormal ``basis`` (``image``
    its image), descending: ``(values, vectors, their images)``."""
    h = basis.T @ image[: len(basis)]
    values, c = np.linalg.eigh((h + h.T) / 2)
    c = c[:, ::-1][:, :m]
    return values[::-1][:m], basis @ c, image @ c, c


def refresh(op, start: np.ndarray, k: int, *, tol, max_iter: int, previous=None):
    """The top eigenpairs of ``N`` below its trivial eigenvalue, by LOBPCG from ``start``.

    Parameters
    ----------
    op : BlockOperator or FoldedOperator
    start : ndarray of shape (n, m)
        The last vectors, of all units (``m >= k``: the columns past ``k`` are guards).
    k : int
        Pairs that must converge.
    tol : float or sequence of k floats
        Residual norm each of the ``k`` must reach.
    max_iter : int
    previous : ndarray of shape (n, p), optional
        Vectors of the solve before (the k smallest's): they join the first
        Rayleigh-Ritz step, whose space then holds the linear extrapolation
        ``2 x_t - x_(t-1)`` of the eigenvectors' motion from step to step.

    Returns
    -------
    (values, vectors, residuals, iterations) or None
        ``values`` (m,) of ``N``, descending, ``vectors`` (n, m) orthonormal, of all
        units, ``residuals`` ``||N x - θ x||`` of all m; None when the ``k`` did not
        converge (or ``start`` has rank below m).
    """
    with _one_blas_thread():
        return _refresh(op, start, k, tol=tol, max_iter=max_iter, previous=previous)


@functools.cache
def _blas_pools():
    """threadpoolctl's view of the BLAS libraries loaded (numpy's among them), or None
    without threadpoolctl (optional). Looked up once: a lookup costs about 1 ms."""
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:
        return None
    return ThreadpoolController().select(user_api="blas")


def _one_blas_thread():
    """numpy's BLAS on one thread (about 0.02 ms to set and restore). The refresh's
    products are small (a few columns; Rayleigh-Ritz, QR, eigh on a dozen): threads
    gain nothing there, and numpy's pool of every core, beside torch's threads and other
    processes, made each take 15-60 ms instead of about 0.5 ms on a loaded machine."""
    pools = _blas_pools()
    return contextlib.nullcontext() if pools is None else pools.limit(limits=1)


def _refresh(op, start, k, *, tol, max_iter, previous):
    m = start.shape[1]
    if previous is not None:
        start = np.hstack([start, previous])
    x = op.deflate(op.restrict(start))
    # One Householder QR (an orthonormal q whatever the rank): the start must have rank
    # m; a previous vector, nearly parallel to the start, adds what is left of it only
    # where that motion is well above rounding (what is left of a vector that did not
    # move is noise, with any direction, the trivial one's too).
    q, r = np.linalg.qr(x)
    diag = np.abs(np.diag(r))
    if diag[:m].min() <= 1e-10 * diag[:m].max():
        return None
    x = q[:, np.r_[np.ones(m, bool), diag[m:] > 1e-8 * np.linalg.norm(x[:, m:], axis=0)]]
    n = x.shape[0]
    values, x, ax, _ = _ritz(x, op(x), m)
    directions = None
    for iteration in range(max_iter + 1):
        r = ax[:n] - x * values
        residuals = op.residual_norms(r, values)
        if np.all(residuals[:k] <= tol):
            extended = op.extend(values, x, ax[n:])
            if extended is None:
                return None
            return (*extended, residuals, iteration)
        if iteration == max_iter:
            break
        # Search directions for the wanted pairs only; the guards improve through the
        # Rayleigh-Ritz step (half the operator products).
        more = op.deflate(r[:, :k] if directions is None else np.hstack([r[:, :k], directions]))
        more -= x @ (x.T @ more)
        more = _orthonormal(more)
        if more.shape[1] == 0:
            return None
        basis = np.hstack([x, more])
        values, x, ax, c = _ritz(basis, np.hstack([ax, op(more)]), m)
        directions = more @ c[m:, :k]
    return None
