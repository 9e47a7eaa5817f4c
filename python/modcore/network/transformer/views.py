"""The two unit graphs of a transformer (docs: "Transformers").

``blocks``: each MLP on its own, ``|W_in|`` from the residual dims it reads to its
neurons and ``|W_out|`` from its neurons to the residual dims it writes, one
network per MLP.

``virtual``: the residual stream contracted away. Nodes are the units with a
privileged basis (tokens, positions or input features; every MLP's neurons; every
attention head, one node each; logits or output features). The edge from a unit
that writes to a later unit that reads is the size of the map between them through
the stream, ``||L_a M R_b||_F``: ``L_a`` is a neuron's or token's write (a row of
``d_model``) or a head's OV circuit ``W_V W_O`` (``d_model x d_model``), ``R_b`` a
neuron's or logit's read (a column, LayerNorm gain and centring folded in) or a
head's OV circuit, and ``M`` the product of the LayerNorms applied to the stream in
between (identity for pre-LN models). Between two neurons that is ``|W_out M W_in|``;
from a token to a head the norm of the token's vector after the head's OV circuit;
between two heads the Frobenius norm of their composed OV circuits (V-composition).
Queries and keys are left out: they decide where a head reads, not what it moves.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..network import Network
from .stream import Heads, StreamMap, Transformer, Units

__all__ = ["MAX_DENSE_EDGES", "block_networks", "virtual_network"]

# Edges of a virtual graph built without top_k; above it a top_k is asked for.
MAX_DENSE_EDGES = 50_000_000
# Edges of one block computed at once, before top_k cuts them (bounds the memory).
_CHUNK_ENTRIES = 1 << 20
# Source and destination units of one product. Every product covers the same tile
# whatever the chunk size (a chunk is whole rows of tiles), so the values, whose
# rounding in BLAS follows the shape of a product, and the edges kept do not depend on it.
_TILE = (64, 4096)


def block_networks(model: Transformer) -> dict:
    """One :class:`~modcore.Network` per MLP: ``residual in -> neurons -> residual out``."""
    if not model.mlps:
        raise ValueError(f"{model.kind} has no MLP, so view='blocks' has nothing to read")
    d = model.d_model
    return {
        mlp.name: Network(
            [("residual in", d), (mlp.name, mlp.w_in.shape[1]), ("residual out", d)],
            [(0, 1, np.abs(mlp.w_in)), (1, 2, np.abs(mlp.w_out))],
        )
        for mlp in model.mlps
    }


def virtual_network(model: Transformer, *, top_k: int | None = None) -> Network:
    """The virtual graph; ``top_k`` keeps, in each block, the ``top_k`` largest edges
    of every source unit (ties with the ``top_k``-th included), None keeps all.

    With ``top_k`` the edges are computed in float32 (about seven significant digits), a
    block's rows a chunk at a time, so memory follows the edges kept, not the pairs of
    units; an edge within float32's rounding of its row's ``top_k``-th may be kept where
    float64 would not (or not where it would), the same way every time.
    """
    if model.virtual_refusal is not None:
        raise ValueError(model.virtual_refusal)
    if top_k is not None and (
        isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k < 1
    ):
        raise ValueError(f"top_k must be None or a positive int, got {top_k!r}")
    units = [(i, s) for i, s in enumerate(model.steps) if not isinstance(s, StreamMap)]
    pairs = list(_connected_pairs(model))
    kept = sum(
        units_a.size * (units_b.size if top_k is None else min(top_k, units_b.size))
        for units_a, units_b, _ in pairs
    )
    if top_k is None and kept > MAX_DENSE_EDGES:
        raise ValueError(
            f"the virtual graph of this {model.kind} has {kept} edges, more than "
            f"{MAX_DENSE_EDGES} kept dense; build it sparse with "
            "modcore.network.transformer.virtual_network(model, top_k=...) and pass that network"
        )
    index = {id(s): g for g, (_, s) in enumerate(units)}
    blocks = _Blocks([(index[id(a)], index[id(b)], a, b, path) for a, b, path in pairs], top_k)
    return Network([(s.name, s.size) for _, s in units], blocks)


class _Blocks(Sequence):
    """The blocks, each computed when the network reads it, so that one block's
    ``(rows, cols, values)`` lives at a time beside the blocks already stored."""

    def __init__(self, pairs, top_k):
        self._pairs, self._top_k = pairs, top_k

    def __len__(self) -> int:
        return len(self._pairs)

    def __getitem__(self, i):
        src, dst, a, b, path = self._pairs[i]
        return src, dst, _block(a, b, path, self._top_k)


def _connected_pairs(model: Transformer):
    """``(a, b, M)`` for each group ``a`` that writes and later group ``b`` that reads,
    with ``M`` the stream's map between them (None for the identity); groups cut off by
    a layer without a residual are skipped."""
    steps = model.steps
    for i, a in enumerate(steps):
        if isinstance(a, StreamMap) or (isinstance(a, Units) and a.write is None):
            continue
        path = None
        for b in steps[i + 1 :]:
            if isinstance(b, StreamMap):
                path = b.matrix if path is None else path @ b.matrix
                continue
            if isinstance(b, Heads) or b.read is not None:
                yield a, b, path
            if isinstance(b, Heads) and not b.residual:
                break  # what a wrote stops here


def _block(a: Units | Heads, b: Units | Heads, path, top_k):
    """The edges from ``a`` to ``b``: dense in float64 when ``top_k`` is None, else each
    row's largest as ``(rows, cols, values)``, computed in float32."""
    left, per_left = _writes(a, path)
    right, per_right = _reads(b)
    dtype = np.float64 if top_k is None else np.float32
    return _edges(left, per_left, right, per_right, top_k, dtype)


def _writes(a: Units | Heads, path):
    """``(L, g)``: the rows ``g * i .. g * i + g - 1`` of ``L`` (``d_model`` columns) are
    unit i's write, so that its edge to a reader column ``r`` is ``||L_i @ r||``. A head's
    rows are ``R_V W_O M`` with ``W_V = Q_V R_V``: ``||W_V W_O M r|| = ||R_V W_O M r||``."""
    if isinstance(a, Units):
        return (a.write if path is None else a.write @ path), 1
    ov_out = a.write if path is None else np.einsum("hid,de->hie", a.write, path)
    r_v = np.linalg.qr(a.read, mode="r")  # (heads, d_head, d_head)
    rows = np.einsum("hij,hjd->hid", r_v, ov_out)
    return rows.reshape(-1, rows.shape[-1]), rows.shape[1]


def _reads(b: Units | Heads):
    """``(R, g)``: the columns ``g * j .. g * j + g - 1`` of ``R`` (``d_model`` rows) are
    unit j's read. A head's are ``W_V R_Oᵀ`` with ``W_Oᵀ = Q_O R_O``:
    ``||x W_V W_O|| = ||x W_V R_Oᵀ||``."""
    if isinstance(b, Units):
        assert b.read is not None  # _connected_pairs yields readers only
        return b.read, 1
    r_o = np.linalg.qr(np.swapaxes(b.write, 1, 2), mode="r")  # (heads, d_head, d_head)
    cols = np.einsum("hdi,hji->dhj", b.read, r_o)
    return cols.reshape(cols.shape[0], -1), cols.shape[2]


def _edges(left, per_left, right, per_right, top_k, dtype):
    """``E[i, j] = ||L_i @ R_j||_F`` for unit i's rows of ``left`` and unit j's columns of
    ``right``, by products of one tile each, rows in chunks, each chunk cut to top_k."""
    n_src, n_dst = left.shape[0] // per_left, right.shape[1] // per_right
    tile_rows, tile_cols = _TILE
    step = tile_rows * max(1, _CHUNK_ENTRIES // (tile_rows * n_dst))  # whole tiles
    tiles = [
        (c, np.ascontiguousarray(right[:, c * per_right : (c + tile_cols) * per_right], dtype))
        for c in range(0, n_dst, tile_cols)
    ]
    parts = []
    for start in range(0, n_src, step):
        e = np.empty((min(step, n_src - start), n_dst), dtype)
        for r in range(0, e.shape[0], tile_rows):
            n_r = min(tile_rows, e.shape[0] - r)
            first = (start + r) * per_left
            x = np.asarray(left[first : first + n_r * per_left], dtype)
            for c, tile in tiles:
                e[r : r + n_r, c : c + tile.shape[1] // per_right] = _norms(
                    x @ tile, per_left, per_right
                )
        parts.append(_kept(e, top_k))
    if top_k is None:
        return np.concatenate(parts)
    starts = range(0, n_src, step)
    rows = np.concatenate([r + s for (r, _, _), s in zip(parts, starts)])
    return rows, np.concatenate([c for _, c, _ in parts]), np.concatenate([v for *_, v in parts])


def _norms(p, per_left, per_right):
    """The Frobenius norm of each ``per_left x per_right`` block of ``p``."""
    if per_left == per_right == 1:
        return np.abs(p)
    n, m = p.shape[0] // per_left, p.shape[1] // per_right
    return np.sqrt(np.square(p).reshape(n, per_left, m, per_right).sum(axis=(1, 3)))


def _kept(e, top_k):
    """``e`` dense, or as ``(rows, cols, values)`` of each row's entries >= its
    top_k-th largest (so ties never depend on the order of units), values in float64."""
    if top_k is None:
        return e
    n = e.shape[1]
    if top_k >= n:
        rows, cols = np.nonzero(e)
    else:
        kth = np.partition(e, n - top_k, axis=1)[:, n - top_k : n - top_k + 1]
        rows, cols = np.nonzero((e >= kth) & (e > 0))
    return rows, cols, e[rows, cols].astype(np.float64)
