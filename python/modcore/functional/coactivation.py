"""The coactivation graph: every pair of units joined by their squared (Spearman, by
default) correlation over a data set (Filan et al. 2021, "Clusterability in Neural
Networks", section on activations).

It is one group whose self-block holds the upper triangle, so modcore's engine clusters it
and its "layer" shuffle (a uniform permutation of the upper-triangle entries, in C++) is
the null.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from ..common.rounding import CONSTANT_STEPS, constant_along
from ..network.checks import check_positive_int, real_array
from ..network.network import Block, Network

if TYPE_CHECKING:  # torch is an optional dependency
    from ..nn.activations import Activations

__all__ = ["coactivation_graph"]

METHODS = ("spearman", "pearson")
GROUP_NAME = "units"
# Float64 bytes of one block of standardized rows.
_BLOCK_BYTES = 1 << 26
_RANK_ELEMENTS = 1 << 20


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
