"""Refreshing the spectral regularizer's eigenpairs between training steps.

One optimizer step moves the weights a little, and the normalized Laplacian's smallest
non-trivial eigenvectors with them. Rather than solve from scratch (the C++ Lanczos
solve, after building its graph from the weights), a few iterations of LOBPCG (Knyazev
2001: Rayleigh-Ritz on the last vectors, their residuals and the last search
directions) started from the last step's vectors reach the new ones. The operator is
applied block by block to the dense ``|W|`` blocks, whose shapes never change: there is
no graph to build. The iteration stops when every wanted vector's residual
``||N x - θ x||`` is at most ``tol``; if it does not within ``max_iter`` iterations,
the caller falls back to the full solve.

What the result is: Ritz pairs of ``N = D^-1/2 A D^-1/2`` with residuals at most
``tol``. For a symmetric matrix each Ritz value then lies within ``tol`` of an
eigenvalue, and within ``tol² / gap`` once the others are ``gap`` away; the vectors are
within ``tol / gap`` of the eigenvectors. What a warm start cannot see is an eigenvalue
that jumps past the tracked ones from deep inside the spectrum in one step: the block
carries guard vectors past the wanted ones for that, and the caller re-solves in full
now and then (:class:`modcore.nn.regularizers.SpectralRegularizer`'s ``full_every``).

The trivial eigenvalue 1 (eigenvector ``D^1/2 1``) is projected out, which is exact
for a graph in one connected piece; the caller refreshes only such graphs.
"""

from __future__ import annotations

import numpy as np

__all__ = ["BlockOperator", "refresh"]


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
        degree = np.zeros(int(self.offsets[-1]))
        for (src, dst), b in zip(self.pairs, blocks):
            degree[self._rows(src)] += b.sum(axis=1, dtype=np.float64)
            degree[self._rows(dst)] += b.sum(axis=0, dtype=np.float64)
        self.degree = degree
        self.live = degree > 0
        self.scale = np.zeros_like(degree)
        self.scale[self.live] = 1.0 / np.sqrt(degree[self.live])
        trivial = np.sqrt(degree)
        self.trivial = trivial / np.linalg.norm(trivial)

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
    h = basis.T @ image
    values, c = np.linalg.eigh((h + h.T) / 2)
    c = c[:, ::-1][:, :m]
    return values[::-1][:m], basis @ c, image @ c, c


def refresh(op: BlockOperator, start: np.ndarray, k: int, *, tol: float, max_iter: int):
    """The top eigenpairs of ``op`` below its trivial eigenvalue, by LOBPCG from ``start``.

    Parameters
    ----------
    op : BlockOperator
    start : ndarray of shape (n, m)
        The last vectors (``m >= k``: the columns past ``k`` are guards).
    k : int
        Pairs that must converge.
    tol : float
        Residual norm each of the ``k`` must reach.
    max_iter : int

    Returns
    -------
    (values, vectors, residuals, iterations) or None
        ``values`` (m,) descending, ``vectors`` (n, m) orthonormal, ``residuals`` of
        all m; None when the ``k`` did not converge (or ``start`` has rank below m).
    """
    m = start.shape[1]
    x = _orthonormal(op.deflate(start))
    if x.shape[1] < m:
        return None
    values, x, ax, _ = _ritz(x, op(x), m)
    directions = None
    for iteration in range(max_iter + 1):
        r = ax - x * values
        residuals = np.linalg.norm(r, axis=0)
        if residuals[:k].max() <= tol:
            return values, x, residuals, iteration
        if iteration == max_iter:
            return None
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
    raise AssertionError("unreachable")  # the loop returns at max_iter
