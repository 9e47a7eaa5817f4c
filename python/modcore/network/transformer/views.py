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

import numpy as np

from ..network import Network
from .stream import Heads, StreamMap, Transformer, Units

__all__ = ["MAX_DENSE_EDGES", "block_networks", "virtual_network"]

# Edges of a virtual graph built without top_k; above it a top_k is asked for.
MAX_DENSE_EDGES = 50_000_000
# Rows of a source group computed at once (bounds the memory of one product).
_CHUNK_ENTRIES = 1 << 22


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
    of every source unit (ties with the ``top_k``-th included), None keeps all."""
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
    blocks = [(index[id(a)], index[id(b)], _block(a, b, path, top_k)) for a, b, path in pairs]
    return Network([(s.name, s.size) for _, s in units], blocks)


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
    read = b.read
    assert read is not None  # _connected_pairs yields readers only
    if isinstance(a, Units) and isinstance(b, Units):
        return _rows(_written(a.write, path), lambda x: np.abs(x @ read), b.size, top_k)
    if isinstance(a, Units):  # units -> heads
        assert isinstance(b, Heads)
        grams = np.einsum("hij,hkj->hik", b.write, b.write)  # W_O W_Oᵀ per head

        def to_heads(x):
            y = np.einsum("nd,hde->hne", x, read)
            sq = np.einsum("hne,hef,hnf->nh", y, grams, y)
            return np.sqrt(np.maximum(sq, 0.0))

        return _rows(_written(a.write, path), to_heads, b.size, top_k)
    ov_out = _ov_written(a, path)  # (heads of a, d_head, d): W_O M of each head
    grams_in = np.einsum("hdi,hdj->hij", a.read, a.read)  # W_Vᵀ W_V per head
    if isinstance(b, Units):  # heads -> units: ||W_V W_O M r||
        z = np.einsum("hid,dn->hin", ov_out, read)
        sq = np.einsum("hin,hij,hjn->hn", z, grams_in, z)
    else:  # heads -> heads: ||W_V W_O M W_V' W_O'||_F
        p = np.einsum("gid,hdj->ghij", ov_out, read)
        grams_out = np.einsum("hij,hkj->hik", b.write, b.write)
        sq = np.einsum("gik,ghkj,ghij->gh", grams_in, p, np.einsum("ghik,hkj->ghij", p, grams_out))
    return _kept(np.sqrt(np.maximum(sq, 0.0)), top_k)


def _written(write, path):
    return write if path is None else write @ path


def _ov_written(heads: Heads, path):
    return heads.write if path is None else np.einsum("hid,de->hie", heads.write, path)


def _rows(x, edges, n_dst, top_k):
    """``edges`` of the rows of ``x``, in chunks of rows, each chunk cut to top_k."""
    step = max(1, _CHUNK_ENTRIES // max(n_dst, x.shape[1]))
    if x.shape[0] <= step:
        return _kept(edges(x), top_k)
    parts = [_kept(edges(x[s : s + step]), top_k) for s in range(0, x.shape[0], step)]
    if top_k is None:
        return np.concatenate(parts)
    rows = np.concatenate([r + s for (r, _, _), s in zip(parts, range(0, x.shape[0], step))])
    return rows, np.concatenate([c for _, c, _ in parts]), np.concatenate([v for *_, v in parts])


def _kept(e, top_k):
    """``e`` dense, or as ``(rows, cols, values)`` of each row's entries >= its
    top_k-th largest (so ties never depend on the order of units)."""
    if top_k is None:
        return e
    if top_k >= e.shape[1]:
        rows, cols = np.nonzero(e)
        return rows, cols, e[rows, cols]
    kth = -np.partition(-e, top_k - 1, axis=1)[:, top_k - 1 : top_k]
    rows, cols = np.nonzero((e >= kth) & (e > 0))
    return rows, cols, e[rows, cols]
